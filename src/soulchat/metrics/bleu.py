"""Character-level sentence BLEU with NIST geometric smoothing, the arithmetic of nltk's ``sentence_bleu``.

The "chatglm" convention scores ``sentence_bleu([list(reference)], list(prediction), weights,
smoothing_function=SmoothingFunction().method3)``. This module re-implements that arithmetic for one reference and
character tokens, step for step (clipped n-gram counts, method3 smoothing, ``math.fsum`` of the weighted logs,
brevity penalty), so the floats are the same, while counting each n-gram order once for all four BLEU-n scores
instead of once per call, and for a whole batch of pairs at once ([`soulchat.metrics.ngrams`]).
"""

import math
from collections.abc import Sequence

from soulchat.metrics.ngrams import clipped_ngram_matches

MAX_ORDER = 4


def _smoothed_log_precisions(precisions: list[tuple[int, int]]) -> list[float]:
    """``log`` of each precision after nltk's ``SmoothingFunction().method3``.

    A zero count at the k-th order that has one (k = 1, 2, ...) becomes ``1 / (2**k * denominator)``.
    """
    logs = []
    k = 1
    for numerator, denominator in precisions:
        if numerator == 0:
            logs.append(math.log(1 / (2**k * denominator)))
            k += 1
        else:
            # float(Fraction(n, d)) is the correctly rounded n / d, which is what true division gives.
            logs.append(math.log(numerator / denominator))
    return logs


def _brevity_penalty(reference_length: int, prediction_length: int) -> float:
    if prediction_length > reference_length:
        return 1.0
    if prediction_length == 0:
        return 0.0
    return math.exp(1 - reference_length / prediction_length)


def bleu_weights(order: int, *, cumulative: bool = True) -> tuple[float, ...]:
    """The n-gram weights of BLEU-``order``.

    Args:
        order (`int`):
            The BLEU order, 1 to 4.
        cumulative (`bool`, *optional*, defaults to `True`):
            Uniform weights over orders 1..n (``(1/3, 1/3, 1/3)`` for BLEU-3), the common convention; otherwise the
            individual n-gram score (weight 1 on order n only). BLEU-1 is the same either way.

    Returns:
        `tuple[float, ...]`: ``order`` weights.
    """
    if not 1 <= order <= MAX_ORDER:
        raise ValueError(f"BLEU order must be between 1 and {MAX_ORDER}, got {order}")
    if cumulative:
        return (1 / order,) * order
    return (0.0,) * (order - 1) + (1.0,)


def bleu_from_matches(
    matches: Sequence[int], prediction_length: int, reference_length: int, *, cumulative: bool = True
) -> list[float]:
    """BLEU-1..4 from the clipped n-gram matches of a pair and the lengths of its two texts.

    Args:
        matches (`Sequence[int]`):
            Clipped matches of orders 1 to 4 (see [`soulchat.metrics.ngrams.clipped_ngram_matches`]).
        prediction_length (`int`):
            Characters in the prediction.
        reference_length (`int`):
            Characters in the reference.
        cumulative (`bool`, *optional*, defaults to `True`):
            Cumulative BLEU-n (uniform weights over orders 1..n) or individual n-gram scores.

    Returns:
        `list[float]`: BLEU-1, BLEU-2, BLEU-3 and BLEU-4, each in [0, 1].
    """
    if matches[0] == 0:
        # nltk returns 0 when no unigram matches (this covers an empty prediction or reference).
        return [0.0] * MAX_ORDER
    # nltk's denominators: the prediction's n-gram count, floored at 1.
    precisions = [(int(matches[n - 1]), max(1, prediction_length - n + 1)) for n in range(1, MAX_ORDER + 1)]
    logs = _smoothed_log_precisions(precisions)
    penalty = _brevity_penalty(reference_length, prediction_length)
    scores = []
    for order in range(1, MAX_ORDER + 1):
        weights = bleu_weights(order, cumulative=cumulative)
        scores.append(penalty * math.exp(math.fsum(w * log_p for w, log_p in zip(weights, logs, strict=False))))
    return scores


def batch_char_bleu(
    predictions: Sequence[str], references: Sequence[str], *, cumulative: bool = True
) -> list[list[float]]:
    """[`char_bleu`] of many pairs, with the n-grams of all pairs counted together (much faster).

    Args:
        predictions (`Sequence[str]`):
            The generated texts.
        references (`Sequence[str]`):
            One reference per prediction.
        cumulative (`bool`, *optional*, defaults to `True`):
            Cumulative BLEU-n or individual n-gram scores.

    Returns:
        `list[list[float]]`: BLEU-1..4 of each pair.
    """
    matches = clipped_ngram_matches(predictions, references, MAX_ORDER).tolist()
    return [
        bleu_from_matches(row, len(p), len(r), cumulative=cumulative)
        for row, p, r in zip(matches, predictions, references, strict=True)
    ]


def char_bleu(prediction: str, reference: str, *, cumulative: bool = True) -> list[float]:
    """BLEU-1..4 of one prediction against one reference, on characters, with nltk's method3 smoothing.

    Each value equals ``nltk.translate.bleu_score.sentence_bleu([list(reference)], list(prediction),
    weights=bleu_weights(n, cumulative=cumulative), smoothing_function=SmoothingFunction().method3)``.

    Args:
        prediction (`str`):
            The generated text; every code point is a token (spaces, newlines and punctuation included).
        reference (`str`):
            The reference text, tokenised the same way.
        cumulative (`bool`, *optional*, defaults to `True`):
            Cumulative BLEU-n (uniform weights over orders 1..n) or individual n-gram scores.

    Returns:
        `list[float]`: BLEU-1, BLEU-2, BLEU-3 and BLEU-4, each in [0, 1].

    Example:

    ```python
    >>> from soulchat.metrics.bleu import char_bleu
    >>> [round(b, 4) for b in char_bleu("你好", "你好")]
    [1.0, 1.0, 0.7937, 0.5946]
    ```
    """
    return batch_char_bleu([prediction], [reference], cumulative=cumulative)[0]


__all__ = ["MAX_ORDER", "batch_char_bleu", "bleu_from_matches", "bleu_weights", "char_bleu"]
