"""The run folder of `soulchat evaluate`: its files, and whether an existing one may be resumed.

A run folder is resumed only with the settings and the data it was started with (`run.json` records both), so that
predictions of other settings or other prompts are never mixed; `--overwrite` starts afresh.
"""

import json
import os
from pathlib import Path

from soulchat import __version__

PREDICTIONS_FILE = "predictions.jsonl"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
TABLE_FILE = "table.md"


def write_json(path: Path, value: dict) -> None:
    """Writes JSON through a temporary file and a rename, so the file is always whole."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _read_run_file(path: Path) -> dict:
    """The content of a `run.json`; a `ValueError` naming the file when it is not one."""
    try:
        run = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(
            f"{path} is corrupt ({e}); pass --overwrite to start afresh, or choose another --output"
        ) from e
    if not isinstance(run, dict) or not isinstance(run.get("settings"), dict):
        raise ValueError(
            f"{path} is not a run.json of `soulchat evaluate` (no settings); pass --overwrite to start afresh"
        )
    return run


def _data_changes(old: dict, new: dict) -> list[str]:
    """What differs between two [`data_files`] records, one phrase per file."""
    changes = []
    for name in sorted(old.keys() | new.keys()):
        before, after = old.get(name), new.get(name)
        if before is None:
            changes.append(f"{name} added")
        elif after is None:
            changes.append(f"{name} removed")
        elif before != after:
            changes.append(
                f"{name}: {before.get('size')} -> {after.get('size')} bytes, "
                f"sha256 {str(before.get('sha256'))[:12]} -> {str(after.get('sha256'))[:12]}"
            )
    return changes


def _mismatch(output: Path, previous: dict, record: dict, data: dict | None) -> str | None:
    """Why the run in `output` may not be resumed with these settings and data, or `None` when it may."""
    old = previous["settings"]
    if old != record:
        differing = sorted(key for key in record.keys() | old.keys() if record.get(key) != old.get(key))
        return f"{output} holds a run with other settings (differing: {', '.join(differing)})"
    changes = _data_changes(previous["data_files"], data) if data and previous.get("data_files") else []
    if changes:
        return (
            f"the --data changed since the run in {output} started ({'; '.join(changes)}), so its predictions may "
            "answer other prompts"
        )
    return None


def check_run_folder(output: Path, record: dict, *, overwrite: bool, data: dict | None = None) -> dict | None:
    """Checks whether the run folder may be resumed with these settings and data; reads it only.

    Args:
        output (`Path`):
            The run folder.
        record (`dict`):
            The run's settings ([`EvaluationConfig.run_record`] with the resolved split).
        overwrite (`bool`):
            Start afresh instead of refusing to mix predictions of other settings or data.
        data (`dict`, *optional*):
            The identity of the data files ([`data_files`]), compared with the one in `run.json` (a `run.json`
            without one, from an earlier version, is not compared).

    Returns:
        `dict | None`: the content of `run.json` to resume, or `None` to start afresh.
    """
    run_path = output / RUN_FILE
    if not run_path.is_file():
        if (output / PREDICTIONS_FILE).exists() and not overwrite:
            raise FileExistsError(
                f"{output} holds {PREDICTIONS_FILE} but no {RUN_FILE}; pass --overwrite to replace it"
            )
        return None
    try:
        previous = _read_run_file(run_path)
    except ValueError:
        if overwrite:
            return None
        raise
    problem = _mismatch(output, previous, record, data)
    if problem is None:
        return previous
    if overwrite:
        return None
    raise FileExistsError(f"{problem}; pass --overwrite to start afresh, or choose another --output")


def start_run_folder(output: Path, record: dict, previous: dict | None, *, data: dict | None = None) -> dict:
    """Creates the run folder and writes its `run.json`, deleting another run's files when `previous` is `None`.

    Returns:
        `dict`: the content of `run.json` (with the `generation` settings of an earlier run, if any).
    """
    output.mkdir(parents=True, exist_ok=True)
    if previous is None:
        for name in (PREDICTIONS_FILE, METRICS_FILE, TABLE_FILE):
            (output / name).unlink(missing_ok=True)
        previous = {"settings": record, "soulchat_version": __version__}
    if data is not None:
        previous["data_files"] = data
    write_json(output / RUN_FILE, previous)
    return previous


__all__ = [
    "METRICS_FILE",
    "PREDICTIONS_FILE",
    "RUN_FILE",
    "TABLE_FILE",
    "check_run_folder",
    "start_run_folder",
    "write_json",
]
