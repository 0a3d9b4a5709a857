from collections import Counter

import pytest

from soulchat.inference.safety import SafetyConfig, SafetyGuard, evaluate_screen, load_crisis_eval
from soulchat.inference.safety.evaluation import EVAL_DIR, SPLITS, CrisisEvaluation, CrisisExample
from soulchat.inference.safety.rules import MESSAGE_CATEGORIES

TARGET_RECALL, TARGET_PRECISION = 0.95, 0.9


@pytest.fixture(scope="module")
def guard():
    return SafetyGuard()


def test_eval_sets_are_well_formed():
    dev, test = load_crisis_eval("dev"), load_crisis_eval("test")
    assert len(dev) >= 200 and len(test) >= 200
    for examples in (dev, test):
        texts = [e.text for e in examples]
        assert len(texts) == len(set(texts))
        crisis = [e for e in examples if e.label]
        assert 0.35 <= len(crisis) / len(examples) <= 0.45
        counts = Counter(e.category for e in crisis)
        assert set(counts) == set(MESSAGE_CATEGORIES) and min(counts.values()) >= 20
        assert sum(e.kind == "hard_negative" for e in examples) >= 50
    # The held-out set shares no message with the set the rules were tuned on.
    assert not {e.text for e in dev} & {e.text for e in test}


def test_holdout_set_is_well_formed_and_disjoint():
    dev, test, holdout = (load_crisis_eval(split) for split in ("dev", "test", "holdout"))
    texts = [e.text for e in holdout]
    assert len(texts) == 269 and len(set(texts)) == len(texts)
    counts = Counter(e.category for e in holdout)
    assert counts == {"none": 135, "suicide": 45, "self_harm": 31, "abuse": 30, "harm_others": 28}
    kinds = Counter(e.kind for e in holdout if not e.label)
    assert kinds == {"hard_negative": 78, "everyday": 54, "recovered": 3}
    assert not set(texts) & ({e.text for e in dev} | {e.text for e in test})


@pytest.mark.parametrize(
    ("split", "categories", "negative_kinds", "shared"),
    [
        # Written independently; one everyday line happens to be word for word in the development set.
        (
            "blind",
            {"none": 165, "suicide": 50, "abuse": 41, "self_harm": 38, "harm_others": 37},
            {"hard_negative": 89, "everyday": 56, "recovered": 20},
            {"今天跑了十公里，累死我了"},
        ),
        # Written from the policy alone; the shortest direct message happens to be in the development set.
        (
            "blind2",
            {"none": 163, "suicide": 57, "abuse": 37, "self_harm": 36, "harm_others": 36},
            {"hard_negative": 87, "everyday": 56, "recovered": 20},
            {"我想自杀"},
        ),
        (
            "blind3",
            {"none": 162, "suicide": 63, "abuse": 41, "self_harm": 37, "harm_others": 35},
            {"hard_negative": 87, "everyday": 55, "recovered": 20},
            {"我想自杀", "笑死我了", "撑死我了，年夜饭吃了三碗饭", "热死了热死了，宿舍空调又坏了"},
        ),
        (
            "blind4",
            {"none": 160, "suicide": 55, "abuse": 35, "self_harm": 35, "harm_others": 35},
            {"hard_negative": 85, "everyday": 55, "recovered": 20},
            {"我想自杀", "气死我了，快递又被人拿错了", "最近总是莫名其妙想哭，看个广告都能哭"},
        ),
    ],
)
def test_blind_sets_are_well_formed_and_independent_of_the_earlier_sets(split, categories, negative_kinds, shared):
    examples = load_crisis_eval(split)
    texts = [e.text for e in examples]
    assert len(texts) == sum(categories.values()) and len(set(texts)) == len(texts)
    assert Counter(e.category for e in examples) == categories
    assert Counter(e.kind for e in examples if not e.label) == negative_kinds
    earlier = SPLITS[: SPLITS.index(split)]
    others = {e.text for other in earlier for e in load_crisis_eval(other)}
    assert set(texts) & others == shared


def test_rules_meet_the_target_on_the_dev_set(guard):
    result = evaluate_screen(guard, load_crisis_eval("dev"))
    assert result.recall >= TARGET_RECALL, result.errors
    assert result.precision >= TARGET_PRECISION, result.errors


@pytest.mark.parametrize(
    ("split", "use_scorer", "recall", "precision"),
    [
        ("test", True, 0.98, 0.907),
        ("holdout", True, 0.985, 0.985),
        ("blind", True, 0.951, 0.929),
        ("blind2", True, 0.969, 0.920),
        ("blind3", True, 0.960, 0.918),
        ("blind4", True, 0.968, 0.912),
        ("test", False, 0.68, 0.919),
        ("holdout", False, 0.761, 0.953),
        ("blind", False, 0.614, 0.850),
        ("blind2", False, 0.578, 0.842),
        ("blind3", False, 0.477, 0.778),
        ("blind4", False, 0.631, 0.835),
    ],
)
def test_held_out_figures_do_not_regress(split, use_scorer, recall, precision):
    # The round-11 figures of eval/README.md, for the default screen (rules, then the scorer with its second opinion)
    # and the rules alone; raise them as they improve, and never tune on these sets to do so.
    result = evaluate_screen(SafetyGuard(SafetyConfig(use_scorer=use_scorer)), load_crisis_eval(split))
    assert result.recall >= recall - 1e-9 and result.precision >= precision - 5e-4, (result.recall, result.precision)


@pytest.mark.parametrize("split", SPLITS[1:])
def test_default_screen_meets_the_target_on_the_held_out_sets(guard, split):
    result = evaluate_screen(guard, load_crisis_eval(split))
    assert result.recall >= TARGET_RECALL and result.precision >= TARGET_PRECISION


def test_ordinary_check_set_and_its_false_alarms():
    ordinary = load_crisis_eval(str(EVAL_DIR / "ordinary_check.jsonl"))
    texts = [e.text for e in ordinary]
    assert len(texts) == 434 and len(set(texts)) == len(texts) and not any(e.label for e in ordinary)
    assert Counter(e.kind for e in ordinary) == {"everyday": 341, "hard_negative": 93}
    # The round-11 figures (eval/README.md): the price of the scorer's recall on heavy but ordinary messages.
    default, rules = SafetyGuard(), SafetyGuard(SafetyConfig(use_scorer=False))
    assert sum(default.screen_message(t).flagged for t in texts) <= 36
    assert sum(rules.screen_message(t).flagged for t in texts) <= 4


def test_metrics_on_a_known_confusion():
    evaluation = CrisisEvaluation(
        Counter(
            {
                ("suicide", "suicide"): 3,
                ("suicide", "none"): 1,
                ("abuse", "harm_others"): 1,
                ("none", "abuse"): 1,
                ("none", "none"): 4,
            }
        )
    )
    assert (evaluation.true_positives, evaluation.false_positives) == (4, 1)
    assert (evaluation.false_negatives, evaluation.true_negatives) == (1, 4)
    assert evaluation.recall == pytest.approx(0.8) and evaluation.precision == pytest.approx(0.8)
    assert evaluation.category_recall("suicide") == pytest.approx(0.75)
    assert evaluation.category_recall("abuse") == 1.0  # found, though under another category
    assert evaluation.category_precision("abuse") == 0.0
    assert evaluation.category_precision("harm_others") == 1.0


def test_examples_are_validated(tmp_path):
    with pytest.raises(ValueError, match="does not fit label"):
        CrisisExample("他又打我了", 1, "none")
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "x", "label": 2, "category": "none"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match="bad.jsonl:1"):
        load_crisis_eval(str(path))
