import importlib.util
from pathlib import Path

import datasets
import pytest

from soulchat.data.bundled import sample_corpus_path

SCRIPT = Path(__file__).resolve().parents[2] / "dataset_scripts" / "build_soulchat_corpus.py"


def _load():
    spec = importlib.util.spec_from_file_location("build_soulchat_corpus", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_builds_a_loadable_hub_folder(tmp_path):
    out = tmp_path / "corpus"
    report = _load().main([str(sample_corpus_path()), "--output", str(out), "--test-fraction", "0.2"])
    assert report["records_read"] == 60 and report["options"]["format"] == "soulchat"
    ds = datasets.load_dataset(str(out), "samples")
    assert ds["train"].num_rows + ds["test"].num_rows == sum(report["samples"].values())
    card = (out / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n") and "# SoulChatCorpus" in card


def test_input_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        _load().main([str(tmp_path / "nope.json"), "--output", str(tmp_path / "out")])
    expected = f"error: corpus input not found: {tmp_path / 'nope.json'}\n"
    assert stop.value.code == 2 and capsys.readouterr().err == expected
