"""Automatic metrics: Chinese BLEU-1..4 and ROUGE-1/2/L under the "chatglm" convention of the SoulChat paper.

One implementation, used by the evaluate module ([`evaluate_module_path`]), the trainer's ``compute_metrics``
([`make_compute_metrics`]) and ``soulchat score``; plus the CEHS human-evaluation kit ([`soulchat.metrics.cehs`]).
"""

from pathlib import Path

from soulchat.metrics.bleu import char_bleu
from soulchat.metrics.rouge import rouge_f_scores, rouge_words
from soulchat.metrics.scoring import (
    EMPTY_MODES,
    NGRAM_WEIGHTS,
    SCORE_KEYS,
    TABLE_COLUMNS,
    aggregate_scores,
    compute_scores,
    score_pair,
    score_pairs,
)
from soulchat.metrics.trainer import make_compute_metrics


def evaluate_module_path() -> str:
    """Path of the ``soulchat_bleu_rouge`` evaluate module inside the installed package.

    Returns:
        `str`: a folder that ``evaluate.load`` accepts offline.

    Example:

    ```python
    >>> import evaluate
    >>> from soulchat.metrics import evaluate_module_path
    >>> metric = evaluate.load(evaluate_module_path())  # doctest: +SKIP
    ```
    """
    return str(Path(__file__).resolve().parent / "soulchat_bleu_rouge")


__all__ = [
    "EMPTY_MODES",
    "NGRAM_WEIGHTS",
    "SCORE_KEYS",
    "TABLE_COLUMNS",
    "aggregate_scores",
    "char_bleu",
    "compute_scores",
    "evaluate_module_path",
    "make_compute_metrics",
    "rouge_f_scores",
    "rouge_words",
    "score_pair",
    "score_pairs",
]
