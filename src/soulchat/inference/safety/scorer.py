"""A small learned second opinion for the crisis screen: character n-gram logistic regression.

The hand-written rules catch what they list; on crisis messages phrased in ways nobody wrote a rule for they miss
a lot (see `eval/README.md`). This scorer, trained by `train_scorer.py` on the labelled development set only, looks
at every character 1-, 2- and 3-gram of the normalised message, so it also reacts to words it has seen in other
combinations. The guard asks it only when no rule fired, and only with `SafetyConfig(use_scorer=True)`: it is
experimental and off by default, because its negatives are too few and too short, and it flags many ordinary
long counselling messages (figures in `weights/README.md`).

The weights are a JSON file (`weights/crisis_ngram.json`): a binary detector (crisis or not) with its decision
threshold, and a four-way category model used to pick the reply. Scoring is a dictionary lookup per n-gram, with no
dependency beyond the standard library.
"""

import json
import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from soulchat.inference.safety.normalization import normalize_text

WEIGHTS_PATH = Path(__file__).parent / "weights" / "crisis_ngram.json"


def char_ngrams(text: str, orders: tuple[int, ...] = (1, 2, 3)) -> set[str]:
    """The distinct character n-grams of `text` (already normalised), for each order in `orders`.

    Example:

    ```python
    >>> sorted(char_ngrams("想死", (1, 2)))
    ['想', '想死', '死']
    ```
    """
    return {text[i : i + n] for n in orders for i in range(len(text) - n + 1)}


@dataclass(frozen=True)
class ScorerVerdict:
    """The scorer's view of one message.

    Args:
        probability (`float`): Estimated probability that the message is a crisis message, in [0, 1].
        flagged (`bool`): Whether `probability` reaches the threshold.
        category (`str`): The most likely crisis category (meaningful when `flagged`).
    """

    probability: float
    flagged: bool
    category: str


@dataclass(frozen=True)
class NgramScorer:
    """Character n-gram logistic regression over normalised messages.

    Args:
        orders (`tuple[int, ...]`): The n-gram orders used as features.
        threshold (`float`): The probability from which a message is flagged.
        bias (`float`): Detector bias.
        weights (`dict[str, float]`): Detector weight of each n-gram (absent n-grams weigh 0).
        categories (`tuple[str, ...]`): The category model's classes.
        category_bias (`tuple[float, ...]`): Category model bias, one per class.
        category_weights (`dict[str, tuple[float, ...]]`): Category model weights of each n-gram, one per class.
    """

    orders: tuple[int, ...]
    threshold: float
    bias: float
    weights: dict[str, float]
    categories: tuple[str, ...]
    category_bias: tuple[float, ...]
    category_weights: dict[str, tuple[float, ...]]

    @classmethod
    def from_file(cls, path: str | Path = WEIGHTS_PATH) -> "NgramScorer":
        """Load a weights file written by `train_scorer.py`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != "soulchat-crisis-ngram-v1":
            raise ValueError(f"{path}: not a soulchat crisis scorer file")
        categories = tuple(data["categories"])
        category_weights = {g: tuple(w) for g, w in data["category_model"]["weights"].items()}
        if any(len(w) != len(categories) for w in category_weights.values()):
            raise ValueError(f"{path}: category weights do not match the {len(categories)} categories")
        return cls(
            orders=tuple(data["orders"]),
            threshold=float(data["threshold"]),
            bias=float(data["detector"]["bias"]),
            weights={g: float(w) for g, w in data["detector"]["weights"].items()},
            categories=categories,
            category_bias=tuple(data["category_model"]["bias"]),
            category_weights=category_weights,
        )

    def probability(self, normalized: str) -> float:
        """Crisis probability of an already normalised message."""
        z = self.bias + sum(self.weights.get(g, 0.0) for g in char_ngrams(normalized, self.orders))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))

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


__all__ = ["WEIGHTS_PATH", "NgramScorer", "ScorerVerdict", "char_ngrams", "default_scorer"]
