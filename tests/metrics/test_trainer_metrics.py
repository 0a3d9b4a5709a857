"""make_compute_metrics: the trainer's metrics decode like ChatGLM-6B's script and score with compute_scores."""

import numpy as np
from transformers import EvalPrediction

from soulchat.metrics import compute_scores, make_compute_metrics


class CharTokenizer:
    """A character tokenizer: id 0 is the pad token and id 1 a special end token, both skipped when decoding."""

    pad_token_id = 0

    def __init__(self, alphabet: str):
        self.alphabet = "\0\1" + alphabet

    def encode(self, text: str) -> list[int]:
        return [self.alphabet.index(c) for c in text]

    def batch_decode(self, sequences, skip_special_tokens: bool = False) -> list[str]:
        assert skip_special_tokens
        return ["".join(self.alphabet[i] for i in row if i > 1) for row in np.asarray(sequences).tolist()]


def test_compute_metrics_decodes_and_scores():
    predictions = ["我理解你的感受。", ""]  # an empty generation scores 0 instead of raising
    labels = ["我能理解你的感受。", "慢慢来。"]
    tokenizer = CharTokenizer("".join(sorted(set("".join(predictions + labels)))))
    width = 12

    def pad(text: str, value: int) -> list[int]:
        ids = tokenizer.encode(text) + [1]
        return ids + [value] * (width - len(ids))

    generated = np.array([pad(p, -100) for p in predictions])  # gathered generations are padded with -100
    label_ids = np.array([pad(label, -100) for label in labels])
    compute_metrics = make_compute_metrics(tokenizer)
    expected = compute_scores(predictions, labels)
    assert compute_metrics(EvalPrediction(predictions=generated, label_ids=label_ids)) == expected
    assert compute_metrics((generated, label_ids)) == expected
    assert compute_metrics(((generated, None), label_ids)) == expected
    individual = make_compute_metrics(tokenizer, ngram_weights="individual", num_proc=1)
    assert individual((generated, label_ids)) == compute_scores(predictions, labels, ngram_weights="individual")
