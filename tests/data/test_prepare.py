"""`prepare_corpus`: Parquet shards, the card's configs and the report round-trip through `load_dataset`."""

import json

import datasets
import pytest
import yaml

from soulchat.data.bundled import sample_corpus_path
from soulchat.data.expansion import expand_dialogue
from soulchat.data.pipeline import CorpusPipeline, PipelineOptions
from soulchat.data.prepare import prepare_corpus


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    out = tmp_path_factory.mktemp("prep") / "ds"
    report = prepare_corpus([sample_corpus_path()], out, options=PipelineOptions(test_fraction=0.2), progress=False)
    return out, report


def test_load_dataset_round_trip_equals_the_expansion(prepared):
    out, report = prepared
    expected = {"train": [], "test": []}
    pipeline = CorpusPipeline(PipelineOptions(test_fraction=0.2))
    for dialogue, split in pipeline.dialogues(sample_corpus_path()):
        expected[split] += list(expand_dialogue(dialogue))
    samples = datasets.load_dataset(str(out), "samples")
    assert set(samples) == {"train", "test"}
    for split in ("train", "test"):
        assert samples[split].to_list() == expected[split]
        assert report["samples"][split] == len(expected[split]) > 0
    default = datasets.load_dataset(str(out))
    assert default["train"].column_names == samples["train"].column_names


def test_dialogues_config_round_trip(prepared):
    out, report = prepared
    dialogues = datasets.load_dataset(str(out), "dialogues")
    raw = {str(d["id"]): d for d in json.loads(sample_corpus_path().read_text(encoding="utf-8"))}
    rows = dialogues["train"].to_list() + dialogues["test"].to_list()
    assert len(rows) == len(raw) == report["dialogues"]["train"] + report["dialogues"]["test"]
    for row in rows:
        assert row["messages"] == raw[row["id"]]["messages"]
        assert row["topic"] == raw[row["id"]]["topic"]
        assert row["system"] is None and row["source"].endswith("soulchat_sample.json")
    assert isinstance(dialogues["train"].features["messages"], datasets.List)


def test_card_report_and_files(prepared):
    out, report = prepared
    card = (out / "README.md").read_text(encoding="utf-8")
    header = yaml.safe_load(card.split("---")[1])
    assert header["language"] == ["zh"]
    configs = {c["config_name"]: c for c in header["configs"]}
    assert configs["samples"]["default"] is True
    assert configs["dialogues"]["data_files"] == [
        {"split": "test", "path": "dialogues/test-*.parquet"},
        {"split": "train", "path": "dialogues/train-*.parquet"},
    ]
    assert "non-commercial research" in card and "心理咨询师：" in card
    on_disk = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert on_disk == json.loads(json.dumps(report, ensure_ascii=False))
    assert on_disk["records_read"] == on_disk["accepted"] == 60
    assert (out / "dropped.jsonl").read_text() == ""
    assert sorted(p.name for p in (out / "samples").iterdir()) == [
        "test-00000-of-00001.parquet",
        "train-00000-of-00001.parquet",
    ]


def test_small_shards_and_messy_input(tmp_path, messy_corpus):
    path, expected = messy_corpus
    out = tmp_path / "ds"
    report = prepare_corpus(
        [path, sample_corpus_path()], out, progress=False, options=PipelineOptions(format="soulchat")
    )
    shards = sorted(p.name for p in (out / "samples").iterdir())
    assert shards == ["train-00000-of-00001.parquet"]
    assert report["records_read"] == 13 + 60
    assert report["rejected"] == expected["rejected"]
    dropped = [json.loads(line) for line in (out / "dropped.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(dropped) == report["rejected"] + report["duplicate"] + report["filtered"]
    # the invalid UTF-8 bytes are kept (as escapes in a valid UTF-8 file) and recoverable exactly
    (bad,) = [d for d in dropped if d["reason"] == "invalid_utf8"]
    content = bad["record"]["messages"][0]["content"]
    assert content.encode("utf-8", "surrogateescape") == "只有".encode() + b"\xc3\x28"
    samples = datasets.load_dataset(str(out), "samples", split="train")
    assert len(samples) == report["samples"]["train"]


def test_output_is_protected_and_replaced_atomically(tmp_path):
    out = tmp_path / "ds"
    out.mkdir()
    (out / "mine.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="not empty"):
        prepare_corpus([sample_corpus_path()], out, progress=False)
    with pytest.raises(FileExistsError, match="not a folder written by soulchat prepare"):
        prepare_corpus([sample_corpus_path()], out, progress=False, overwrite=True)
    (out / "mine.txt").unlink()
    prepare_corpus([sample_corpus_path()], out, progress=False)
    prepare_corpus([sample_corpus_path()], out, progress=False, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ds"]  # no temporary folder left behind


def test_failure_leaves_no_partial_output(tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('[{"foo": 1}]')
    with pytest.raises(Exception, match="cannot detect"):
        prepare_corpus([bad], tmp_path / "ds", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.json"]


def test_a_test_split_left_empty_is_not_declared_and_the_folder_loads(tmp_path):
    from tests.data.conftest import good

    corpus = tmp_path / "one.json"
    corpus.write_text(json.dumps([good(1)], ensure_ascii=False), encoding="utf-8")
    output = tmp_path / "data"
    report = prepare_corpus([corpus], output, options=PipelineOptions(test_fraction=0.01), progress=False)
    assert report["dialogues"] == {"train": 1, "test": 0}  # the report still says so
    assert not list(output.glob("*/test-*.parquet"))
    assert "test-*.parquet" not in (output / "README.md").read_text(encoding="utf-8")
    assert list(datasets.load_dataset(str(output), "samples")) == ["train"]


def test_no_absolute_path_of_this_machine_is_published(tmp_path, monkeypatch):
    corpus = tmp_path / "inputs" / "corpus.json"
    corpus.parent.mkdir()
    corpus.write_text(sample_corpus_path().read_text(encoding="utf-8"), encoding="utf-8")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the input lies outside the working folder: only its name is kept
    report = prepare_corpus([corpus], tmp_path / "a", progress=False)
    assert [entry["path"] for entry in report["inputs"]] == ["corpus.json"]
    sources = set(datasets.load_dataset(str(tmp_path / "a"), "dialogues")["train"]["source"])
    assert sources == {"corpus.json"}
    monkeypatch.chdir(tmp_path)  # inside it: the path relative to it
    report = prepare_corpus([corpus], tmp_path / "b", progress=False)
    assert [entry["path"] for entry in report["inputs"]] == ["inputs/corpus.json"]
    assert str(tmp_path) not in (tmp_path / "b" / "report.json").read_text(encoding="utf-8")
