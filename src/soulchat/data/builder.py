"""A `datasets` builder for SoulChatCorpus (and every format soulchat reads), registered as `"soulchat"`.

datasets 4+ has no loading scripts, so the builder lives in the package and `register_builder()` (called on
`import soulchat`) adds it to `datasets`' packaged modules. Then:

```python
>>> import soulchat
>>> from datasets import load_dataset
>>> samples = load_dataset("soulchat", data_files="SoulChatCorpus-sft-multi-Turn.json")  # doctest: +SKIP
>>> dialogues = load_dataset("soulchat", "dialogues", data_files={"train": "a.json", "test": "b.json"})  # doctest: +SKIP
```

Builder options pass through `load_dataset` as keywords: `format`, `repair`, `content_filter` (a list of
strings, or `True` for the paper's list), `deduplicate`, `long_message_chars`. De-duplication is per split and,
with `num_proc`, per worker.
"""

import inspect
import logging
from pathlib import Path

import datasets

from soulchat.data.card import CITATION
from soulchat.data.cleaning import PAPER_FILTER_STRINGS, ContentFilter
from soulchat.data.expansion import expand_dialogue
from soulchat.data.pipeline import CorpusPipeline, PipelineOptions
from soulchat.data.schema import dialogue_features, sample_features
from soulchat.data.validation import ValidationOptions

logger = logging.getLogger(__name__)

BUILDER_NAME = "soulchat"


class SoulChatConfig(datasets.BuilderConfig):
    """Options of the `"soulchat"` builder.

    Args:
        format (`str`, *optional*, defaults to `"auto"`): The corpus format, or `"auto"` per file.
        repair (`bool`, *optional*, defaults to `True`): Repair repairable defects instead of rejecting.
        content_filter (`bool | list[str]`, *optional*, defaults to `False`): The paper's cleaning rule:
            `True` for its list of strings, or a list of strings; `False` to keep everything.
        deduplicate (`bool`, *optional*, defaults to `True`): Drop exact duplicate dialogues.
        long_message_chars (`int`, *optional*, defaults to 2048): Flag (and log) longer messages.
    """

    def __init__(
        self,
        *,
        format: str = "auto",
        repair: bool = True,
        content_filter: bool | list[str] = False,
        deduplicate: bool = True,
        long_message_chars: int = 2048,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.format = format
        self.repair = repair
        self.content_filter = content_filter
        self.deduplicate = deduplicate
        self.long_message_chars = long_message_chars

    def pipeline_options(self) -> PipelineOptions:
        strings = PAPER_FILTER_STRINGS if self.content_filter is True else self.content_filter
        return PipelineOptions(
            format=self.format,
            validation=ValidationOptions(repair=self.repair, long_message_chars=self.long_message_chars),
            content_filter=ContentFilter(tuple(strings)) if strings else None,
            deduplicate=self.deduplicate,
        )


class SoulChat(datasets.GeneratorBasedBuilder):
    """Counselling dialogues as SoulChat training samples (config `samples`) or as dialogues (`dialogues`)."""

    BUILDER_CONFIG_CLASS = SoulChatConfig
    BUILDER_CONFIGS = [
        SoulChatConfig(name="samples", description="One (prompt, response) sample per counsellor turn."),
        SoulChatConfig(name="dialogues", description="The validated, normalised dialogues."),
    ]
    DEFAULT_CONFIG_NAME = "samples"

    def _info(self) -> datasets.DatasetInfo:
        samples = self.config.name != "dialogues"
        return datasets.DatasetInfo(
            description=self.config.description or "",
            features=sample_features() if samples else dialogue_features(),
            citation=CITATION,
            homepage="https://github.com/scutcyr/SoulChat",
        )

    def _split_generators(self, dl_manager: datasets.DownloadManager) -> list[datasets.SplitGenerator]:
        if not self.config.data_files:
            raise ValueError(
                'the "soulchat" builder needs data_files=..., e.g. load_dataset("soulchat", data_files=PATH)'
            )
        splits = []
        for split, files in self.config.data_files.items():
            paths = dl_manager.download_and_extract(list(files))
            splits.append(datasets.SplitGenerator(name=split, gen_kwargs={"files": paths}))
        return splits

    def _generate_examples(self, files: list[str]):
        pipeline = CorpusPipeline(self.config.pipeline_options())
        samples = self.config.name != "dialogues"
        for shard, path in enumerate(files):
            item = 0
            for dialogue, _ in pipeline.dialogues(Path(path)):
                rows = expand_dialogue(dialogue) if samples else [dialogue.to_row()]
                for row in rows:
                    yield datasets.builder.Key(shard, item), row
                    item += 1
        report = pipeline.report
        logger.info(
            "soulchat builder: %d records read, %d accepted, %d repaired, %d rejected %s, %d filtered, %d duplicates",
            report.records_read,
            report.status["accepted"],
            report.status["repaired"],
            report.status["rejected"],
            dict(report.rejections),
            report.status["filtered"],
            report.status["duplicate"],
        )


def _builder_hash() -> str:
    """A hash of the code that decides the builder's output, so that `datasets`' cache follows code changes."""
    from datasets.packaged_modules import _hash_python_lines

    from soulchat.data import cleaning, convert, expansion, formats, pipeline, readers, schema, validation

    modules = [cleaning, convert, expansion, formats, pipeline, readers, schema, validation]
    lines = [line for module in modules for line in inspect.getsource(module).splitlines()]
    return _hash_python_lines(lines + inspect.getsource(SoulChat).splitlines())


def register_builder() -> None:
    """Make `load_dataset("soulchat", ...)` resolve to `SoulChat` (idempotent).

    This uses `datasets.packaged_modules._PACKAGED_DATASETS_MODULES`, a private table; the test
    `tests/data/test_builder.py` fails loudly if a datasets release changes it.
    """
    from datasets import packaged_modules

    table = packaged_modules._PACKAGED_DATASETS_MODULES
    if table.get(BUILDER_NAME, ("",))[0] != __name__:
        table[BUILDER_NAME] = (__name__, _builder_hash())


__all__ = ["BUILDER_NAME", "SoulChat", "SoulChatConfig", "register_builder"]
