"""`predictions.jsonl`: one JSON line per generated sample, appended and synced batch by batch, so a run resumes.

A run killed at any point leaves complete lines followed by at most one truncated line (killed mid-write). Reading
the file back drops (and cuts off) that truncated line, so its sample is generated again; every complete line counts
as done, so no sample is generated twice.
"""

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path

from soulchat.data.jsonl import json_line

logger = logging.getLogger(__name__)


def _parse_line(line: bytes) -> dict | None:
    """The record of one line, or `None` when it is not a complete JSON object with an `id`."""
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) and "id" in record else None


def read_predictions(path: Path, *, repair: bool = True) -> dict[str, dict]:
    """Reads the complete records of a predictions file, keyed by sample id.

    Args:
        path (`Path`):
            The file; a missing file holds no records.
        repair (`bool`, *optional*, defaults to `True`):
            Cut a truncated last line (one without its newline, or that does not parse) off the file.

    Returns:
        `dict[str, dict]`: the records in file order; a repeated id keeps its first record.

    Raises:
        `ValueError`: when a line before the last is not a valid record (the file was not written by this module).
    """
    if not path.is_file():
        return {}
    content = path.read_bytes()
    lines = content.split(b"\n")
    # A complete file ends with a newline, so the last piece is empty; anything else there was cut mid-write.
    kept_bytes = len(content) - len(lines[-1])
    if lines[-1]:
        logger.warning(
            "%s: dropping a truncated last line (%d bytes); its sample is generated again", path, len(lines[-1])
        )
    records: dict[str, dict] = {}
    complete = lines[:-1]
    for number, line in enumerate(complete, start=1):
        record = _parse_line(line)
        if record is None:
            if number < len(complete):
                raise ValueError(f"{path}:{number}: not a JSON prediction record; is this a soulchat run folder?")
            logger.warning("%s: dropping an unreadable last line; its sample is generated again", path)
            kept_bytes -= len(line) + 1
            continue
        if record["id"] in records:
            logger.warning("%s:%d: sample %s appears again; keeping its first record", path, number, record["id"])
            continue
        records[record["id"]] = record
    if repair and kept_bytes < len(content):
        with open(path, "r+b") as file:
            file.truncate(kept_bytes)
            os.fsync(file.fileno())
    return records


class PredictionWriter:
    """Appends prediction records to a JSON Lines file, flushing and syncing after every batch.

    Args:
        path (`Path`):
            The file, created when missing; existing lines are kept.

    Example:

    ```python
    >>> with PredictionWriter(Path("predictions.jsonl")) as writer:  # doctest: +SKIP
    ...     writer.write([{"id": "d1-1", "prediction": "我理解你的感受。"}])
    ```
    """

    def __init__(self, path: Path):
        self.path = path
        # Held open across batches and closed by `close()` / the context manager.
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115

    def write(self, records: Iterable[dict]) -> None:
        """Writes one batch of records and makes it durable before returning."""
        self._file.write("".join(json_line(record) for record in records))
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "PredictionWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


__all__ = ["PredictionWriter", "read_predictions"]
