"""Train the crisis n-gram scorer and write its weights file.

    python -m soulchat.inference.safety.train_scorer [--output PATH] [--folds 5]

The training texts are assembled by `scorer_data.training_texts` (development set, written negatives, the training
half of the bundled sample corpus, and augmented copies); `eval/crisis_test.jsonl` and `eval/crisis_holdout.jsonl`
are never read. Training is deterministic (full-batch Adam from zero weights on sparse binary features, no
sampling), so the same files give the same weights byte for byte.

The decision threshold is chosen by grouped K-fold cross-validation on the training texts, never on held-out data:
a message and its augmented copies, and the turns of one dialogue, share a fold. The threshold is the lowest one at
which the scorer alone keeps a cross-validated precision of `PRECISION_FLOOR` on the labelled messages and flags at
most `FALSE_ALARM_CEILING` of the ordinary counselling messages it did not train on (the training-half corpus turns
and the labelled `everyday` messages). The second opinion on rule hits
(`overrule_below`) comes from the same cross-validation: the highest bar of `OVERRULE_GRID` that costs the whole
screen at most `OVERRULE_RECALL_LOSS` of recall on the labelled messages.
"""

import argparse
import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soulchat.inference.safety.normalization import normalize_text
from soulchat.inference.safety.rules import MESSAGE_CATEGORIES, RuleSet, default_rule_files
from soulchat.inference.safety.scorer import WEIGHTS_PATH, NgramScorer, char_ngrams, split_sentences
from soulchat.inference.safety.scorer_data import TrainingText, training_texts

logger = logging.getLogger(__name__)

ORDERS = (1, 2, 3, 4)
POOLING = "max"
MIN_DOCUMENT_FREQUENCY = 3
L2, LEARNING_RATE, STEPS = 1e-4, 0.05, 400
# A false alarm costs a kind reply with crisis resources instead of a generated one; a miss leaves a person in
# crisis without them, so the screen leans towards recall: at most 5 % of ordinary counselling messages may be
# flagged. Cross-validation in round 11 traded 2 % for recall 0.89 and 5 % for 0.93 (weights/README.md has the
# curve; `SafetyConfig.scorer_threshold` moves along it). Until round 10 the ceiling was 1 % of the corpus turns,
# an estimate a leak had biased to 0 % (see `scorer_data.py`).
PRECISION_FLOOR, FALSE_ALARM_CEILING = 0.92, 0.05
# Weights smaller than this change almost no score and only make the file larger (the category model only picks
# the reply, so it is pruned harder).
PRUNE_BELOW, CATEGORY_PRUNE_BELOW = 5e-3, 2e-2
DECIMALS = 4
# The second opinion (`NgramScorer.overrule_below`): the highest bar on this grid whose cross-validated recall of
# the whole screen (rules, then the scorer) on the labelled messages is at most this much below no second opinion.
OVERRULE_GRID = (0.02, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
OVERRULE_RECALL_LOSS = 0.005
# The original labelled messages (not their augmented copies) on which cross-validation picks the threshold.
LABELLED_SOURCES = ("dev", "written")


@dataclass(frozen=True)
class SparseRows:
    """Binary features of a batch of texts in coordinate form.

    Args:
        rows (`np.ndarray` of shape `(nnz,)`): Row (text) index of each non-zero.
        cols (`np.ndarray` of shape `(nnz,)`): Column (n-gram) index of each non-zero.
        shape (`tuple[int, int]`): `(texts, vocabulary size)`.
    """

    rows: np.ndarray
    cols: np.ndarray
    shape: tuple[int, int]

    def matmul(self, weights: np.ndarray) -> np.ndarray:
        """`X @ weights` for weights of shape `(d, k)`; shape `(n, k)`."""
        gathered = weights[self.cols]
        return np.stack(
            [np.bincount(self.rows, weights=gathered[:, k], minlength=self.shape[0]) for k in range(weights.shape[1])],
            axis=1,
        )

    def rmatmul(self, values: np.ndarray) -> np.ndarray:
        """`X.T @ values` for values of shape `(n, k)`; shape `(d, k)`."""
        gathered = values[self.rows]
        return np.stack(
            [np.bincount(self.cols, weights=gathered[:, k], minlength=self.shape[1]) for k in range(values.shape[1])],
            axis=1,
        )


def build_vocabulary(grams: list[set[str]], *, min_count: int | None = None) -> dict[str, int]:
    """N-grams present in at least `min_count` (default `MIN_DOCUMENT_FREQUENCY`) texts, sorted, to their index."""
    min_count = MIN_DOCUMENT_FREQUENCY if min_count is None else min_count
    counts: dict[str, int] = {}
    for doc in grams:
        for g in doc:
            counts[g] = counts.get(g, 0) + 1
    return {g: i for i, g in enumerate(sorted(g for g, c in counts.items() if c >= min_count))}


def featurize(grams: list[set[str]], vocabulary: dict[str, int]) -> SparseRows:
    """The binary feature rows of texts given as n-gram sets (n-grams outside `vocabulary` are dropped)."""
    rows, cols = [], []
    for row, doc in enumerate(grams):
        indices = sorted(vocabulary[g] for g in doc if g in vocabulary)
        rows += [row] * len(indices)
        cols += indices
    return SparseRows(np.array(rows, dtype=np.int64), np.array(cols, dtype=np.int64), (len(grams), len(vocabulary)))


def fit_logistic(
    features: SparseRows,
    targets: np.ndarray,
    sample_weight: np.ndarray,
    *,
    l2: float | None = None,
    steps: int = STEPS,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted logistic (one target column) or softmax regression with L2, by full-batch Adam from zero.

    Args:
        features (`SparseRows`): Inputs of shape `(n, d)`.
        targets (`np.ndarray` of shape `(n, k)`): One-hot targets; `k == 1` means binary with a sigmoid.
        sample_weight (`np.ndarray` of shape `(n,)`): Weight of each text in the loss.
        l2 (`float`, *optional*, defaults to `L2`): L2 penalty on the weights (not the bias).
        steps (`int`, *optional*): Adam steps.

    Returns:
        `tuple[np.ndarray, np.ndarray]`: Weights of shape `(d, k)` and biases of shape `(k,)`.
    """
    k, l2 = targets.shape[1], L2 if l2 is None else l2
    params = np.zeros((features.shape[1] + 1, k))  # the last row is the bias
    moment, velocity = np.zeros_like(params), np.zeros_like(params)
    scale = sample_weight[:, None] / sample_weight.sum()
    for step in range(1, steps + 1):
        logits = features.matmul(params[:-1]) + params[-1]
        if k == 1:
            probs = 1.0 / (1.0 + np.exp(-np.clip(logits, -50.0, 50.0)))
        else:
            probs = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs /= probs.sum(axis=1, keepdims=True)
        error = (probs - targets) * scale
        gradient = np.vstack([features.rmatmul(error) + l2 * params[:-1], error.sum(axis=0)])
        moment = 0.9 * moment + 0.1 * gradient
        velocity = 0.999 * velocity + 0.001 * gradient**2
        corrected = (moment / (1 - 0.9**step)) / (np.sqrt(velocity / (1 - 0.999**step)) + 1e-8)
        params -= LEARNING_RATE * corrected
    return params[:-1], params[-1]


def _with_sentences(texts: list[TrainingText]) -> list[TrainingText]:
    # With max pooling each sentence of a message is scored on its own, so the sentences of non-crisis texts are
    # negatives too (the crisis sentence of a crisis message is unknown, so only the whole message is a positive).
    extra = [
        TrainingText(s, 0, "none", t.group, t.source)
        for t in texts
        if not t.label and len(pieces := split_sentences(t.text)) > 1
        for s in pieces
    ]
    return texts + extra if POOLING == "max" else texts


def fit_scorer(texts: list[TrainingText], *, threshold: float = 0.5, categories: bool = True) -> NgramScorer:
    """Fit the detector and the category model on `texts` and return them as a scorer (pruned and rounded).

    Args:
        texts (`list[TrainingText]`): The training texts.
        threshold (`float`, *optional*, defaults to 0.5): The decision threshold stored with the scorer.
        categories (`bool`, *optional*, defaults to `True`): Fit the category model (cross-validation skips it,
            as the detector alone decides).
    """
    texts = _with_sentences(texts)
    grams = [char_ngrams(normalize_text(t.text), ORDERS) for t in texts]
    vocabulary = build_vocabulary(grams)
    features = featurize(grams, vocabulary)
    labels = np.array([t.label for t in texts], dtype=float)
    # Balanced classes: the positives together weigh as much as the negatives together.
    sample_weight = np.where(
        labels == 1, len(labels) / max(2 * labels.sum(), 1), len(labels) / max(2 * (1 - labels).sum(), 1)
    )
    weights, bias = fit_logistic(features, labels[:, None], sample_weight)
    category_weights, category_bias = np.zeros((len(vocabulary), len(MESSAGE_CATEGORIES))), np.zeros(4)
    if categories:
        crisis = [i for i, t in enumerate(texts) if t.label]
        one_hot = np.array([[texts[i].category == c for c in MESSAGE_CATEGORIES] for i in crisis], dtype=float)
        crisis_features = featurize([grams[i] for i in crisis], vocabulary)
        category_weights, category_bias = fit_logistic(crisis_features, one_hot, np.ones(len(crisis)))
    grams_by_index = sorted(vocabulary, key=vocabulary.get)
    return NgramScorer(
        orders=ORDERS,
        threshold=threshold,
        bias=round(float(bias[0]), DECIMALS),
        weights={
            g: round(float(w), DECIMALS)
            for g, w in zip(grams_by_index, weights[:, 0], strict=True)
            if abs(w) >= PRUNE_BELOW
        },
        categories=MESSAGE_CATEGORIES,
        category_bias=tuple(round(float(b), DECIMALS) for b in category_bias),
        category_weights={
            g: tuple(round(float(w), DECIMALS) for w in row)
            for g, row in zip(grams_by_index, category_weights, strict=True)
            if np.abs(row).max() >= CATEGORY_PRUNE_BELOW
        },
        pooling=POOLING,
    )


def cross_validate(texts: list[TrainingText], folds: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold crisis probabilities of the labelled messages (development set and written training messages)
    and of the ordinary counselling messages: the training-half corpus turns and the labelled `everyday` messages.

    Fold `i` holds the texts whose `group % folds == i`; a model trained on the other folds scores the original
    labelled messages and the corpus turns of fold `i`.

    Returns:
        `tuple[np.ndarray, np.ndarray, np.ndarray]`: Probabilities of the labelled messages, their labels, and the
        probabilities of the ordinary messages (corpus turns, then the `everyday` labelled messages).
    """
    dev = [t for t in texts if t.source in LABELLED_SOURCES]
    corpus = [t for t in texts if t.source == "corpus"]
    dev_probs, corpus_probs = np.zeros(len(dev)), np.zeros(len(corpus))
    for fold in range(folds):
        scorer = fit_scorer([t for t in texts if t.group % folds != fold], categories=False)
        for held, probs in ((dev, dev_probs), (corpus, corpus_probs)):
            for i, t in enumerate(held):
                if t.group % folds == fold:
                    probs[i] = scorer.probability(normalize_text(t.text))
        logger.info("fold %d/%d done", fold + 1, folds)
    everyday = np.array([t.kind == "everyday" and not t.label for t in dev], dtype=bool)
    return dev_probs, np.array([t.label for t in dev]), np.concatenate([corpus_probs, dev_probs[everyday]])


def choose_threshold(dev_probs: np.ndarray, dev_labels: np.ndarray, ordinary_probs: np.ndarray) -> float:
    """The lowest threshold (on a 0.01 grid) meeting `PRECISION_FLOOR` on the labelled messages and
    `FALSE_ALARM_CEILING` on the ordinary ones (0.95 when none does).

    Example:

    ```python
    >>> choose_threshold(np.array([0.9, 0.8, 0.3]), np.array([1, 1, 0]), np.array([0.2, 0.1]))
    0.31
    ```
    """
    for threshold in np.round(np.arange(0.05, 0.96, 0.01), 2):
        flagged = dev_probs >= threshold
        precision = (flagged & (dev_labels == 1)).sum() / max(flagged.sum(), 1)
        false_alarms = (ordinary_probs >= threshold).mean() if len(ordinary_probs) else 0.0
        if precision >= PRECISION_FLOOR and false_alarms <= FALSE_ALARM_CEILING:
            return float(threshold)
    return 0.95


def rule_hits(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Whether the shipped message rules fire on each text, and whether one of the hits is `critical`."""
    rules = RuleSet.from_files(default_rule_files(), target="message")
    matches = [rules.match(normalize_text(text)) for text in texts]
    fired = np.array([bool(m) for m in matches])
    critical = np.array([any(hit.severity == "critical" for hit in m) for m in matches])
    return fired, critical


def screen_decisions(
    probs: np.ndarray, fired: np.ndarray, critical: np.ndarray, threshold: float, overrule_below: float
) -> np.ndarray:
    """The screen's decision per text: a rule hit that stands (critical, or the scorer not under the bar), else
    the scorer at `threshold`."""
    standing = fired & (critical | (probs >= overrule_below))
    return standing | (~fired & (probs >= threshold))


def choose_overrule(
    probs: np.ndarray, labels: np.ndarray, fired: np.ndarray, critical: np.ndarray, threshold: float
) -> float:
    """The highest bar of `OVERRULE_GRID` costing at most `OVERRULE_RECALL_LOSS` of recall (0.0 when none does).

    Example:

    ```python
    >>> probs, labels = np.array([0.01, 0.12, 0.9]), np.array([0, 1, 1])
    >>> choose_overrule(probs, labels, np.array([True, True, False]), np.array([False] * 3), threshold=0.8)
    0.1
    ```
    """

    def recall(bar: float) -> float:
        flagged = screen_decisions(probs, fired, critical, threshold, bar)
        return (flagged & (labels == 1)).sum() / max(labels.sum(), 1)

    base, chosen = recall(0.0), 0.0
    for bar in OVERRULE_GRID:
        if bar < threshold and base - recall(bar) <= OVERRULE_RECALL_LOSS:
            chosen = bar
    return chosen


def train(*, output: Path = WEIGHTS_PATH, folds: int = 5, texts: list[TrainingText] | None = None) -> NgramScorer:
    """Choose the threshold by cross-validation, train on all texts and write the weights file.

    Args:
        output (`Path`, *optional*, defaults to the shipped weights path): Where to write the JSON file.
        folds (`int`, *optional*, defaults to 5): Cross-validation folds for the threshold; 0 keeps 0.5.
        texts (`list[TrainingText]`, *optional*): Train on these instead of `training_texts()` (for tests).

    Returns:
        `NgramScorer`: The scorer written.
    """
    texts = training_texts() if texts is None else texts
    threshold, overrule_below, metadata = 0.5, 0.0, {}
    if folds:
        dev_probs, dev_labels, ordinary_probs = cross_validate(texts, folds)
        threshold = choose_threshold(dev_probs, dev_labels, ordinary_probs)
        fired, critical = rule_hits([t.text for t in texts if t.source in LABELLED_SOURCES])
        overrule_below = choose_overrule(dev_probs, dev_labels, fired, critical, threshold)
        flagged = dev_probs >= threshold
        recall = float((flagged & (dev_labels == 1)).sum() / max(dev_labels.sum(), 1))
        precision = float((flagged & (dev_labels == 1)).sum() / max(flagged.sum(), 1))
        false_alarms = float((ordinary_probs >= threshold).mean()) if len(ordinary_probs) else 0.0
        metadata = {"cv": {"folds": folds, "recall": round(recall, 4), "precision": round(precision, 4)}}
        metadata["cv"]["ordinary_false_alarm_rate"] = round(false_alarms, 4)
        for name, bar in (("screen", overrule_below), ("screen_without_second_opinion", 0.0)):
            flagged = screen_decisions(dev_probs, fired, critical, threshold, bar)
            true = int((flagged & (dev_labels == 1)).sum())
            metadata["cv"][name] = {
                "recall": round(true / max(int(dev_labels.sum()), 1), 4),
                "precision": round(true / max(int(flagged.sum()), 1), 4),
            }
        logger.info(
            "second opinion: rule hits below critical stand from probability %.2f; %s", overrule_below, metadata["cv"]
        )
        logger.info(
            "%d-fold CV, scorer alone at threshold %.2f: labelled recall %.3f precision %.3f, ordinary false alarms %.1f%%",
            folds,
            threshold,
            recall,
            precision,
            100 * false_alarms,
        )
    scorer = dataclasses.replace(fit_scorer(texts, threshold=threshold), overrule_below=overrule_below)
    scorer.to_file(output, trained_on=sorted({t.source for t in texts}), texts=len(texts), **metadata)
    logger.info(
        "wrote %s (%d detector n-grams, %d category n-grams)",
        output,
        len(scorer.weights),
        len(scorer.category_weights),
    )
    return scorer


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train the crisis n-gram scorer (development data only).")
    parser.add_argument("--output", type=Path, default=WEIGHTS_PATH, help="Weights file to write.")
    parser.add_argument("--folds", type=int, default=5, help="Cross-validation folds for the threshold (0: 0.5).")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    train(output=args.output, folds=args.folds)


if __name__ == "__main__":
    main()
