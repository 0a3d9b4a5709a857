"""Clipped character n-gram matches of many (prediction, reference) pairs at once, with numpy.

BLEU's modified precision needs, per pair and per order n, the number of the prediction's n-grams that the reference
also has, each counted at most as often as it occurs there: sum over n-grams of min(count in prediction, count in
reference). Counting with Python dictionaries costs a string slice and a hash per n-gram; here the characters of a
whole batch become integer codes, each n-gram one 64-bit key ``pair * base**n + code``, and one sort per order puts
equal n-grams of the same pair next to each other, so the counts come out of run lengths.
"""

from collections import Counter
from collections.abc import Sequence

import numpy as np

# Keys carry one more bit (prediction or reference side) and must stay below 2**63.
_KEY_LIMIT = 2**62
# Pairs per numpy batch: bounds the memory (about 100 bytes per character) whatever the input size.
_BATCH_PAIRS = 4096
# From this many characters a lookup table over all code points numbers them faster than sorting does.
_TABLE_MIN_CHARS = 200_000


def _code_points(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
    # UTF-32 has one unit per code point, as len() counts them; surrogatepass keeps lone surrogates.
    code_points = np.frombuffer("".join(texts).encode("utf-32-le", "surrogatepass"), dtype="<u4")
    return code_points, lengths


def _dense_ids(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Number the distinct code points of both arrays 0..D-1 (so that base**order stays small); returns D too."""
    if len(first) + len(second) < _TABLE_MIN_CHARS:
        # Few characters: sorting them is cheaper than a table over all of Unicode.
        distinct, ids = np.unique(np.concatenate((first, second)), return_inverse=True)
        ids = ids.astype(np.int64).reshape(-1)
        return ids[: len(first)], ids[len(first) :], max(len(distinct), 1)
    present = np.zeros(0x110000, dtype=np.int8)
    present[first] = 1
    present[second] = 1
    dense = np.cumsum(present, dtype=np.int64) - 1
    return dense[first], dense[second], max(int(dense[-1]) + 1, 1)


def _positions(lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every character of the concatenated texts: its pair, its offset in its text, its text's length."""
    pair = np.repeat(np.arange(len(lengths)), lengths)
    offset = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return pair, offset, lengths[pair]


def _order_keys(
    ids: np.ndarray, pair: np.ndarray, offset: np.ndarray, length: np.ndarray, order: int, base: int
) -> np.ndarray:
    """The keys ``pair * base**order + code`` of every n-gram of this order that lies inside one text."""
    count = len(ids) - order + 1
    if count <= 0:
        return np.empty(0, dtype=np.int64)
    code = ids[:count].copy()
    for shift in range(1, order):
        code = code * base + ids[shift : shift + count]
    inside = offset[:count] <= length[:count] - order
    return pair[:count][inside] * base**order + code[inside]


def _batch_matches(predictions: Sequence[str], references: Sequence[str], max_order: int) -> np.ndarray:
    pred_points, pred_lengths = _code_points(predictions)
    ref_points, ref_lengths = _code_points(references)
    pred_ids, ref_ids, base = _dense_ids(pred_points, ref_points)
    if len(predictions) * base**max_order >= _KEY_LIMIT:
        return _split_or_count(predictions, references, max_order)
    matches = np.zeros((len(predictions), max_order), dtype=np.int64)
    pred_positions, ref_positions = _positions(pred_lengths), _positions(ref_lengths)
    for order in range(1, max_order + 1):
        pred_keys = _order_keys(pred_ids, *pred_positions, order, base)
        ref_keys = _order_keys(ref_ids, *ref_positions, order, base)
        if not len(pred_keys) or not len(ref_keys):
            break
        tagged = np.concatenate((pred_keys << 1, (ref_keys << 1) | 1))
        tagged.sort()
        keys, from_reference = tagged >> 1, tagged & 1
        starts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
        in_reference = np.add.reduceat(from_reference, starts)
        in_prediction = np.diff(np.append(starts, len(keys))) - in_reference
        clipped = np.minimum(in_prediction, in_reference)
        per_pair = np.bincount(keys[starts] // base**order, weights=clipped, minlength=len(predictions))
        matches[:, order - 1] = per_pair.astype(np.int64)  # float64 sums of small integers are exact
        if not matches[:, order - 1].any():
            break  # no n-gram matches, so no longer one can
    return matches


def _split_or_count(predictions: Sequence[str], references: Sequence[str], max_order: int) -> np.ndarray:
    """Too many distinct characters for 64-bit keys: halve the batch, and count a single pair with Counters."""
    if len(predictions) > 1:
        middle = len(predictions) // 2
        return np.concatenate(
            (
                _batch_matches(predictions[:middle], references[:middle], max_order),
                _batch_matches(predictions[middle:], references[middle:], max_order),
            )
        )
    prediction, reference = predictions[0], references[0]
    row = []
    for order in range(1, max_order + 1):
        pred_counts = Counter(prediction[i : i + order] for i in range(len(prediction) - order + 1))
        ref_counts = Counter(reference[i : i + order] for i in range(len(reference) - order + 1))
        row.append(sum((pred_counts & ref_counts).values()))
    return np.array([row], dtype=np.int64)


def clipped_ngram_matches(predictions: Sequence[str], references: Sequence[str], max_order: int = 4) -> np.ndarray:
    """Clipped character n-gram matches of each pair, for orders 1 to ``max_order``.

    Args:
        predictions (`Sequence[str]`):
            The predictions; every code point is a token.
        references (`Sequence[str]`):
            One reference per prediction.
        max_order (`int`, *optional*, defaults to 4):
            The largest n-gram order.

    Returns:
        `np.ndarray`: int64 array of shape ``[len(predictions), max_order]``; entry ``[i, n - 1]`` is the number of
        n-grams of ``predictions[i]`` matched in ``references[i]``, each at most as often as it occurs there (nltk's
        ``modified_precision`` numerator).
    """
    batches = [
        _batch_matches(predictions[start : start + _BATCH_PAIRS], references[start : start + _BATCH_PAIRS], max_order)
        for start in range(0, len(predictions), _BATCH_PAIRS)
    ]
    return np.concatenate(batches) if batches else np.zeros((0, max_order), dtype=np.int64)


__all__ = ["clipped_ngram_matches"]
