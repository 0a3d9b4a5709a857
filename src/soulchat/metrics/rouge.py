"""ROUGE-1/2/L F scores on jieba words, the arithmetic of the ``rouge_chinese`` package.

The "chatglm" convention scores ``Rouge().get_scores(" ".join(jieba.cut(prediction)), " ".join(jieba.cut(reference)))``
and takes the F values. This module reproduces rouge_chinese's text handling and arithmetic exactly, quirks
included:

- the joined text is cut into sentences after ``。！？?``, six dots and two ellipses (its ``cut_sent``), empty pieces
  are dropped, each piece is whitespace-split, and a blank piece becomes one empty-string token;
- the words of all sentences are flattened, so n-grams and the LCS run across sentence boundaries;
- ROUGE-N counts n-grams as *sets* (a repeated n-gram counts once);
- F = 2PR / (P + R + 1e-8), so an exact match scores 0.99999999...

What changes is the cost: the LCS is computed with a bit-parallel algorithm over Python integers instead of a
dictionary-backed table, which is where the original spends most of its time.
"""

import re

from soulchat.metrics.segmentation import segment

# rouge_chinese's `Rouge.cut_sent`, applied in this order, each with a substring every match contains: a rule
# whose trigger is absent cannot change the text, and skipping it saves most of the regex time.
_SENTENCE_RULES = (
    (("。", "！", "？", "?"), re.compile(r"([。！？\?])([^”’])"), r"\1\n\2"),
    (("......",), re.compile(r"(\.{6})([^”’])"), r"\1\n\2"),
    (("……",), re.compile(r"(\…{2})([^”’])"), r"\1\n\2"),
    (("”", "’"), re.compile(r"([。！？\?][”’])([^，。！？\?])"), r"\1\n\2"),
)


def split_sentences(text: str) -> list[str]:
    """Split a text into sentences the way ``rouge_chinese.Rouge.cut_sent`` does (empty pieces kept).

    Args:
        text (`str`):
            The text (for ROUGE, the jieba words joined with single spaces).

    Returns:
        `list[str]`: the pieces; ``[""]`` for a blank text.
    """
    for triggers, pattern, replacement in _SENTENCE_RULES:
        if any(trigger in text for trigger in triggers):
            text = pattern.sub(replacement, text)
    return text.rstrip().split("\n")


def rouge_words(text: str) -> list[str] | None:
    """The flattened word sequence that rouge_chinese scores for a text.

    Args:
        text (`str`):
            The raw text; it is segmented with jieba and the words are joined with spaces, as the convention does.

    Returns:
        `list[str] | None`: the words (possibly containing empty strings, one per blank sentence), or `None` when
        the text is empty or whitespace-only, where rouge_chinese raises ``ValueError``.
    """
    pieces = [piece for piece in split_sentences(" ".join(segment(text))) if len(piece) > 0]
    if not pieces:
        return None
    words: list[str] = []
    for piece in pieces:
        # rouge_chinese: " ".join(piece.split()), later split on " "; a blank piece gives [""].
        words.extend(piece.split() or [""])
    return words


def _f_score(precision: float, recall: float) -> float:
    return 2.0 * ((precision * recall) / (precision + recall + 1e-8))


def _rouge_n(prediction_words: list[str], reference_words: list[str], order: int) -> float:
    if order == 1:
        pred_ngrams, ref_ngrams = set(prediction_words), set(reference_words)
    else:
        pred_ngrams = set(zip(*(prediction_words[i:] for i in range(order)), strict=False))
        ref_ngrams = set(zip(*(reference_words[i:] for i in range(order)), strict=False))
    overlap = len(pred_ngrams & ref_ngrams)
    precision = overlap / len(pred_ngrams) if pred_ngrams else 0.0
    recall = overlap / len(ref_ngrams) if ref_ngrams else 0.0
    return _f_score(precision, recall)


def lcs_length(first: list[str], second: list[str]) -> int:
    """Length of the longest common subsequence of two token sequences, bit-parallel.

    Hyyrö's bit-vector recurrence (Crochemore et al., 2001): with one bit per token of ``first``, each token of
    ``second`` updates the vector in a constant number of big-integer operations, O(len(first) * len(second) / w)
    word operations in all instead of the O(len(first) * len(second)) Python steps of a table.

    Args:
        first (`list[str]`):
            One sequence.
        second (`list[str]`):
            The other sequence.

    Returns:
        `int`: the LCS length.
    """
    match_masks: dict[str, int] = {}
    for position, token in enumerate(first):
        match_masks[token] = match_masks.get(token, 0) | (1 << position)
    all_ones = (1 << len(first)) - 1
    vector = all_ones
    for token in second:
        mask = match_masks.get(token)
        if mask is None:
            continue
        matched = vector & mask
        vector = ((vector + matched) | (vector - matched)) & all_ones
    # Each zero bit in the vector marks one step of the LCS.
    return len(first) - vector.bit_count()


def rouge_f_scores(prediction_words: list[str], reference_words: list[str]) -> tuple[float, float, float]:
    """ROUGE-1, ROUGE-2 and ROUGE-L F scores of two non-empty word sequences from [`rouge_words`].

    Args:
        prediction_words (`list[str]`):
            The prediction's words.
        reference_words (`list[str]`):
            The reference's words.

    Returns:
        `tuple[float, float, float]`: the three F values, in [0, 1).

    Example:

    ```python
    >>> from soulchat.metrics.rouge import rouge_f_scores, rouge_words
    >>> [round(f, 4) for f in rouge_f_scores(rouge_words("我很焦虑"), rouge_words("我有点焦虑"))]
    [0.6667, 0.0, 0.6667]
    ```
    """
    lcs = lcs_length(reference_words, prediction_words)
    rouge_l = _f_score(lcs / len(prediction_words), lcs / len(reference_words))
    return (
        _rouge_n(prediction_words, reference_words, 1),
        _rouge_n(prediction_words, reference_words, 2),
        rouge_l,
    )


__all__ = ["lcs_length", "rouge_f_scores", "rouge_words", "split_sentences"]
