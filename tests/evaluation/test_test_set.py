"""The benchmark's test set: prepared folders and corpus files, unique ids, and the reproducible draw."""

import json
from pathlib import Path

import datasets
import pytest

from soulchat.data.bundled import sample_corpus_path
from soulchat.evaluation import load_test_samples, make_ids_unique, select_samples


def test_prepared_folder_uses_the_test_split_by_default(prepared_folder: Path):
    splits = datasets.load_dataset(str(prepared_folder), "samples")
    samples, split = load_test_samples(prepared_folder)
    assert split == "test"
    assert [s["id"] for s in samples] == splits["test"]["id"]
    assert samples[0]["prompt"].endswith("心理咨询师：")
    train, split = load_test_samples(prepared_folder, split="train")
    assert split == "train" and [s["response"] for s in train] == splits["train"]["response"]


def test_unknown_split_and_missing_path_raise(prepared_folder: Path, tmp_path: Path):
    with pytest.raises(ValueError, match="no 'validation' split"):
        load_test_samples(prepared_folder, split="validation")
    with pytest.raises(FileNotFoundError):
        load_test_samples(tmp_path / "nothing")


def test_corpus_file_gives_the_samples_of_every_split(prepared_folder: Path):
    splits = datasets.load_dataset(str(prepared_folder), "samples")
    expected = {row["id"]: row for name in ("train", "test") for row in splits[name].to_list()}
    samples, split = load_test_samples(sample_corpus_path())
    assert split == "all"
    assert {s["id"]: s for s in samples} == expected


def test_repeated_dialogue_ids_get_distinct_sample_ids(tmp_path: Path):
    records = json.loads(sample_corpus_path().read_text(encoding="utf-8"))[:3]
    records[2]["id"] = records[0]["id"]  # a different dialogue under an id already used
    path = tmp_path / "corpus.json"
    path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
    samples, _ = load_test_samples(path)
    ids = [s["id"] for s in samples]
    assert len(set(ids)) == len(ids)
    first = records[0]["id"]
    assert f"{first}-1" in ids and f"{first}#2-1" in ids  # prepare renames a reused dialogue id
    for given in (["a-1", "a-1#2", "a-1"], ["a-1", "a-1", "a-1#2"]):  # a suffix that is also a given id
        ids = [s["id"] for s in make_ids_unique([{"id": i} for i in given])]
        assert len(set(ids)) == 3 and ids[: given.index("a-1#2") + 1][-1] == "a-1#2"
    assert make_ids_unique([{"id": "a"}, {"id": "b"}, {"id": "a"}, {"id": "a"}]) == [
        {"id": "a"},
        {"id": "b"},
        {"id": "a#2"},
        {"id": "a#3"},
    ]


def test_draw_is_reproducible_ordered_and_seed_dependent():
    rows = [{"id": f"d{i}-1"} for i in range(100)]
    first = select_samples(rows, 10, seed=42)
    assert first == select_samples(rows, 10, seed=42)
    assert first != select_samples(rows, 10, seed=43)
    positions = [rows.index(row) for row in first]
    assert positions == sorted(positions) and len(set(positions)) == 10
    assert select_samples(rows, 0, seed=1) == rows
    assert select_samples(rows, 1000, seed=1) == rows


def test_folder_not_written_by_prepare(tmp_path: Path):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "a.csv").write_text("x,y\n1,2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"junk is not a folder written by `soulchat prepare` \(it has no samples/"):
        load_test_samples(junk)
    (junk / "samples").mkdir()
    (junk / "samples" / "a.csv").write_text("x,y\n1,2\n", encoding="utf-8")  # a table, but no README declaring it
    with pytest.raises(ValueError, match="junk is not a folder written by `soulchat prepare` "):
        load_test_samples(junk)
