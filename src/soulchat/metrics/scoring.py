"""Score predictions against references under the "chatglm" convention: the one entry point for every caller.

The evaluate module, the trainer's ``compute_metrics`` and ``soulchat score`` all call [`compute_scores`]
(aggregates) or [`score_pairs`] (per-sample scores). The convention, from the ChatGLM-6B p-tuning script that
produced the SoulChat paper's numbers:

- BLEU-1..4 on characters ([`soulchat.metrics.bleu`]), ROUGE-1/2/L F on jieba words ([`soulchat.metrics.rouge`]);
- each per-sample score × 100, rounded to 4 decimals, then the plain mean over samples (a macro mean);
- an empty or whitespace-only side, where rouge_chinese raises, is handled by ``empty``.

Large inputs are split into contiguous chunks scored in parallel processes; every score is a pure function of its
pair, so the result is identical to the single-process path whatever the number of processes.
"""

import logging
import math
import multiprocessing
import os
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from soulchat.metrics.bleu import batch_char_bleu, char_bleu
from soulchat.metrics.rouge import rouge_f_scores, rouge_words
from soulchat.metrics.segmentation import get_jieba_tokenizer

logger = logging.getLogger(__name__)

SCORE_KEYS = ("bleu-1", "bleu-2", "bleu-3", "bleu-4", "rouge-1", "rouge-2", "rouge-l")
# The column headers of the paper's Table 1.
TABLE_COLUMNS = dict(zip(SCORE_KEYS, ("B-1", "B-2", "B-3", "B-4", "R-1", "R-2", "R-L"), strict=True))
EMPTY_MODES = ("zero", "raise", "skip")
NGRAM_WEIGHTS = ("cumulative", "individual")
# Below this many pairs a second process costs more (fork, pickling) than it saves.
PARALLEL_MIN_PAIRS = 2000

Scores = tuple[float, float, float, float, float, float, float]


def _empty_side(prediction: str, reference: str) -> str | None:
    """rouge_chinese's error message for this pair, or `None` when it scores the pair.

    rouge_chinese raises exactly when a side has no sentence left after ``rstrip``, that is when the text is empty
    or whitespace-only (``str.isspace``); the prediction is checked first.
    """
    if not prediction.strip():
        return "Hypothesis is empty."
    if not reference.strip():
        return "Reference is empty."
    return None


def score_pair(prediction: str, reference: str, *, cumulative: bool = True) -> Scores:
    """The seven un-rounded scores of one pair; ROUGE is 0 where rouge_chinese would raise.

    Args:
        prediction (`str`):
            The generated text.
        reference (`str`):
            The reference text.
        cumulative (`bool`, *optional*, defaults to `True`):
            Cumulative BLEU-n, or individual n-gram scores.

    Returns:
        `tuple[float, ...]`: BLEU-1..4, ROUGE-1, ROUGE-2, ROUGE-L, each in [0, 1], in the order of `SCORE_KEYS`.
    """
    return _combine(char_bleu(prediction, reference, cumulative=cumulative), prediction, reference)


def _combine(bleu: list[float], prediction: str, reference: str) -> Scores:
    """The BLEU scores of a pair followed by its ROUGE scores."""
    prediction_words = rouge_words(prediction)
    reference_words = rouge_words(reference)
    if prediction_words is None or reference_words is None:
        return (*bleu, 0.0, 0.0, 0.0)
    return (*bleu, *rouge_f_scores(prediction_words, reference_words))


def _score_chunk(predictions: Sequence[str], references: Sequence[str], cumulative: bool) -> list[Scores]:
    bleu = batch_char_bleu(predictions, references, cumulative=cumulative)
    return [_combine(b, p, r) for b, p, r in zip(bleu, predictions, references, strict=True)]


def _available_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _start_method() -> str:
    # fork lets the workers inherit the loaded jieba dictionary (0.5 s each otherwise); it is safe on Linux for this
    # pure-Python work. Elsewhere fork is unsafe or missing, and spawned workers load the dictionary themselves.
    return "fork" if sys.platform.startswith("linux") else "spawn"


def _score_all(predictions: Sequence[str], references: Sequence[str], cumulative: bool, num_proc: int) -> list[Scores]:
    """Score every pair, in ``num_proc`` processes (this one included) over contiguous chunks."""
    num_proc = max(1, min(num_proc, len(predictions)))
    if multiprocessing.current_process().daemon:
        num_proc = 1  # a daemonic process (a pool or DataLoader worker) may not start children
    if num_proc == 1:
        return _score_chunk(predictions, references, cumulative)
    get_jieba_tokenizer()  # load the dictionary once, before forking
    bounds = [len(predictions) * i // num_proc for i in range(num_proc + 1)]
    chunks = [(predictions[a:b], references[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    context = multiprocessing.get_context(_start_method())
    with ProcessPoolExecutor(max_workers=num_proc - 1, mp_context=context) as pool:
        futures = [pool.submit(_score_chunk, preds, refs, cumulative) for preds, refs in chunks[1:]]
        scores = _score_chunk(*chunks[0], cumulative)  # this process takes the first chunk
        for future in futures:
            scores.extend(future.result())
    return scores


def _check_arguments(predictions: Sequence[str], references: Sequence[str], empty: str, ngram_weights: str) -> None:
    if len(predictions) != len(references):
        raise ValueError(f"got {len(predictions)} predictions but {len(references)} references")
    if empty not in EMPTY_MODES:
        raise ValueError(f"empty must be one of {EMPTY_MODES}, got {empty!r}")
    if ngram_weights not in NGRAM_WEIGHTS:
        raise ValueError(f"ngram_weights must be one of {NGRAM_WEIGHTS}, got {ngram_weights!r}")
    for index, (prediction, reference) in enumerate(zip(predictions, references, strict=True)):
        if not isinstance(prediction, str) or not isinstance(reference, str):
            raise TypeError(f"pair {index}: predictions and references must be strings")


def score_pairs(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    empty: str = "zero",
    ngram_weights: str = "cumulative",
    num_proc: int | None = None,
) -> list[dict[str, float] | None]:
    """Per-sample scores, un-rounded, in [0, 1].

    Args:
        predictions (`Sequence[str]`):
            The generated texts, used as they are (no stripping or normalisation).
        references (`Sequence[str]`):
            One reference per prediction.
        empty (`str`, *optional*, defaults to `"zero"`):
            What to do with a pair whose prediction or reference is empty or whitespace-only (where rouge_chinese
            raises): `"zero"` scores its ROUGE as 0 and its BLEU as usual; `"raise"` raises ``ValueError`` with
            rouge_chinese's message (the original script's behaviour); `"skip"` gives `None` for the pair.
        ngram_weights (`str`, *optional*, defaults to `"cumulative"`):
            `"cumulative"` (BLEU-n with uniform weights over orders 1..n) or `"individual"` (order n only).
        num_proc (`int`, *optional*):
            Number of processes. Defaults to every available CPU for 2,000 pairs or more (`PARALLEL_MIN_PAIRS`), else 1.

    Returns:
        `list[dict[str, float] | None]`: one dict with the `SCORE_KEYS` per pair, `None` for a skipped pair.

    Raises:
        `ValueError`: with ``empty="raise"``, at the first pair with an empty side (before scoring anything).
    """
    _check_arguments(predictions, references, empty, ngram_weights)
    empty_sides = [_empty_side(p, r) for p, r in zip(predictions, references, strict=True)]
    if empty == "raise":
        for index, message in enumerate(empty_sides):
            if message is not None:
                raise ValueError(f"{message} (pair {index}; use empty='zero' or empty='skip' to score such pairs)")
    kept = [i for i, message in enumerate(empty_sides) if empty != "skip" or message is None]
    if num_proc is None:
        num_proc = _available_cpus() if len(kept) >= PARALLEL_MIN_PAIRS else 1
    scores = _score_all(
        [predictions[i] for i in kept], [references[i] for i in kept], ngram_weights == "cumulative", num_proc
    )
    per_sample: list[dict[str, float] | None] = [None] * len(predictions)
    for index, values in zip(kept, scores, strict=True):
        per_sample[index] = dict(zip(SCORE_KEYS, values, strict=True))
    return per_sample


def aggregate_scores(per_sample: Sequence[dict[str, float] | None]) -> dict[str, float]:
    """The convention's aggregate: each score × 100 rounded to 4 decimals, then the mean over scored samples.

    Args:
        per_sample (`Sequence[dict[str, float] | None]`):
            Output of [`score_pairs`]; `None` entries (skipped pairs) are left out.

    Returns:
        `dict[str, float]`: the mean of each of `SCORE_KEYS`, in [0, 100]; NaN when no sample was scored.
    """
    scored = [sample for sample in per_sample if sample is not None]
    if not scored:
        logger.warning("no pair left to score; every score is NaN")
        return dict.fromkeys(SCORE_KEYS, math.nan)
    # fsum: the mean does not depend on the order of the samples or on how they were chunked.
    return {key: math.fsum(round(sample[key] * 100, 4) for sample in scored) / len(scored) for key in SCORE_KEYS}


def compute_scores(
    predictions: Sequence[str],
    references: Sequence[str],
    *,
    empty: str = "zero",
    ngram_weights: str = "cumulative",
    num_proc: int | None = None,
) -> dict[str, float]:
    """BLEU-1..4 and ROUGE-1/2/L of predictions against references, as reported in the SoulChat paper.

    Args:
        predictions (`Sequence[str]`):
            The generated texts, used as they are.
        references (`Sequence[str]`):
            One reference per prediction.
        empty (`str`, *optional*, defaults to `"zero"`):
            `"zero"`, `"raise"` or `"skip"`; see [`score_pairs`].
        ngram_weights (`str`, *optional*, defaults to `"cumulative"`):
            `"cumulative"` or `"individual"` BLEU-n.
        num_proc (`int`, *optional*):
            Number of processes; by default all available CPUs for large inputs.

    Returns:
        `dict[str, float]`: ``bleu-1`` .. ``bleu-4``, ``rouge-1``, ``rouge-2``, ``rouge-l``, each in [0, 100].

    Example:

    ```python
    >>> from soulchat.metrics import compute_scores
    >>> scores = compute_scores(["我理解你的感受。"], ["我能理解你的感受。"])
    >>> {key: round(value, 2) for key, value in scores.items()}
    {'bleu-1': 88.25, 'bleu-2': 81.7, 'bleu-3': 78.89, 'bleu-4': 76.73, 'rouge-1': 83.33, 'rouge-2': 80.0, 'rouge-l': 83.33}
    ```
    """
    per_sample = score_pairs(predictions, references, empty=empty, ngram_weights=ngram_weights, num_proc=num_proc)
    return aggregate_scores(per_sample)


__all__ = [
    "TABLE_COLUMNS",
    "EMPTY_MODES",
    "NGRAM_WEIGHTS",
    "PARALLEL_MIN_PAIRS",
    "SCORE_KEYS",
    "aggregate_scores",
    "compute_scores",
    "score_pair",
    "score_pairs",
]
