"""compute_scores / score_pairs against the shared reference data, the empty-text modes and the parallel path."""

import json
import math

import pytest

from soulchat.metrics import SCORE_KEYS, aggregate_scores, compute_scores, score_pairs
from tests.metrics.generated import random_pairs


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.fixture(scope="module")
def reference_dir(shared_dir):
    return shared_dir / "reference" / "metrics"


@pytest.fixture(scope="module")
def public_pairs(reference_dir):
    pairs = read_jsonl(reference_dir / "pairs_public.jsonl")
    return [pair["pred"] for pair in pairs], [pair["ref"] for pair in pairs]


def test_public_pairs_per_sample_scores(reference_dir, public_pairs):
    expected = read_jsonl(reference_dir / "pairs_public_scores.jsonl")
    ours = score_pairs(*public_pairs, num_proc=1)
    assert len(ours) == len(expected) == 1000
    differences = [
        abs(sample[key] - reference[key])
        for sample, reference in zip(ours, expected, strict=True)
        for key in SCORE_KEYS
    ]
    assert max(differences) <= 1e-6


def test_public_pairs_aggregates(reference_dir, public_pairs):
    expected = json.loads((reference_dir / "pairs_public_expected.json").read_text())
    ours = compute_scores(*public_pairs)
    assert set(ours) == set(expected) == set(SCORE_KEYS)
    for key in SCORE_KEYS:
        assert ours[key] == pytest.approx(expected[key], abs=1e-4)


def test_edge_cases_zero_and_raise(reference_dir):
    cases = read_jsonl(reference_dir / "pairs_edge.jsonl")
    expected = read_jsonl(reference_dir / "pairs_edge_scores.jsonl")
    assert len(cases) == len(expected) == 49
    raising = 0
    for case, scores in zip(cases, expected, strict=True):
        assert compute_scores([case["pred"]], [case["ref"]]) == pytest.approx(scores["zero"], abs=1e-4), scores["case"]
        if isinstance(scores["raise"], str):
            raising += 1
            message = scores["raise"].removeprefix("ValueError: ")
            with pytest.raises(ValueError, match="^" + message.replace(".", r"\.")):
                compute_scores([case["pred"]], [case["ref"]], empty="raise")
        else:
            raised = compute_scores([case["pred"]], [case["ref"]], empty="raise")
            assert raised == pytest.approx(scores["raise"], abs=1e-4), scores["case"]
    assert raising == 10  # empty, blank (spaces, tabs, newlines, U+3000) on either side


def test_empty_modes():
    predictions = ["抱抱你，辛苦了！", " ", "你好"]
    references = ["抱抱你，你辛苦了。", "慢慢来。", ""]
    zero = score_pairs(predictions, references)
    assert zero[1] == dict.fromkeys(SCORE_KEYS, 0.0)  # a blank prediction shares no character with the reference
    assert [zero[2][key] for key in SCORE_KEYS] == [0.0] * 7
    skipped = score_pairs(predictions, references, empty="skip")
    assert skipped[1:] == [None, None] and skipped[0] == zero[0]
    assert compute_scores(predictions, references, empty="skip") == aggregate_scores([zero[0]])
    assert compute_scores(predictions, references)["rouge-1"] == pytest.approx(round(zero[0]["rouge-1"] * 100, 4) / 3)
    with pytest.raises(ValueError, match=r"^Hypothesis is empty\. \(pair 1"):
        score_pairs(predictions, references, empty="raise")
    with pytest.raises(ValueError, match=r"^Reference is empty\. \(pair 0"):
        score_pairs(["你好"], ["\u3000"], empty="raise")
    assert all(math.isnan(value) for value in compute_scores([""], ["你好"], empty="skip").values())


def test_blank_sides_still_get_bleu():
    # Both sides one space: ROUGE is zeroed, BLEU compares the two space characters (the edge case "both_space").
    assert compute_scores([" "], [" "]) == pytest.approx(
        {
            "bleu-1": 100.0,
            "bleu-2": 70.7107,
            "bleu-3": 50.0,
            "bleu-4": 35.3553,
            "rouge-1": 0.0,
            "rouge-2": 0.0,
            "rouge-l": 0.0,
        }
    )


def test_individual_ngram_weights():
    cumulative = score_pairs(["谢谢你"], ["谢谢你的信任"])[0]
    individual = score_pairs(["谢谢你"], ["谢谢你的信任"], ngram_weights="individual")[0]
    assert individual["bleu-1"] == cumulative["bleu-1"]
    assert individual["bleu-4"] == pytest.approx(0.5 * math.exp(-1), rel=1e-15)
    assert {key: individual[key] for key in SCORE_KEYS[4:]} == {key: cumulative[key] for key in SCORE_KEYS[4:]}


def test_parallel_scores_equal_serial_scores():
    predictions, references = random_pairs(seed=17, count=400, max_pieces=25)
    serial = score_pairs(predictions, references, num_proc=1)
    assert score_pairs(predictions, references, num_proc=2) == serial
    assert score_pairs(predictions, references, num_proc=3, empty="skip") == [
        None if not p.strip() or not r.strip() else s for p, r, s in zip(predictions, references, serial, strict=True)
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"predictions": ["a"], "references": []}, ValueError, "1 predictions but 0 references"),
        ({"predictions": ["a"], "references": ["b"], "empty": "ignore"}, ValueError, "empty must be one of"),
        ({"predictions": ["a"], "references": ["b"], "ngram_weights": "sum"}, ValueError, "ngram_weights must be"),
        (
            {"predictions": [None], "references": ["b"]},
            TypeError,
            "pair 0: predictions and references must be strings",
        ),
    ],
)
def test_invalid_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        compute_scores(**kwargs)
