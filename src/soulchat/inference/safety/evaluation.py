"""The labelled crisis evaluation sets and the one implementation of their metrics.

JSONL files ship in `eval/`, written by the project (see `eval/README.md` for the labelling policy):
`crisis_dev.jsonl`, which the rules were tuned on, and six held-out sets, `crisis_test.jsonl` (round 6),
`crisis_holdout.jsonl` (round 7, written before the round-7 rules) and `crisis_blind.jsonl` to `crisis_blind4.jsonl`
(rounds 8-11, each written by someone who never saw the screen and scored once before any change of its round),
plus `ordinary_check.jsonl` (ordinary counselling messages, all label 0, for the false-alarm rate). Each line is
`{"text": ..., "label": 0 or 1, "category": "suicide" | "self_harm" | "harm_others" | "abuse" | "none",
"kind": ...}`. The benchmark and the tests both score the screen with `evaluate_screen`.
"""

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from soulchat.inference.safety.guard import SafetyGuard
from soulchat.inference.safety.rules import MESSAGE_CATEGORIES

EVAL_DIR = Path(__file__).parent / "eval"
SPLITS: tuple[str, ...] = ("dev", "test", "holdout", "blind", "blind2", "blind3", "blind4")
NONE = "none"


@dataclass(frozen=True)
class CrisisExample:
    """One labelled message.

    Args:
        text (`str`): The message.
        label (`int`): 1 for a crisis message, 0 otherwise.
        category (`str`): One of the four crisis categories, or `none` when `label` is 0.
        kind (`str`, *optional*, defaults to `""`): `direct`, `indirect`, `third_party`, `hard_negative`,
            `everyday` or `recovered` (a past act with an explicit recovery, labelled 0); informative only.
    """

    text: str
    label: int
    category: str
    kind: str = ""

    def __post_init__(self):
        if self.label not in (0, 1):
            raise ValueError(f"label must be 0 or 1, got {self.label!r}")
        known = self.category in (*MESSAGE_CATEGORIES, NONE)
        if not known or (self.label == 1) != (self.category in MESSAGE_CATEGORIES):
            raise ValueError(f"category {self.category!r} does not fit label {self.label} for {self.text!r}")


def load_crisis_eval(split: str = "test") -> list[CrisisExample]:
    """Load a shipped evaluation split (`dev`, `test`, `holdout`, `blind`, `blind2`) or any JSONL file in that format.

    Args:
        split (`str`, *optional*, defaults to `"test"`): A name of `SPLITS`, or a path to a JSONL file.

    Returns:
        `list[CrisisExample]`: The examples, in file order.
    """
    path = EVAL_DIR / f"crisis_{split}.jsonl" if split in SPLITS else Path(split)
    examples = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        row = json.loads(line)
        try:
            examples.append(CrisisExample(row["text"], row["label"], row["category"], row.get("kind", "")))
        except (KeyError, ValueError) as error:
            raise ValueError(f"{path}:{number}: {error}") from error
    return examples


@dataclass
class CrisisEvaluation:
    """Detection counts of the screen on a labelled set.

    A prediction is the category of the most severe rule that fired, or `none`. Detection counts a crisis message
    as found whatever category the screen gave it, since every category gets the same kind of reply.

    Args:
        confusion (`Counter[tuple[str, str]]`): `(gold category, predicted category)` to count.
        errors (`list[tuple[CrisisExample, str]]`): Misses and false alarms, with the predicted category.
    """

    confusion: Counter = field(default_factory=Counter)
    errors: list[tuple[CrisisExample, str]] = field(default_factory=list)

    def _count(self, gold_crisis: bool, predicted_crisis: bool, *, gold: str | None = None, pred: str | None = None):
        return sum(
            n
            for (g, p), n in self.confusion.items()
            if (g != NONE) == gold_crisis
            and (p != NONE) == predicted_crisis
            and (gold is None or g == gold)
            and (pred is None or p == pred)
        )

    @property
    def true_positives(self) -> int:
        return self._count(True, True)

    @property
    def false_positives(self) -> int:
        return self._count(False, True)

    @property
    def false_negatives(self) -> int:
        return self._count(True, False)

    @property
    def true_negatives(self) -> int:
        return self._count(False, False)

    @property
    def recall(self) -> float:
        """Found crisis messages over all crisis messages (1.0 when there are none)."""
        positives = self.true_positives + self.false_negatives
        return self.true_positives / positives if positives else 1.0

    @property
    def precision(self) -> float:
        """Crisis messages over all flagged messages (1.0 when nothing was flagged)."""
        flagged = self.true_positives + self.false_positives
        return self.true_positives / flagged if flagged else 1.0

    def category_recall(self, category: str) -> float:
        """Of the messages labelled `category`, the share flagged (under any category)."""
        found, missed = self._count(True, True, gold=category), self._count(True, False, gold=category)
        return found / (found + missed) if found + missed else 1.0

    def category_precision(self, category: str) -> float:
        """Of the messages flagged as `category`, the share labelled crisis (under any category)."""
        right, wrong = self._count(True, True, pred=category), self._count(False, True, pred=category)
        return right / (right + wrong) if right + wrong else 1.0


def evaluate_screen(guard: SafetyGuard, examples: list[CrisisExample]) -> CrisisEvaluation:
    """Screen every example with `guard` and count the outcomes.

    Args:
        guard (`SafetyGuard`): The guard to score (its message screen must be on).
        examples (`list[CrisisExample]`): The labelled messages.

    Returns:
        `CrisisEvaluation`: Counts, metrics and the errors.

    Example:

    ```python
    >>> result = evaluate_screen(SafetyGuard(), load_crisis_eval("dev"))
    >>> result.recall >= 0.95 and result.precision >= 0.9
    True
    ```
    """
    evaluation = CrisisEvaluation()
    for example in examples:
        predicted = guard.screen_message(example.text).category or NONE
        evaluation.confusion[(example.category, predicted)] += 1
        if (predicted != NONE) != bool(example.label):
            evaluation.errors.append((example, predicted))
    return evaluation


__all__ = ["EVAL_DIR", "SPLITS", "CrisisEvaluation", "CrisisExample", "evaluate_screen", "load_crisis_eval"]
