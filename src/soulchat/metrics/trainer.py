"""``compute_metrics`` for a Hugging Face ``Seq2SeqTrainer`` with ``predict_with_generate``: decode, then score.

The trainer's metrics are the same as everywhere else: [`soulchat.metrics.compute_scores`] on the decoded texts.
Decoding follows ChatGLM-6B's p-tuning script: ``-100`` (the label and gather padding) becomes the pad token, and
both sides are decoded with ``skip_special_tokens=True``.
"""

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from soulchat.metrics.scoring import compute_scores


class _Decoder(Protocol):
    pad_token_id: int | None

    def batch_decode(self, sequences: Any, skip_special_tokens: bool = ...) -> list[str]: ...


def make_compute_metrics(
    tokenizer: _Decoder,
    *,
    empty: str = "zero",
    ngram_weights: str = "cumulative",
    num_proc: int | None = None,
) -> Callable[[Any], dict[str, float]]:
    """Build the ``compute_metrics`` callable of a generating ``Seq2SeqTrainer``.

    Args:
        tokenizer (`PreTrainedTokenizerBase`):
            Decodes the generated and the label token ids (``batch_decode`` and ``pad_token_id`` are used).
        empty (`str`, *optional*, defaults to `"zero"`):
            Handling of empty texts, see [`soulchat.metrics.compute_scores`]. An untrained model often generates
            an empty response, which is why the default does not raise.
        ngram_weights (`str`, *optional*, defaults to `"cumulative"`):
            `"cumulative"` or `"individual"` BLEU-n.
        num_proc (`int`, *optional*):
            Processes for scoring; by default all CPUs from 2,000 samples on.

    Returns:
        `Callable[[EvalPrediction], dict[str, float]]`: maps ``(predictions, label_ids)`` (token ids of shape
        ``[num_samples, length]``, ``-100`` where padded) to the seven scores.
    """
    pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def compute_metrics(eval_prediction: Any) -> dict[str, float]:
        predictions, labels = eval_prediction[0], eval_prediction[1]
        if isinstance(predictions, tuple):  # some models return (generated ids, extra outputs)
            predictions = predictions[0]
        predictions = np.where(np.asarray(predictions) == -100, pad_token_id, predictions)
        labels = np.where(np.asarray(labels) == -100, pad_token_id, labels)
        decoded_predictions = tokenizer.batch_decode(predictions, skip_special_tokens=True)
        decoded_labels = tokenizer.batch_decode(labels, skip_special_tokens=True)
        return compute_scores(
            decoded_predictions, decoded_labels, empty=empty, ngram_weights=ngram_weights, num_proc=num_proc
        )

    return compute_metrics


__all__ = ["make_compute_metrics"]
