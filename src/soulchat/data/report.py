"""The preparation report: what happened to every record read, with counts that always add up."""

from collections import Counter
from dataclasses import dataclass, field

STATUSES = ("accepted", "repaired", "rejected", "filtered", "duplicate")


@dataclass
class PrepareReport:
    """Counts of a preparation run.

    `records_read` always equals the sum of `status` over `STATUSES`; `check()` enforces it.
    """

    inputs: list[dict] = field(default_factory=list)
    records_read: int = 0
    status: Counter = field(default_factory=Counter)
    repairs: Counter = field(default_factory=Counter)
    rejections: Counter = field(default_factory=Counter)
    flags: Counter = field(default_factory=Counter)
    filter_matches: Counter = field(default_factory=Counter)
    dialogues: Counter = field(default_factory=Counter)
    samples: Counter = field(default_factory=Counter)
    messages: int = 0
    topics: dict[str, Counter] = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)
    max_examples: int = 50
    _int_ids: set = field(default_factory=set, repr=False)
    _ids: set = field(default_factory=set, repr=False)

    def count(self, status: str) -> None:
        self.records_read += 1
        self.status[status] += 1

    def note_drop(self, entry: dict) -> None:
        """Keep the first `max_examples` dropped records (without their raw text) as examples."""
        if len(self.examples) < self.max_examples:
            self.examples.append({k: v for k, v in entry.items() if k != "record"})

    def note_id(self, dialogue_id: str) -> bool:
        """Remember an id; returns `True` when it was seen before (a duplicate id with other content)."""
        if dialogue_id.isdigit():
            self._int_ids.add(int(dialogue_id))
        if dialogue_id in self._ids:
            return True
        self._ids.add(dialogue_id)
        return False

    def note_kept(self, *, topic: str | None, split: str, n_messages: int, n_samples: int) -> None:
        self.dialogues[split] += 1
        self.samples[split] += n_samples
        self.messages += n_messages
        per_topic = self.topics.setdefault(topic or "", Counter())
        per_topic["dialogues"] += 1
        per_topic["samples"] += n_samples

    @property
    def id_gaps(self) -> int:
        """How many integers between the smallest and largest integer id never appeared (numbering gaps)."""
        if not self._int_ids:
            return 0
        return max(self._int_ids) - min(self._int_ids) + 1 - len(self._int_ids)

    def check(self) -> None:
        total = sum(self.status[s] for s in STATUSES)
        if total != self.records_read:
            raise AssertionError(f"report counts do not add up: {total} != {self.records_read} records read")

    def to_dict(self) -> dict:
        self.check()
        return {
            "inputs": self.inputs,
            "records_read": self.records_read,
            **{s: self.status[s] for s in STATUSES},
            "repairs": dict(self.repairs.most_common()),
            "rejections": dict(self.rejections.most_common()),
            "flags": dict(self.flags.most_common()),
            "filter_matches": dict(self.filter_matches.most_common()),
            "id_gaps": self.id_gaps,
            "dialogues": dict(self.dialogues),
            "samples": dict(self.samples),
            "messages": self.messages,
            "topics": {t: dict(c) for t, c in sorted(self.topics.items(), key=lambda kv: -kv[1]["dialogues"])},
            "examples": self.examples,
        }


__all__ = ["STATUSES", "PrepareReport"]
