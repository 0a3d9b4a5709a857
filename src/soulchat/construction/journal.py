"""The run's durable state: the output dialogues and a journal of every finished record, both append-only.

A record is finished when its journal entry (`done`, `rejected` or `failed`) is written; a `done` record's
dialogue is written to the output first. A run that is killed and restarted with the same command reads both
files back, skips every finished record (so no finished API call is repeated), and carries on appending. A line
cut short by the kill is dropped (the file is truncated back to its last complete line) and its record is done
again; a dialogue whose journal entry was lost is recovered from the output.

Lines are flushed to the operating system as soon as they are written, which survives the process being killed;
`fsync` runs every `fsync_interval_s` and on close, which bounds what a power loss can take.
"""

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

logger = logging.getLogger(__name__)

FINISHED_STATUSES = ("done", "rejected", "failed")


def repair_tail(path: Path) -> int:
    """Truncate `path` after its last newline, dropping a line cut short; returns the bytes dropped."""
    if not path.is_file():
        return 0
    with open(path, "rb+") as f:
        size = f.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return 0
        keep, block = 0, 1 << 16
        pos = size
        while pos > 0:
            start = max(0, pos - block)
            f.seek(start)
            chunk = f.read(pos - start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                keep = start + nl + 1
                break
            pos = start
        f.truncate(keep)
    logger.warning("%s ended with an incomplete line (%d bytes), which was dropped", path, size - keep)
    return size - keep


def _read_lines(path: Path) -> Iterator[dict]:
    """The JSON objects of a JSON Lines file, one at a time, skipping (and logging) lines that do not parse."""
    if not path.is_file():
        return
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f):
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("%s line %d is not valid JSON; skipped", path, n + 1)
                continue
            if isinstance(value, dict):
                yield value


@dataclass
class ResumeState:
    """What earlier runs finished.

    Args:
        latest (`dict[str, tuple[str, str | None]]`): Key -> (status, reason) of its last journal entry.
        prompt_tokens (`int`): Prompt tokens spent by earlier runs.
        completion_tokens (`int`): Completion tokens spent by earlier runs.
        recovered (`list[str]`): Keys found in the output with no `done` journal entry (entry lost to a kill).
        dropped_bytes (`int`): Bytes of incomplete last lines removed from the two files.
    """

    latest: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    recovered: list[str] = field(default_factory=list)
    dropped_bytes: int = 0

    def is_finished(self, key: str, *, retry_failed: bool = False) -> bool:
        status = self.latest.get(key, (None, None))[0]
        return status is not None and not (retry_failed and status == "failed")


def load_state(
    output: Path, journal: Path, *, on_dialogue: Callable[[str, list[str]], None] | None = None
) -> ResumeState:
    """Read back the output and the journal of earlier runs (repairing a cut last line of either).

    Args:
        output (`Path`): The dialogues file.
        journal (`Path`): The journal file.
        on_dialogue (`Callable[[str, list[str]], None]`, *optional*): Called with the key and the utterances of
            each dialogue already in the output (to rebuild the near-duplicate index).
    """
    state = ResumeState(dropped_bytes=repair_tail(output) + repair_tail(journal))
    for entry in _read_lines(journal):
        key, status = entry.get("key"), entry.get("status")
        if not isinstance(key, str) or status not in FINISHED_STATUSES:
            continue
        state.latest[key] = (status, entry.get("reason"))
        state.prompt_tokens += int(entry.get("prompt_tokens") or 0)
        state.completion_tokens += int(entry.get("completion_tokens") or 0)
    for row in _read_lines(output):
        key = str(row.get("id"))
        if state.latest.get(key, (None,))[0] != "done":
            state.latest[key] = ("done", None)
            state.recovered.append(key)
        if on_dialogue is not None:
            on_dialogue(key, [m.get("content", "") for m in row.get("messages") or [] if isinstance(m, dict)])
    if state.recovered:
        logger.warning("%d dialogue(s) in %s had no journal entry; they count as done", len(state.recovered), output)
    return state


class RunFiles:
    """The append-only output and journal of a run. Use as a context manager.

    Args:
        output (`Path`): The SoulChatCorpus JSON Lines file.
        journal (`Path`): The journal JSON Lines file.
    """

    def __init__(self, output: Path, journal: Path):
        self.output_path, self.journal_path = Path(output), Path(journal)
        self._output: TextIO | None = None
        self._journal: TextIO | None = None

    def __enter__(self) -> "RunFiles":
        self.output_path.parent.mkdir(parents=True, exist_ok=True)
        self._output = open(self.output_path, "a", encoding="utf-8")
        self._journal = open(self.journal_path, "a", encoding="utf-8")
        return self

    def __exit__(self, *exc) -> None:
        self.sync()
        for f in (self._output, self._journal):
            if f is not None:
                f.close()
        self._output = self._journal = None

    def write(self, entry: dict, dialogue: dict | None = None) -> None:
        """Append a finished record: its dialogue first (when done), then its journal entry."""
        assert self._output is not None and self._journal is not None, "use RunFiles as a context manager"
        if dialogue is not None:
            self._output.write(json.dumps(dialogue, ensure_ascii=False) + "\n")
            self._output.flush()
        self._journal.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._journal.flush()

    def sync(self) -> None:
        """`fsync` both files (they are already flushed line by line)."""
        for f in (self._output, self._journal):
            if f is not None and not f.closed:
                f.flush()
                os.fsync(f.fileno())


__all__ = ["FINISHED_STATUSES", "ResumeState", "RunFiles", "load_state", "repair_tail"]
