"""The `"soulchat"` name in `datasets`: fails loudly if a datasets release breaks the registration."""

import json

import datasets
import pytest
from datasets import packaged_modules

import soulchat
from soulchat.data.builder import BUILDER_NAME, SoulChat
from soulchat.data.bundled import sample_corpus_path
from soulchat.data.expansion import expand_dialogue
from soulchat.data.pipeline import CorpusPipeline, PipelineOptions


def test_registration_is_in_datasets_private_table_and_idempotent():
    table = packaged_modules._PACKAGED_DATASETS_MODULES
    assert table[BUILDER_NAME][0] == "soulchat.data.builder", (
        "datasets changed _PACKAGED_DATASETS_MODULES; load_dataset('soulchat') no longer resolves to our builder"
    )
    before = dict(table)
    soulchat.register()
    from soulchat.data.builder import register_builder

    register_builder()
    assert dict(table) == before


def test_load_dataset_soulchat_samples_and_dialogues(tmp_path):
    path = sample_corpus_path()
    samples = datasets.load_dataset("soulchat", data_files=str(path), cache_dir=str(tmp_path))
    expected = [s for d, _ in CorpusPipeline(PipelineOptions()).dialogues(path) for s in expand_dialogue(d)]
    assert samples["train"].to_list() == expected
    dialogues = datasets.load_dataset("soulchat", "dialogues", data_files={"test": str(path)}, cache_dir=str(tmp_path))
    assert dialogues["test"].num_rows == 60
    assert dialogues["test"][0]["messages"][0]["role"] == "user"
    builder = datasets.load_dataset_builder("soulchat", data_files=str(path), cache_dir=str(tmp_path))
    assert isinstance(builder, SoulChat)


def test_builder_options_pass_through(tmp_path):
    records = [
        {
            "id": 1,
            "topic": "情绪",
            "messages": [{"role": "user", "content": "我是学生"}, {"role": "assistant", "content": "你好"}],
        },
        {
            "id": 2,
            "topic": "情绪",
            "messages": [
                {"role": "user", "content": "你好"},
                {"role": "assistant", "content": "你好"},
                {"role": "user", "content": "在吗"},
            ],
        },
    ]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    cache = str(tmp_path / "cache")
    assert datasets.load_dataset("soulchat", data_files=str(path), cache_dir=cache, split="train").num_rows == 2
    filtered = datasets.load_dataset(
        "soulchat", data_files=str(path), cache_dir=cache, split="train", content_filter=True
    )
    assert filtered["dialogue_id"] == ["2"]
    strict = datasets.load_dataset("soulchat", data_files=str(path), cache_dir=cache, split="train", repair=False)
    assert strict["dialogue_id"] == ["1"]


def test_missing_data_files_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # without data_files, datasets looks in the working directory
    with pytest.raises(datasets.data_files.EmptyDatasetError, match="doesn't contain any data files"):
        datasets.load_dataset("soulchat", cache_dir=str(tmp_path))
    builder = SoulChat(data_files=None, cache_dir=str(tmp_path))
    with pytest.raises(ValueError, match="needs data_files"):
        builder.download_and_prepare()


def test_parallel_workers_give_the_same_rows(tmp_path):
    from tests.data.conftest import good

    files = []
    for part in range(4):
        path = tmp_path / f"part{part}.json"
        path.write_text(json.dumps([good(part * 100 + i) for i in range(25)], ensure_ascii=False), encoding="utf-8")
        files.append(str(path))
    serial = datasets.load_dataset("soulchat", data_files=files, cache_dir=str(tmp_path / "a"), split="train")
    parallel = datasets.load_dataset(
        "soulchat", data_files=files, cache_dir=str(tmp_path / "b"), split="train", num_proc=2
    )
    assert serial.num_rows == 200
    assert sorted(parallel["id"]) == sorted(serial["id"])
    assert parallel.sort("id").to_list() == serial.sort("id").to_list()
