"""BLEU: the re-implemented arithmetic against nltk's sentence_bleu with method3 smoothing, float for float."""

import math
from collections import Counter

import pytest
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

from soulchat.metrics import ngrams
from soulchat.metrics.bleu import batch_char_bleu, bleu_weights, char_bleu
from soulchat.metrics.ngrams import clipped_ngram_matches
from tests.metrics.generated import random_pairs

NLTK_CUMULATIVE = [(1,), (1 / 2, 1 / 2), (1 / 3, 1 / 3, 1 / 3), (1 / 4, 1 / 4, 1 / 4, 1 / 4)]
NLTK_INDIVIDUAL = [(1,), (0, 1), (0, 0, 1), (0, 0, 0, 1)]


def nltk_bleu(prediction: str, reference: str, weights: list[tuple[float, ...]]) -> list[float]:
    smoothing = SmoothingFunction().method3
    return [
        float(sentence_bleu([list(reference)], list(prediction), weights=w, smoothing_function=smoothing))
        for w in weights
    ]


@pytest.mark.parametrize(("cumulative", "weights"), [(True, NLTK_CUMULATIVE), (False, NLTK_INDIVIDUAL)])
def test_char_bleu_equals_nltk_on_generated_pairs(cumulative, weights):
    predictions, references = random_pairs(seed=11, count=300)
    for prediction, reference in zip(predictions, references, strict=True):
        assert char_bleu(prediction, reference, cumulative=cumulative) == nltk_bleu(prediction, reference, weights)


def test_char_bleu_equals_nltk_on_short_and_repetitive_texts():
    cases = [("", ""), ("", "好"), ("好", ""), ("好", "好"), (" ", " "), ("你好", "你好"), ("好好好好好好", "好好")]
    cases += [("好的" * 50, "好的" * 40), ("哈" * 200, "哈哈，别担心。"), ("谢谢你", "谢谢你的信任")]
    for prediction, reference in cases:
        assert char_bleu(prediction, reference) == nltk_bleu(prediction, reference, NLTK_CUMULATIVE)
        assert char_bleu(prediction, reference, cumulative=False) == nltk_bleu(prediction, reference, NLTK_INDIVIDUAL)


def test_char_bleu_known_values():
    # Two identical characters: p1 = p2 = 1, no 3-gram (smoothed to 1/2), no 4-gram (1/4).
    assert char_bleu("你好", "你好") == [1.0, 1.0, 0.5 ** (1 / 3), 0.125**0.25]
    assert char_bleu("", "你好") == [0.0, 0.0, 0.0, 0.0]
    assert char_bleu("你好", "") == [0.0, 0.0, 0.0, 0.0]
    # A 3-character prefix of a 6-character reference: p1..p3 = 1, no 4-gram (the first zero count: 1 / 2),
    # brevity penalty exp(1 - 6 / 3).
    bleu = char_bleu("谢谢你", "谢谢你的信任", cumulative=False)
    assert bleu[:3] == pytest.approx([math.exp(-1)] * 3, rel=1e-15)
    assert bleu[3] == pytest.approx(0.5 * math.exp(-1), rel=1e-15)


def test_bleu_weights():
    assert bleu_weights(1) == (1.0,)
    assert bleu_weights(3) == (1 / 3, 1 / 3, 1 / 3)
    assert bleu_weights(4, cumulative=False) == (0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="between 1 and 4"):
        bleu_weights(5)


def naive_matches(prediction: str, reference: str) -> list[int]:
    rows = []
    for n in range(1, 5):
        pred = Counter(prediction[i : i + n] for i in range(len(prediction) - n + 1))
        ref = Counter(reference[i : i + n] for i in range(len(reference) - n + 1))
        rows.append(sum((pred & ref).values()))
    return rows


def test_batch_char_bleu_equals_nltk_per_pair():
    # One batch of many pairs: the n-grams of different pairs must never be matched with each other.
    predictions, references = random_pairs(seed=12, count=300)
    predictions += ["\ud800好", "𠀀𠀁好", "好" * 30]  # a lone surrogate, characters beyond the BMP, a long run
    references += ["\ud800好的", "𠀀𠀁", "好" * 7]
    expected = [nltk_bleu(p, r, NLTK_CUMULATIVE) for p, r in zip(predictions, references, strict=True)]
    assert batch_char_bleu(predictions, references) == expected


def test_clipped_ngram_matches_batches_and_wide_alphabets(monkeypatch):
    predictions, references = random_pairs(seed=14, count=60)
    expected = [naive_matches(p, r) for p, r in zip(predictions, references, strict=True)]
    assert clipped_ngram_matches(predictions, references).tolist() == expected
    monkeypatch.setattr(ngrams, "_TABLE_MIN_CHARS", 0)  # number the characters with the table, not by sorting
    assert clipped_ngram_matches(predictions, references).tolist() == expected
    monkeypatch.setattr(ngrams, "_BATCH_PAIRS", 7)  # batch boundaries inside the input
    assert clipped_ngram_matches(predictions, references).tolist() == expected
    monkeypatch.setattr(ngrams, "_KEY_LIMIT", 2**24)  # too many characters for the keys: halve, then count alone
    assert clipped_ngram_matches(predictions, references).tolist() == expected
    assert clipped_ngram_matches([], []).shape == (0, 4)
