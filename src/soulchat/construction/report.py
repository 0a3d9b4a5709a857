"""The construction report: what this run did with every record, what all runs did together, and what it cost.

`run.records` always equals `done + rejected + failed` of this run; `total` counts every record finished by any
run of the same output (the last outcome of each), so a resumed run still reports the whole corpus.
"""

import time
from collections import Counter
from dataclasses import dataclass, field

from soulchat.construction.config import ModelPrice
from soulchat.construction.journal import ResumeState


@dataclass
class ConstructionReport:
    """Counters filled while a run goes.

    Args:
        input_items (`int`): Work items read from the input (within `max_records`).
        skipped (`int`): Items finished by an earlier run, not sent again.
        duplicate_keys (`int`): Items whose key repeats an earlier item's; skipped.
        status (`Counter`): This run's `done` / `rejected` / `failed` counts.
        rejected (`Counter`): Rejection reason -> count (invalid outputs, `content_filter`, `pii`,
            `near_duplicate`, `invalid_input`).
        failed (`Counter`): Failure reason -> count (`http_<status>`, `timeout`, `connection`, `bad_response`).
        retried_records (`int`): Records that needed more than one HTTP attempt or more than one generation.
        retries (`Counter`): Cause -> retries (`http_429`, `timeout`, ..., and `invalid:<reason>` for outputs
            generated again).
        requests (`int`): HTTP attempts made.
        prompt_tokens (`int`): Prompt tokens this run, as the server counted them.
        completion_tokens (`int`): Completion tokens this run.
        filter_matches (`Counter`): Filtered string -> dialogues rejected for it.
        pii (`Counter`): PII kind -> occurrences found (scrubbed or rejected).
    """

    input_items: int = 0
    skipped: int = 0
    duplicate_keys: int = 0
    status: Counter = field(default_factory=Counter)
    rejected: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    retried_records: int = 0
    retries: Counter = field(default_factory=Counter)
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    filter_matches: Counter = field(default_factory=Counter)
    pii: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    _latest: dict[str, tuple[str, str | None]] = field(default_factory=dict, repr=False)

    @property
    def records(self) -> int:
        return sum(self.status.values())

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def add(self, entry: dict) -> None:
        """Count one journal entry of this run."""
        status, reason = entry["status"], entry.get("reason")
        self.status[status] += 1
        if status in ("rejected", "failed"):
            getattr(self, status)[reason] += 1
        if entry.get("attempts", 0) > 1 or entry.get("generations", 0) > 1:
            self.retried_records += 1
        self.retries.update(entry.get("retries") or {})
        self.requests += entry.get("attempts", 0)
        self.prompt_tokens += entry.get("prompt_tokens", 0)
        self.completion_tokens += entry.get("completion_tokens", 0)
        self._latest[entry["key"]] = (status, reason)

    def to_dict(self, state: ResumeState, *, model: str, prices: dict[str, ModelPrice] | None = None) -> dict:
        """The report as JSON-ready data, with totals over `state` (earlier runs) and this run."""
        elapsed = time.monotonic() - self.started
        latest = {**state.latest, **self._latest}
        total_prompt = state.prompt_tokens + self.prompt_tokens
        total_completion = state.completion_tokens + self.completion_tokens
        price = (prices or {}).get(model)
        run = {
            "records": self.records,
            "input_items": self.input_items,
            "skipped_finished": self.skipped,
            "duplicate_keys": self.duplicate_keys,
            **{s: self.status[s] for s in ("done", "rejected", "failed")},
            "rejected_by_reason": dict(self.rejected.most_common()),
            "failed_by_reason": dict(self.failed.most_common()),
            "retried_records": self.retried_records,
            "retries_by_cause": dict(self.retries.most_common()),
            "requests": self.requests,
            "filter_matches": dict(self.filter_matches.most_common()),
            "pii_found": dict(self.pii.most_common()),
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "elapsed_s": round(elapsed, 3),
            "records_per_s": round(self.records / elapsed, 2) if elapsed > 0 else None,
            "tokens_per_s": round(self.tokens / elapsed, 1) if elapsed > 0 else None,
            "estimated_cost": None
            if price is None
            else round(price.cost(self.prompt_tokens, self.completion_tokens), 6),
        }
        statuses = Counter(status for status, _ in latest.values())
        total = {
            "records": len(latest),
            **{s: statuses[s] for s in ("done", "rejected", "failed")},
            "rejected_by_reason": dict(Counter(r for s, r in latest.values() if s == "rejected").most_common()),
            "failed_by_reason": dict(Counter(r for s, r in latest.values() if s == "failed").most_common()),
            "prompt_tokens": total_prompt,
            "completion_tokens": total_completion,
            "estimated_cost": None if price is None else round(price.cost(total_prompt, total_completion), 6),
            "recovered_from_output": len(state.recovered),
        }
        return {"model": model, "price_per_million_tokens": None if price is None else vars(price), "run": run,
                "total": total}  # fmt: skip


__all__ = ["ConstructionReport"]
