import json

import numpy as np
import pytest

from soulchat.inference.safety import SCORER_RULE_ID, SafetyConfig, SafetyGuard, load_crisis_eval
from soulchat.inference.safety.rules import MESSAGE_CATEGORIES
from soulchat.inference.safety.scorer import NgramScorer, char_ngrams, default_scorer
from soulchat.inference.safety.train_scorer import fit_logistic, train

# Crisis messages of the held-out set that no rule catches and the (opt-in) scorer does.
ON = SafetyConfig(use_scorer=True)
BEYOND_RULES = ["我连自己死后的东西怎么处理都想好了", "我已经跟我的猫说了对不起，明天就要走了"]


def test_char_ngrams():
    assert char_ngrams("想死了", (1, 2)) == {"想", "死", "了", "想死", "死了"}
    assert char_ngrams("", (1, 2, 3)) == set()


def test_shipped_weights_load():
    scorer = default_scorer()
    assert scorer.orders == (1, 2, 3)
    assert 0.0 < scorer.threshold < 1.0
    assert scorer.categories == MESSAGE_CATEGORIES
    assert len(scorer.weights) > 1000
    probability = scorer.probability("我想死")
    assert 0.0 < probability < 1.0 and probability == scorer.probability("我想死")


@pytest.mark.parametrize("text", BEYOND_RULES)
def test_opt_in_scorer_catches_what_the_rules_miss(text):
    assert not SafetyGuard().screen_message(text).flagged  # off by default
    result = SafetyGuard(ON).screen_message(text)
    assert result.flagged and result.rule_id == SCORER_RULE_ID
    assert result.category == "suicide" and result.severity == "medium"
    assert "12356" in result.reply
    strict = SafetyConfig(use_scorer=True, scorer_threshold=0.999)
    assert not SafetyGuard(strict).screen_message(text).flagged


def test_wrong_weights_file_is_rejected(tmp_path):
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"format": "something else"}), encoding="utf-8")
    with pytest.raises(ValueError, match="not a soulchat crisis scorer file"):
        NgramScorer.from_file(path)


def test_fit_logistic_separates_a_toy_problem():
    features = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    weights, bias = fit_logistic(features, np.array([[1.0], [1.0], [0.0], [0.0]]))
    assert weights[0, 0] > 0 > weights[1, 0]
    weights, bias = fit_logistic(features, np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]))
    assert (np.argmax(features @ weights + bias, axis=1) == [0, 0, 1, 1]).all()


def test_training_is_deterministic_and_loadable(tmp_path):
    # The shipped file is `train()` on the whole development set (about 10 s); a slice keeps this test fast.
    examples = load_crisis_eval("dev")
    examples = [e for e in examples if e.label][:40] + [e for e in examples if not e.label][:60]
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    train(output=first, examples=examples)
    train(output=second, examples=examples)
    assert first.read_bytes() == second.read_bytes()
    scorer = NgramScorer.from_file(first)
    assert scorer.categories == MESSAGE_CATEGORIES and scorer.weights
    assert scorer.probability("我不想活了") > scorer.probability("今天天气很好")
