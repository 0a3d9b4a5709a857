"""`prepare_corpus`: corpus files in, a Hub-ready dataset folder out (Parquet shards, card, report).

The folder holds `samples/{split}-*.parquet`, `dialogues/{split}-*.parquet`, `README.md` (the dataset card
with `configs` for `load_dataset(folder, "samples")`), `report.json` and `dropped.jsonl` (every record that
was not kept, with its raw content). It is written to a temporary sibling and moved into place at the end,
so an interrupted run never leaves a half-written dataset behind.
"""

import json
import logging
import os
import shutil
import time
from pathlib import Path

from tqdm.auto import tqdm

from soulchat import __version__
from soulchat.data.card import render_card
from soulchat.data.expansion import expand_dialogue
from soulchat.data.jsonl import json_line
from soulchat.data.pipeline import CorpusPipeline, PipelineOptions
from soulchat.data.readers import display_path, expand_inputs
from soulchat.data.writer import dialogue_writer, sample_writer

logger = logging.getLogger(__name__)


def _check_output(output: Path, overwrite: bool) -> None:
    if output.exists() and (not output.is_dir() or any(output.iterdir())):
        if not overwrite:
            raise FileExistsError(f"{output} exists and is not empty; pass overwrite=True (--overwrite) to replace it")
        if not (output / "report.json").is_file():
            raise FileExistsError(f"{output} is not a folder written by soulchat prepare; refusing to replace it")


def _write_all(pipeline: CorpusPipeline, files: list[Path], writers: dict, *, progress: bool) -> None:
    """Stream every kept dialogue of `files` into the writers of its split, and close them."""
    with tqdm(
        total=sum(f.stat().st_size for f in files), unit="B", unit_scale=True, desc="prepare", disable=not progress
    ) as bar:
        for path in files:
            for dialogue, split in pipeline.dialogues(path, on_progress=bar.update):
                dialogues, samples = writers[split]
                dialogues.add(dialogue)
                for sample in expand_dialogue(dialogue):
                    samples.add(sample)
    for dialogues, samples in writers.values():
        dialogues.close()
        samples.close()


def prepare_corpus(
    inputs: list[Path],
    output: Path,
    *,
    options: PipelineOptions | None = None,
    overwrite: bool = False,
    progress: bool = True,
    name: str = "SoulChat counselling dialogues",
    license: str = "other",
    shard_bytes: int = 512 << 20,
) -> dict:
    """Read, validate, clean and expand corpus files into a dataset folder.

    Args:
        inputs (`list[Path]`): Corpus files or folders (searched recursively).
        output (`Path`): The dataset folder to write.
        options (`PipelineOptions`, *optional*): Format, repair, filter, de-duplication and split settings.
        overwrite (`bool`, *optional*, defaults to `False`): Replace an existing folder written by `prepare`.
        progress (`bool`, *optional*, defaults to `True`): Show a progress bar over the bytes read.
        name (`str`, *optional*): The dataset's title on its card.
        license (`str`, *optional*, defaults to `"other"`): The licence id in the card's metadata.
        shard_bytes (`int`, *optional*, defaults to 512 MiB): Uncompressed size of one Parquet shard.

    Returns:
        `dict`: the report, also written as `report.json`.
    """
    start = time.perf_counter()
    options = options or PipelineOptions()
    output = Path(output)
    files = expand_inputs(inputs)
    if not files:
        raise FileNotFoundError(f"no corpus files (.json, .jsonl, .txt) found in {', '.join(map(str, inputs))}")
    _check_output(output, overwrite)
    tmp = output.parent / f".{output.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    splits = ["train", "test"] if options.test_fraction > 0 else ["train"]
    writers = {
        s: (
            dialogue_writer(tmp / "dialogues", s, shard_bytes=shard_bytes),
            sample_writer(tmp / "samples", s, shard_bytes=shard_bytes),
        )
        for s in splits
    }
    try:
        with open(tmp / "dropped.jsonl", "w", encoding="utf-8") as dropped:
            pipeline = CorpusPipeline(options, on_drop=lambda entry: dropped.write(json_line(entry)))
            _write_all(pipeline, files, writers, progress=progress)
        report = pipeline.report.to_dict()
        for s in splits:
            report["dialogues"].setdefault(s, 0)
            report["samples"].setdefault(s, 0)
        for s in splits[1:]:
            if report["samples"][s] == 0:  # `load_dataset` refuses a declared split without rows: leave it out
                logger.warning(
                    "the %s split got no dialogues (too small a corpus for --test-fraction): not written", s
                )
                for shard in [*(tmp / "dialogues").glob(f"{s}-*.parquet"), *(tmp / "samples").glob(f"{s}-*.parquet")]:
                    shard.unlink()
        for entry in report["inputs"]:
            entry["path"] = display_path(entry["path"])  # report.json is published with the dataset
        report["options"] = options.to_dict()
        report["soulchat_version"] = __version__
        report["elapsed_s"] = round(time.perf_counter() - start, 3)
        (tmp / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
        (tmp / "README.md").write_text(render_card(report, name=name, license=license), encoding="utf-8")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if output.exists():
        shutil.rmtree(output)
    os.replace(tmp, output)
    return report


__all__ = ["prepare_corpus"]
