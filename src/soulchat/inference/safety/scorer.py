"""The learned half of the crisis screen: character n-gram logistic regression.

The hand-written rules catch what they list; on crisis messages phrased in ways nobody wrote a rule for they miss
a lot (see `eval/README.md`). This scorer, trained by `train_scorer.py` on the labelled development set, written
ordinary messages and half of the bundled sample corpus (never on a held-out set), looks at every character 1- to
4-gram of the normalised message, so it also reacts to words it has seen in other combinations. The guard asks it
when no rule fired (`SafetyConfig.use_scorer`, on by default); figures are in `weights/README.md`.

A crisis sentence said in passing inside a long, ordinary message is the typical miss of a whole-message model,
whose score the ordinary part dilutes. With `pooling="max"` the message score is the highest of the scores of the
whole message and of each of its sentences, so one alarming sentence is enough.

The weights are a JSON file (`weights/crisis_ngram.json`): a binary detector (crisis or not) with its decision
threshold, and a four-way category model used to pick the reply. Scoring is a dictionary lookup per n-gram, with no
dependency beyond the standard library.
"""

import json
import math
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from soulchat.inference.safety.normalization import normalize_text

WEIGHTS_PATH = Path(__file__).parent / "weights" / "crisis_ngram.json"
FORMAT = "soulchat-crisis-ngram-v2"
POOLINGS = ("message", "max")
# Full-width marks too, so that raw and normalised text split alike.
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…\n])")


def char_ngrams(text: str, orders: tuple[int, ...] = (1, 2, 3, 4)) -> set[str]:
    """The distinct character n-grams of `text` (already normalised), for each order in `orders`.

    Example:

    ```python
    >>> sorted(char_ngrams("想死", (1, 2)))
    ['想', '想死', '死']
    ```
    """
    return {text[i : i + n] for n in orders for i in range(len(text) - n + 1)}


def split_sentences(text: str) -> list[str]:
    """`text` cut after each sentence-final mark (`。！？!?；;…` or a line break), empty pieces dropped.

    Example:

    ```python
    >>> split_sentences("今天好累。想睡觉!")
    ['今天好累。', '想睡觉!']
    ```
    """
    return [piece for piece in _SENTENCE_END.split(text) if piece.strip()]


def segments(normalized: str, pooling: str) -> list[str]:
    """The pieces of a normalised message that are scored: the message, and with `max` pooling its sentences."""
    pieces = split_sentences(normalized) if pooling == "max" else []
    return [normalized, *pieces] if len(pieces) > 1 else [normalized]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


@dataclass(frozen=True)
class ScorerVerdict:
    """The scorer's view of one message.

    Args:
        probability (`float`): Estimated probability that the message is a crisis message, in [0, 1].
        flagged (`bool`): Whether `probability` reaches the threshold.
        category (`str`): The most likely crisis category when `flagged`, else `none`.
    """

    probability: float
    flagged: bool
    category: str


@dataclass(frozen=True)
class NgramScorer:
    """Character n-gram logistic regression over normalised messages.

    Args:
        orders (`tuple[int, ...]`): The n-gram orders used as features.
        threshold (`float`): The probability from which a message is flagged (`probability >= threshold`).
        bias (`float`): Detector bias.
        weights (`dict[str, float]`): Detector weight of each n-gram (absent n-grams weigh 0).
        categories (`tuple[str, ...]`): The category model's classes.
        category_bias (`tuple[float, ...]`): Category model bias, one per class.
        category_weights (`dict[str, tuple[float, ...]]`): Category model weights of each n-gram, one per class.
        pooling (`str`, *optional*, defaults to `"max"`): `message` scores the whole message; `max` takes the
            highest score of the message and each of its sentences.
        overrule_below (`float`, *optional*, defaults to 0.0): A rule hit below severity `critical` stands only when
            the probability is at least this (the guard's second opinion; 0 keeps every rule hit). Chosen by
            cross-validation in `train_scorer.py`.
    """

    orders: tuple[int, ...]
    threshold: float
    bias: float
    weights: dict[str, float]
    categories: tuple[str, ...]
    category_bias: tuple[float, ...]
    category_weights: dict[str, tuple[float, ...]]
    pooling: str = "max"
    overrule_below: float = 0.0

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {self.pooling!r}")
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1), got {self.threshold!r}")
        if not 0.0 <= self.overrule_below < self.threshold:
            raise ValueError(f"overrule_below must be in [0, threshold), got {self.overrule_below!r}")
        if len(self.category_bias) != len(self.categories) or any(
            len(w) != len(self.categories) for w in self.category_weights.values()
        ):
            raise ValueError(f"category weights do not match the {len(self.categories)} categories")

    @classmethod
    def from_file(cls, path: str | Path = WEIGHTS_PATH) -> "NgramScorer":
        """Load a weights file written by `train_scorer.py` (or by `to_file`)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"{path}: not a soulchat crisis scorer file of format {FORMAT}")
        try:
            return cls(
                orders=tuple(data["orders"]),
                threshold=float(data["threshold"]),
                bias=float(data["detector"]["bias"]),
                weights={g: float(w) for g, w in data["detector"]["weights"].items()},
                categories=tuple(data["categories"]),
                category_bias=tuple(float(b) for b in data["category_model"]["bias"]),
                category_weights={g: tuple(w) for g, w in data["category_model"]["weights"].items()},
                pooling=data["pooling"],
                overrule_below=float(data.get("overrule_below", 0.0)),
            )
        except ValueError as error:
            raise ValueError(f"{path}: {error}") from error

    def to_file(self, path: str | Path, **metadata: object) -> None:
        """Write the scorer as JSON (compact, n-grams sorted), with `metadata` stored beside it."""
        data = {
            "format": FORMAT,
            **metadata,
            "orders": list(self.orders),
            "pooling": self.pooling,
            "threshold": self.threshold,
            "overrule_below": self.overrule_below,
            "detector": {"bias": self.bias, "weights": dict(sorted(self.weights.items()))},
            "categories": list(self.categories),
            "category_model": {
                "bias": list(self.category_bias),
                "weights": {g: list(w) for g, w in sorted(self.category_weights.items())},
            },
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")

    def logit(self, normalized: str) -> float:
        """Detector logit of one piece of already normalised text, without pooling."""
        return self.bias + sum(self.weights.get(g, 0.0) for g in char_ngrams(normalized, self.orders))

    def probability(self, normalized: str) -> float:
        """Crisis probability of an already normalised message, pooled over its segments."""
        return _sigmoid(max(self.logit(piece) for piece in segments(normalized, self.pooling)))

    def category(self, normalized: str) -> str:
        """The most likely crisis category of an already normalised message."""
        scores = list(self.category_bias)
        for gram in char_ngrams(normalized, self.orders):
            for k, w in enumerate(self.category_weights.get(gram, ())):
                scores[k] += w
        return self.categories[max(range(len(scores)), key=scores.__getitem__)]

    def __call__(self, text: str, *, threshold: float | None = None) -> ScorerVerdict:
        """Score a raw message (it is normalised here).

        Args:
            text (`str`): The user's message.
            threshold (`float`, *optional*): Overrides the threshold stored with the weights.
        """
        normalized = normalize_text(text)
        probability = self.probability(normalized)
        flagged = probability >= (self.threshold if threshold is None else threshold)
        return ScorerVerdict(probability, flagged, self.category(normalized) if flagged else "none")


@cache
def default_scorer() -> NgramScorer:
    """The shipped scorer, loaded once."""
    return NgramScorer.from_file(WEIGHTS_PATH)


__all__ = [
    "FORMAT",
    "POOLINGS",
    "WEIGHTS_PATH",
    "NgramScorer",
    "ScorerVerdict",
    "char_ngrams",
    "default_scorer",
    "segments",
    "split_sentences",
]
