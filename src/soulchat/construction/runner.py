"""The construction loop: QA items in, validated, cleaned SoulChatCorpus dialogues out, every record accounted for.

For each work item: render the template, ask the endpoint, parse and check the output (an invalid one is asked
for again, up to `max_generations`), scrub or reject personal information, apply the paper's content filter and
the near-duplicate check, then write the dialogue and a journal entry. Each item ends exactly once as `done`,
`rejected` (with a reason) or `failed` (the endpoint never answered usefully), and a restarted run skips the
items already finished.

    >>> from pathlib import Path
    >>> from soulchat.construction import ClientConfig, ConstructionConfig, construct_corpus
    >>> URL = "http://127.0.0.1:8000/v1"  # any OpenAI-compatible endpoint
    >>> report = construct_corpus(ConstructionConfig(input=Path("qa.jsonl"), output=Path("out.jsonl"),
    ...                                              client=ClientConfig(base_url=URL, model="gpt-4o-mini")))
"""

import asyncio
import json
import logging
import signal
import threading
from collections import Counter
from collections.abc import Callable, Iterator

from soulchat.construction.client import ChatClient, Completion, RequestFailed
from soulchat.construction.config import ConstructionConfig
from soulchat.construction.dedup import NearDuplicateIndex
from soulchat.construction.inputs import QAItem, iter_qa_items
from soulchat.construction.journal import ResumeState, RunFiles, load_state
from soulchat.construction.parsing import Turn, check_turns, label_pattern, parse_turns
from soulchat.construction.privacy import PiiScrubber
from soulchat.construction.report import ConstructionReport
from soulchat.construction.templates import load_template
from soulchat.data.cleaning import ContentFilter
from soulchat.data.schema import Dialogue, Message

logger = logging.getLogger(__name__)

# Kept in the journal entry of a rejected record so that rejections can be audited; longer text is cut.
_KEEP_OUTPUT_CHARS = 20_000


class Constructor:
    """Runs one construction; `run()` once.

    Args:
        config (`ConstructionConfig`): The whole run.
        on_record (`Callable[[dict, ConstructionReport], None]`, *optional*): Called after each finished record
            with its journal entry and the report so far (progress bars).
    """

    def __init__(
        self, config: ConstructionConfig, *, on_record: Callable[[dict, ConstructionReport], None] | None = None
    ):
        self.config = config
        self.template = load_template(config.template)
        self.on_record = on_record
        self.report = ConstructionReport()
        checks = config.checks
        self._min_rounds = checks.min_rounds if checks.min_rounds is not None else self.template.min_rounds
        self._max_rounds = checks.max_rounds if checks.max_rounds is not None else self.template.max_rounds
        self._pattern = label_pattern(self.template)
        self._temperature = (
            config.client.temperature if config.client.temperature is not None else self.template.temperature
        )
        cleaning = config.cleaning
        self._filter = ContentFilter(cleaning.filter_strings) if cleaning.filter_strings else None
        self._scrubber = PiiScrubber() if cleaning.pii != "off" else None
        self._dedup = (
            NearDuplicateIndex(threshold=cleaning.dedup_threshold, num_perm=cleaning.dedup_num_perm)
            if cleaning.near_duplicates
            else None
        )
        self.state = ResumeState()
        self._loaded = False
        self._client: ChatClient | None = None
        self._files: RunFiles | None = None

    def load(self) -> ResumeState:
        """Read back what earlier runs of the same output finished (and rebuild the near-duplicate index)."""
        on_dialogue = self._dedup.add if self._dedup is not None else None
        self.state = load_state(self.config.output, self.config.journal_path, on_dialogue=on_dialogue)
        self._loaded = True
        if self.state.latest:
            logger.info("resuming: %d record(s) already finished in %s", len(self.state.latest), self.config.output)
        return self.state

    def pending(self) -> Iterator[QAItem]:
        """The work items still to do, in input order (counting skipped and duplicate items in the report)."""
        seen: set[str] = set()
        items = iter_qa_items(self.config.input, format=self.config.input_format)
        for n, item in enumerate(items):
            if self.config.max_records is not None and n >= self.config.max_records:
                break
            self.report.input_items += 1
            if item.key in seen:
                self.report.duplicate_keys += 1
                logger.warning("input key %r repeats an earlier item; skipped", item.key)
                continue
            seen.add(item.key)
            if self.state.is_finished(item.key, retry_failed=self.config.retry_failed):
                self.report.skipped += 1
                continue
            yield item

    def count_pending(self) -> int:
        """How many items `run()` will process (one pass over the input, counters left as they were)."""
        if not self._loaded:
            self.load()
        saved = self.report
        self.report = ConstructionReport()
        try:
            return sum(1 for _ in self.pending())
        finally:
            self.report = saved

    async def run(self) -> dict:
        """Process every pending item; write and return the report (also when interrupted)."""
        if not self._loaded:
            self.load()
        n_workers = 2 * self.config.client.concurrency  # more workers than slots: backoff sleeps free their slot
        queue: asyncio.Queue = asyncio.Queue(maxsize=4 * n_workers)
        with RunFiles(self.config.output, self.config.journal_path) as files:
            self._files = files
            async with ChatClient(self.config.client) as client:
                self._client = client
                tasks = [asyncio.create_task(self._produce(queue, n_workers))]
                tasks += [asyncio.create_task(self._worker(queue)) for _ in range(n_workers)]
                syncer = asyncio.create_task(self._sync_periodically())
                try:
                    # The first error (a FatalAPIError) ends the run, even with the producer waiting on a full queue.
                    await asyncio.gather(*tasks)
                finally:
                    tasks.append(syncer)
                    for task in tasks:
                        task.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    report = self.write_report()
        return report

    def to_dict(self) -> dict:
        report = self.report.to_dict(self.state, model=self.config.client.model, prices=self.config.prices)
        return {**report, "template": self.template.name, "output": str(self.config.output),
                "config": self.config.to_dict()}  # fmt: skip

    def write_report(self) -> dict:
        """Write the report beside the output (`<output>.report`, JSON) and return it."""
        report = self.to_dict()
        self.config.report_path.write_text(json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        return report

    async def _produce(self, queue: asyncio.Queue, n_workers: int) -> None:
        for item in self.pending():
            await queue.put(item)
        for _ in range(n_workers):
            await queue.put(None)

    async def _worker(self, queue: asyncio.Queue) -> None:
        while (item := await queue.get()) is not None:
            entry, dialogue = await self._process(item)
            assert self._files is not None
            self._files.write(entry, dialogue)
            self.report.add(entry)
            if self.on_record is not None:
                self.on_record(entry, self.report)

    async def _sync_periodically(self) -> None:
        while True:
            await asyncio.sleep(self.config.fsync_interval_s)
            if self._files is not None:
                await asyncio.to_thread(self._files.sync)

    async def _process(self, item: QAItem) -> tuple[dict, dict | None]:
        """The journal entry of one item, and its dialogue row when done."""
        entry: dict = {"key": item.key, "status": "rejected", "reason": None, "attempts": 0, "generations": 0,
                       "prompt_tokens": 0, "completion_tokens": 0, "retries": Counter()}  # fmt: skip
        if item.error is not None:
            entry.update(reason="invalid_input", detail=item.error)
            return _finish(entry), None
        prompt = self.template.render(question=item.question, answer=item.answer, topic=item.topic)
        turns, completion = await self._generate(prompt, entry)
        if turns is None:
            if completion is not None:
                entry["output"] = completion.text[:_KEEP_OUTPUT_CHARS]
            return _finish(entry), None
        dialogue = Dialogue(id=item.key, topic=item.topic, messages=[Message(t.role, t.content) for t in turns])
        problem = self._clean(dialogue)
        if problem is not None:
            entry.update(reason=problem[0], detail=problem[1], output=completion.text[:_KEEP_OUTPUT_CHARS])
            return _finish(entry), None
        entry.update(status="done", reason=None)
        messages = [{"role": m.role, "content": m.content} for m in dialogue.messages]
        row = {"id": item.key, "topic": item.topic, "messages": messages}
        return _finish(entry), row

    async def _generate(self, prompt: str, entry: dict) -> tuple[list[Turn] | None, Completion | None]:
        """Ask until an output passes the checks; fills `entry` (status failed, or the last invalid reason)."""
        assert self._client is not None
        completion = None
        for generation in range(1, self.config.checks.max_generations + 1):
            entry["generations"] = generation
            try:
                completion = await self._client.complete(
                    [{"role": "user", "content": prompt}],
                    temperature=self._temperature,
                    on_retry=lambda cause: entry["retries"].update((cause,)),
                )
            except RequestFailed as e:
                entry.update(
                    status="failed", reason=e.reason, detail=e.detail, attempts=entry["attempts"] + e.attempts
                )
                return None, completion
            entry["attempts"] += completion.attempts
            entry["prompt_tokens"] += completion.prompt_tokens
            entry["completion_tokens"] += completion.completion_tokens
            turns, problem = self._read(completion)
            if problem is None:
                return turns, completion
            entry.update(reason=problem[0], detail=problem[1])
            if generation < self.config.checks.max_generations:
                entry["retries"][f"invalid:{problem[0]}"] += 1
        return None, completion

    def _read(self, completion: Completion) -> tuple[list[Turn], tuple[str, str] | None]:
        if completion.finish_reason == "length":
            return [], ("truncated_output", f"{completion.completion_tokens} completion tokens, finish_reason length")
        if not completion.text.strip():
            return [], ("empty_output", f"finish_reason {completion.finish_reason!r}")
        turns = parse_turns(completion.text, self.template, pattern=self._pattern)
        problem = check_turns(turns, min_rounds=self._min_rounds, max_rounds=self._max_rounds,
                              max_utterance_chars=self.config.checks.max_utterance_chars)  # fmt: skip
        return turns, problem

    def _clean(self, dialogue: Dialogue) -> tuple[str, str] | None:
        """Scrub (or reject) personal information, then the content filter and the near-duplicate check."""
        if self._scrubber is not None:
            found: Counter = Counter()
            for message in dialogue.messages:
                message.content, hits = self._scrubber.scrub(message.content)
                found.update(hits)
            self.report.pii.update(found)
            if found and self.config.cleaning.pii == "reject":
                return "pii", "found " + ", ".join(f"{n} {kind}" for kind, n in sorted(found.items()))
        if self._filter is not None:
            hit = self._filter.match(dialogue)
            if hit is not None:
                self.report.filter_matches[hit[0]] += 1
                return "content_filter", f"message {hit[1]} contains {hit[0]!r}"
        if self._dedup is not None:
            other = self._dedup.check_and_add(dialogue.id, [m.content for m in dialogue.messages])
            if other is not None:
                return "near_duplicate", f"nearly duplicates the dialogue {other!r}"
        return None


def _finish(entry: dict) -> dict:
    entry["retries"] = dict(entry["retries"])
    if entry["status"] == "done":
        entry.pop("reason", None)
    return entry


def construct_corpus(
    config: ConstructionConfig, *, on_record: Callable[[dict, ConstructionReport], None] | None = None
) -> dict:
    """Run a construction to the end and return its report (see `Constructor` and `run_construction`)."""
    return run_construction(Constructor(config, on_record=on_record))


def run_construction(constructor: Constructor) -> dict:
    """Run `constructor` in a new event loop and return its report.

    SIGTERM and SIGINT (when called from the main thread) cancel the run cleanly: the report is written and
    `asyncio.CancelledError` is raised. What was finished is kept either way.
    """
    return asyncio.run(_run_with_signals(constructor))


async def _run_with_signals(constructor: Constructor) -> dict:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    handled = []
    if threading.current_thread() is threading.main_thread() and task is not None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                loop.add_signal_handler(sig, task.cancel)
                handled.append(sig)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - not on Windows
                pass
    try:
        return await constructor.run()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)


__all__ = ["Constructor", "construct_corpus", "run_construction"]
