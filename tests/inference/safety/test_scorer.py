import dataclasses
import json

import numpy as np
import pytest

from soulchat.inference.safety import SCORER_RULE_ID, SafetyConfig, SafetyGuard, load_crisis_eval
from soulchat.inference.safety.evaluation import EVAL_DIR
from soulchat.inference.safety.normalization import normalize_text
from soulchat.inference.safety.rules import MESSAGE_CATEGORIES
from soulchat.inference.safety.scorer import FORMAT, NgramScorer, char_ngrams, default_scorer, segments
from soulchat.inference.safety.scorer_data import bury, corpus_user_turns, load_contexts, load_written, training_texts
from soulchat.inference.safety.train_scorer import (
    SparseRows,
    build_vocabulary,
    choose_overrule,
    choose_threshold,
    featurize,
    fit_logistic,
    fit_scorer,
    screen_decisions,
    train,
)

RULES_ONLY = SafetyConfig(use_scorer=False)
HELD_OUT = ("test", "holdout", "blind", "blind2", "blind3", "blind4", str(EVAL_DIR / "ordinary_check.jsonl"))
# Short lines that the independently written held-out sets share with the development set (我想自杀, 笑死我了, ...)
# or, for blind3, with round-9 training messages written before it existed (活不下去了, 困死了，昨晚追剧到三点).
SHARED_WITH_TRAINING = {"今天跑了十公里，累死我了", "我想自杀", "笑死我了", "活不下去了", "困死了，昨晚追剧到三点"}

# Crisis messages no rule catches and the scorer does: two quoted round-6 misses (eval/README.md), and a
# development message buried in an ordinary account, the typical miss of a whole-message model.
BEYOND_RULES = [
    "我连自己死后的东西怎么处理都想好了",
    "我已经跟我的猫说了对不起，明天就要走了",
]

# Ordinary messages with crisis words in everyday use, written for these tests (not in any training file): the
# default screen (rules and scorer) must let every one through.
HARD_NEGATIVES = [
    "今天热死了，空调还坏了",
    "笑死我了，我家猫把自己卡在纸箱里",
    "这道物理题我算了三遍都不对，好烦",
    "周末去海边玩了两天，心情好多了",
    "我最近在准备考研，每天复习到很晚，有点累",
    "老板又让我改方案，改了八遍了，真无语",
    "我和男朋友吵架了，他说我太敏感，我不知道怎么跟他沟通",
    "孩子这次期中考试退步了，我该怎么跟他谈比较好？",
    "我想换一份工作，但是又怕新工作不如现在的稳定",
    "我妈总是拿我和别人家的孩子比，我听了很不舒服",
    "看完这部电影我哭了好久，结局太感人了",
    "我们公司楼下新开了一家火锅店，排队排了一个小时",
]


def tiny_scorer(**overrides: object) -> NgramScorer:
    values = {
        "orders": (1, 2),
        "threshold": 0.5,
        "bias": -1.0,
        "weights": {"想死": 3.0, "死": 0.5, "热": -1.0},
        "categories": MESSAGE_CATEGORIES,
        "category_bias": (0.0, 0.0, 0.0, 0.0),
        "category_weights": {"想死": (1.0, 0.0, 0.0, 0.0), "打": (0.0, 0.0, 0.0, 2.0)},
        "pooling": "max",
    }
    return NgramScorer(**(values | overrides))


def test_char_ngrams_and_segments():
    assert char_ngrams("想死了", (1, 2)) == {"想", "死", "了", "想死", "死了"}
    assert char_ngrams("", (1, 2, 3, 4)) == set()
    assert segments("今天很好。我想死!", "max") == ["今天很好。我想死!", "今天很好。", "我想死!"]
    assert segments("今天很好。我想死!", "message") == ["今天很好。我想死!"]
    assert segments("一句话", "max") == ["一句话"]


def test_probability_is_the_max_over_segments():
    scorer = tiny_scorer()
    # "想死" (3.0) + "想" (0) + "死" (0.5) + bias (-1.0) = 2.5 for the sentence alone; the whole message adds "热" (-1).
    assert scorer.logit("我想死") == pytest.approx(2.5)
    assert scorer.logit("热。我想死") == pytest.approx(1.5)
    assert scorer.probability("热。我想死") == pytest.approx(1 / (1 + np.exp(-2.5)))
    whole = tiny_scorer(pooling="message")
    assert whole.probability("热。我想死") == pytest.approx(1 / (1 + np.exp(-1.5)))


def test_threshold_semantics():
    scorer = tiny_scorer()
    probability = scorer.probability("想死")  # logit 2.5
    assert scorer("想死").flagged and scorer("想死").category == "suicide"
    # Flagged from the threshold on (>=), not above it.
    assert scorer("想死", threshold=probability).flagged
    assert not scorer("想死", threshold=np.nextafter(probability, 1.0)).flagged
    verdict = scorer("今天很好")  # logit -1.0
    assert not verdict.flagged and verdict.category == "none"
    assert verdict.probability == pytest.approx(1 / (1 + np.e))
    with pytest.raises(ValueError, match="threshold"):
        tiny_scorer(threshold=1.0)
    with pytest.raises(ValueError, match="pooling"):
        tiny_scorer(pooling="mean")
    with pytest.raises(ValueError, match="categories"):
        tiny_scorer(category_bias=(0.0,))


def test_weights_round_trip(tmp_path):
    scorer = tiny_scorer()
    path = tmp_path / "scorer.json"
    scorer.to_file(path, trained_on=["test"])
    loaded = NgramScorer.from_file(path)
    assert loaded == scorer
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == FORMAT and data["trained_on"] == ["test"]
    loaded.to_file(tmp_path / "again.json", trained_on=["test"])
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()


def test_wrong_weights_file_is_rejected(tmp_path):
    path = tmp_path / "weights.json"
    path.write_text(json.dumps({"format": "soulchat-crisis-ngram-v1"}), encoding="utf-8")
    with pytest.raises(ValueError, match="not a soulchat crisis scorer file"):
        NgramScorer.from_file(path)


def test_shipped_weights():
    scorer = default_scorer()
    assert scorer.orders == (1, 2, 3, 4) and scorer.pooling == "max"
    assert 0.5 <= scorer.threshold < 0.9 and 0.0 < scorer.overrule_below < 0.5
    assert scorer.categories == MESSAGE_CATEGORIES
    assert len(scorer.weights) > 10_000
    assert scorer.probability("我不想活了") > 0.9 > 0.1 > scorer.probability("今天天气很好")


def test_sparse_rows_match_dense_products():
    grams = [{"a", "b"}, {"b"}, set(), {"a", "c", "z"}]
    vocabulary = build_vocabulary(grams, min_count=1)
    assert vocabulary == {"a": 0, "b": 1, "c": 2, "z": 3}
    features = featurize(grams, build_vocabulary(grams, min_count=2))
    dense = np.array([[1.0, 1.0], [0.0, 1.0], [0.0, 0.0], [1.0, 0.0]])
    weights = np.array([[0.5, -1.0], [2.0, 3.0]])
    np.testing.assert_allclose(features.matmul(weights), dense @ weights)
    values = np.arange(8.0).reshape(4, 2)
    np.testing.assert_allclose(features.rmatmul(values), dense.T @ values)
    assert isinstance(features, SparseRows) and features.shape == (4, 2)


def test_fit_logistic_separates_a_toy_problem():
    features = featurize([{"a"}, {"a"}, {"b"}, {"b"}], {"a": 0, "b": 1})
    weights, bias = fit_logistic(features, np.array([[1.0], [1.0], [0.0], [0.0]]), np.ones(4), steps=200)
    assert weights[0, 0] > 1.0 and weights[1, 0] < -1.0
    one_hot = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    weights, bias = fit_logistic(features, one_hot, np.ones(4), steps=200)
    assert (np.argmax(features.matmul(weights) + bias, axis=1) == [0, 0, 1, 1]).all()


def test_choose_threshold():
    dev_probs, dev_labels = np.array([0.9, 0.8, 0.3]), np.array([1, 1, 0])
    assert choose_threshold(dev_probs, dev_labels, np.array([0.2, 0.1])) == 0.31
    # A corpus turn at 0.85 keeps the threshold above it (at most 1% of corpus turns may be flagged).
    assert choose_threshold(dev_probs, dev_labels, np.array([0.85, 0.1])) == 0.86


def test_overrule_weights_round_trip_and_are_checked(tmp_path):
    scorer = dataclasses.replace(tiny_scorer(), overrule_below=0.2)
    scorer.to_file(tmp_path / "s.json")
    assert NgramScorer.from_file(tmp_path / "s.json").overrule_below == 0.2
    with pytest.raises(ValueError, match="overrule_below"):
        dataclasses.replace(tiny_scorer(), overrule_below=0.99)


def test_choose_overrule_keeps_recall():
    probs, labels = np.array([0.01, 0.12, 0.9, 0.04]), np.array([0, 1, 1, 0])
    fired, critical = np.array([True, True, False, True]), np.array([False, False, False, True])
    # 0.15 would void the crisis rule hit scored 0.12; the critical hit at 0.04 always stands.
    assert choose_overrule(probs, labels, fired, critical, threshold=0.8) == 0.1
    flagged = screen_decisions(probs, fired, critical, 0.8, 0.1)
    assert flagged.tolist() == [False, True, True, True]
    assert choose_overrule(probs, labels, fired, critical, threshold=0.05) == 0.02  # bars stay under the threshold


def test_training_is_deterministic(tmp_path):
    texts = training_texts()
    dev = [t for t in texts if t.source == "dev"]
    small = [t for t in dev if t.label][:40] + [t for t in dev if not t.label][:40]
    small += [t for t in texts if t.source == "corpus"][:20]
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    train(output=first, folds=0, texts=small)
    train(output=second, folds=0, texts=small)
    assert first.read_bytes() == second.read_bytes()
    scorer = NgramScorer.from_file(first)
    assert scorer.threshold == 0.5 and scorer.weights
    assert scorer.probability(normalize_text("我不想活了")) > scorer.probability(normalize_text("今天天气很好"))
    assert fit_scorer(small) == scorer


def test_training_data_is_fixed_and_keeps_the_held_out_sets_out():
    texts = training_texts()
    assert texts == training_texts()  # the augmentation is seeded
    train_turns = {t for turns in corpus_user_turns("train") for t in turns}
    check_turns = {t for turns in corpus_user_turns("check") for t in turns}
    assert len(train_turns) > 150 and len(check_turns) > 150 and not train_turns & check_turns
    trained = {t.text for t in texts}
    assert not trained & check_turns
    trained_normalized = {normalize_text(t) for t in trained}
    for split in HELD_OUT:
        held_out = {normalize_text(e.text) for e in load_crisis_eval(split)}
        assert trained_normalized & held_out <= {normalize_text(t) for t in SHARED_WITH_TRAINING}
    # The written messages (rounds 9-11) are trained on, with their labels, and as the threshold's labelled messages.
    written = load_written()
    assert len(written) == 6952 and {(t.text, t.label) for t in texts if t.source == "written"} == {
        (e.text, e.label) for e in written
    }
    # Every crisis development message is also trained on inside context, with its label.
    dev_positives = {t.text for t in texts if t.source == "dev" and t.label}
    buried = [t for t in texts if t.source == "dev_augmented" and t.label]
    assert len(buried) == len(dev_positives)


def test_bury_keeps_the_message():
    rng = np.random.default_rng(0)
    contexts = load_contexts()
    assert len(contexts) >= 40
    for _ in range(20):
        buried = bury("我不想活了。", contexts, rng)
        assert "我不想活了" in buried and buried.endswith("。") and len(buried) > len("我不想活了。")


@pytest.mark.parametrize("text", HARD_NEGATIVES)
def test_default_screen_lets_everyday_messages_through(text):
    assert not SafetyGuard().screen_message(text).flagged


@pytest.mark.parametrize("text", BEYOND_RULES)
def test_scorer_catches_what_the_rules_miss(text):
    assert not SafetyGuard(RULES_ONLY).screen_message(text).flagged
    result = SafetyGuard().screen_message(text)
    assert result.flagged and result.rule_id == SCORER_RULE_ID
    assert result.category == "suicide" and result.severity == "medium"
    assert "12356" in result.reply
    strict = SafetyConfig(scorer_threshold=0.999)
    assert not SafetyGuard(strict).screen_message(text).flagged


def test_scorer_never_overrules_an_explicit_denial():
    text = "我从来没想过伤害自己"
    guard = SafetyGuard(SafetyConfig(scorer_threshold=0.5))
    assert guard.scorer(text, threshold=0.5).flagged  # at this threshold the n-grams alone look like self-harm
    assert guard.message_rules.denied(normalize_text(text))
    assert not guard.screen_message(text).flagged
    assert not guard.message_rules.denied(normalize_text("我想伤害自己"))
    assert guard.screen_message("今天热死了").flagged is False
