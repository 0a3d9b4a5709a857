"""The test set of the generation benchmark: samples read from a prepared folder or a corpus file, then drawn.

A sample is a dict with `id`, `dialogue_id`, `topic`, `turn`, `prompt` (the SoulChat prompt, ending with
`心理咨询师：`) and `response` (the reference reply), as written by `soulchat prepare`.
"""

import hashlib
import logging
import random
from pathlib import Path

from soulchat.data.expansion import expand_dialogue
from soulchat.data.pipeline import CorpusPipeline, PipelineOptions

logger = logging.getLogger(__name__)

SAMPLE_COLUMNS = ("id", "dialogue_id", "topic", "turn", "prompt", "response")


def _load_prepared(folder: Path, split: str | None) -> tuple[list[dict], str]:
    """The samples of one split of a folder written by `soulchat prepare`, and that split's name."""
    import datasets

    not_prepared = f"{folder} is not a folder written by `soulchat prepare`"
    if not (folder / "samples").is_dir():
        raise ValueError(f"{not_prepared} (it has no samples/ table)")
    try:
        splits = datasets.load_dataset(str(folder), "samples")
    except ValueError as e:  # e.g. "BuilderConfig 'samples' not found" without the README that declares the table
        raise ValueError(f"{not_prepared} ({e})") from e
    if split is None:
        split = "test" if "test" in splits else "train"
    if split not in splits:
        raise ValueError(f"{folder} has no {split!r} split (it has {', '.join(splits)})")
    return splits[split].select_columns(list(SAMPLE_COLUMNS)).to_list(), split


def _load_corpus(path: Path, format: str) -> list[dict]:
    """Every sample of a corpus file, through the data pipeline (validated, repaired and de-duplicated)."""
    pipeline = CorpusPipeline(PipelineOptions(format=format))
    samples = [sample for dialogue, _ in pipeline.dialogues(path) for sample in expand_dialogue(dialogue)]
    report = pipeline.report
    logger.info("read %s: %d records, %d samples", path, report.records_read, len(samples))
    return samples


def make_ids_unique(samples: list[dict]) -> list[dict]:
    """Gives every sample a distinct `id`: the second and later samples with an id get `#2`, `#3`, ...

    Sample ids are `{dialogue_id}-{turn}`; a corpus may reuse a dialogue id, and predictions are keyed by sample id.
    The suffixes follow the order of the samples, which is the order of the data, so they are reproducible.

    Example:

    ```python
    >>> [s["id"] for s in make_ids_unique([{"id": "a-1"}, {"id": "a-1"}, {"id": "b-1"}])]
    ['a-1', 'a-1#2', 'b-1']
    ```
    """
    taken = {sample["id"] for sample in samples}  # a suffixed id never takes the name of a given one
    seen: set[str] = set()
    unique = []
    for sample in samples:
        new_id, count = sample["id"], 1
        while new_id in seen or (count > 1 and new_id in taken):
            count += 1
            new_id = f"{sample['id']}#{count}"
        seen.add(new_id)
        unique.append(sample if count == 1 else {**sample, "id": new_id})
    return unique


def load_test_samples(data: str | Path, *, split: str | None = None, format: str = "auto") -> tuple[list[dict], str]:
    """Reads the test samples of a prepared dataset folder or of a corpus file.

    Args:
        data (`str` or `Path`):
            A folder written by `soulchat prepare` (its `samples` table), or a corpus file in any supported format.
        split (`str`, *optional*):
            The split of a prepared folder: defaults to `test` when present, else `train`.
        format (`str`, *optional*, defaults to `"auto"`):
            The corpus format of a file.

    Returns:
        `tuple[list[dict], str]`: the samples in the order of the data, with unique ids, and the split read (`"all"`
        for a corpus file).
    """
    path = Path(data)
    if path.is_dir():
        samples, split = _load_prepared(path, split)
    elif path.is_file():
        if split is not None:
            logger.warning("--split %s ignored: %s is a corpus file, all of its samples are used", split, path)
        samples, split = _load_corpus(path, format), "all"
    else:
        raise FileNotFoundError(f"no dataset folder or corpus file at {path}")
    if not samples:
        raise ValueError(f"{path} ({split}) holds no samples")
    return make_ids_unique(samples), split


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_files(data: str | Path) -> dict[str, dict]:
    """The identity of the files a test set is read from, to tell whether they changed between two runs.

    Args:
        data (`str` or `Path`):
            A folder written by `soulchat prepare` (its `samples/` files are used) or a corpus file.

    Returns:
        `dict[str, dict]`: file name (relative to a folder) -> `{"size": bytes, "sha256": hex digest}`.
    """
    path = Path(data)
    if path.is_dir():
        files = sorted(file for file in (path / "samples").rglob("*") if file.is_file())
        names = [file.relative_to(path).as_posix() for file in files]
    else:
        files, names = [path], [path.name]
    return {
        name: {"size": file.stat().st_size, "sha256": _sha256(file)} for name, file in zip(names, files, strict=True)
    }


def select_samples(samples: list[dict], num_samples: int, seed: int) -> list[dict]:
    """Draws `num_samples` samples without replacement, reproducibly, keeping the order of the data.

    The draw depends only on the number of samples, `num_samples` and `seed` (never on the batch size or on a
    previous, interrupted run), so the same call always selects the same ids.

    Args:
        samples (`list[dict]`):
            The test set.
        num_samples (`int`):
            How many to draw; all of them when it is 0, negative, or at least `len(samples)`.
        seed (`int`):
            Seed of the draw.

    Returns:
        `list[dict]`: the drawn samples, in the order of `samples`.

    Example:

    ```python
    >>> rows = [{"id": str(i)} for i in range(10)]
    >>> [r["id"] for r in select_samples(rows, 3, seed=42)] == [r["id"] for r in select_samples(rows, 3, seed=42)]
    True
    ```
    """
    if num_samples <= 0 or num_samples >= len(samples):
        return list(samples)
    chosen = sorted(random.Random(seed).sample(range(len(samples)), num_samples))
    return [samples[i] for i in chosen]


__all__ = ["SAMPLE_COLUMNS", "data_files", "load_test_samples", "make_ids_unique", "select_samples"]
