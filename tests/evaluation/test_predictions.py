"""predictions.jsonl: durable appends, and a truncated or unreadable last line dropped on reading."""

import json
from pathlib import Path

import pytest

from soulchat.evaluation import PredictionWriter, read_predictions


def _write(path: Path, count: int) -> bytes:
    with PredictionWriter(path) as writer:
        writer.write({"id": f"d{i}-1", "prediction": f"回复{i}", "reference": "参考"} for i in range(count))
    return path.read_bytes()


def test_writer_appends_and_reader_keys_by_id(tmp_path: Path):
    path = tmp_path / "predictions.jsonl"
    _write(path, 2)
    with PredictionWriter(path) as writer:
        writer.write([{"id": "x-1", "prediction": "\ud800 lone surrogate", "reference": ""}])
    records = read_predictions(path)
    assert list(records) == ["d0-1", "d1-1", "x-1"]
    assert records["d1-1"]["prediction"] == "回复1"
    assert records["x-1"]["prediction"] == "\ud800 lone surrogate"
    assert "回复0" in path.read_text(encoding="utf-8")  # readable UTF-8, not escapes


def test_truncated_last_line_is_dropped_and_cut_off(tmp_path: Path):
    path = tmp_path / "predictions.jsonl"
    whole = _write(path, 3)
    path.write_bytes(whole + b'{"id": "d3-1", "predic')  # killed mid-write
    assert list(read_predictions(path, repair=False)) == ["d0-1", "d1-1", "d2-1"]
    assert len(path.read_bytes()) > len(whole)
    assert list(read_predictions(path)) == ["d0-1", "d1-1", "d2-1"]
    assert path.read_bytes() == whole


def test_unreadable_last_line_is_dropped_but_damage_inside_raises(tmp_path: Path):
    path = tmp_path / "predictions.jsonl"
    whole = _write(path, 2)
    path.write_bytes(whole + b'{"id": "d2-1"\n')  # complete line, broken JSON
    assert list(read_predictions(path)) == ["d0-1", "d1-1"]
    assert path.read_bytes() == whole
    path.write_bytes(b"not json\n" + whole)
    with pytest.raises(ValueError, match="predictions.jsonl:1"):
        read_predictions(path)


def test_repeated_id_keeps_the_first_record(tmp_path: Path):
    path = tmp_path / "predictions.jsonl"
    lines = [{"id": "a", "prediction": "first"}, {"id": "a", "prediction": "second"}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    assert read_predictions(path)["a"]["prediction"] == "first"
    assert read_predictions(tmp_path / "missing.jsonl") == {}
