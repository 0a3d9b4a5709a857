"""`soulchat score`: reading plain-text and JSONL files, the table, the JSON output and the errors."""

import json

import pytest
from typer.testing import CliRunner

from soulchat.cli.main import app
from soulchat.cli.score import read_texts
from soulchat.metrics import compute_scores

PREDICTIONS = ["抱抱你，辛苦了！", "我理解你的感受。", " "]
REFERENCES = ["抱抱你，你辛苦了。", "我能理解你的感受。", "慢慢来。"]


@pytest.fixture
def files(tmp_path):
    predictions = tmp_path / "predictions.txt"
    predictions.write_text("\r\n".join(PREDICTIONS) + "\r\n", encoding="utf-8")  # CRLF line ends
    references = tmp_path / "test.jsonl"
    rows = [{"reference": REFERENCES[0]}, {"label": REFERENCES[1], "predict": "x"}, REFERENCES[2]]
    references.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n\n", encoding="utf-8")
    return predictions, references


def test_read_texts(files, tmp_path):
    predictions, references = files
    assert read_texts(predictions, ("prediction",)) == PREDICTIONS
    assert read_texts(references, ("reference", "label")) == REFERENCES
    multiline = tmp_path / "multi.jsonl"
    multiline.write_text('{"predict": "第一行\\n第二行\u2028", "label": "ref"}\r\n', encoding="utf-8")
    assert read_texts(multiline, ("prediction", "predict")) == ["第一行\n第二行\u2028"]
    array = tmp_path / "array.json"
    array.write_text(json.dumps([{"label": "一"}, "二"], ensure_ascii=False), encoding="utf-8")
    assert read_texts(array, ("reference", "label")) == ["一", "二"]
    blank_lines = tmp_path / "blank.txt"
    blank_lines.write_text("a\n\nb", encoding="utf-8")  # a blank line is an empty text; no final newline
    assert read_texts(blank_lines, ()) == ["a", "", "b"]


def test_score_json(files):
    predictions, references = files
    result = CliRunner().invoke(app, ["score", "-p", str(predictions), "-r", str(references), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == compute_scores(PREDICTIONS, REFERENCES)


def test_score_options_are_passed_on(files):
    predictions, references = files
    args = ["score", "-p", str(predictions), "-r", str(references), "--json", "--empty", "skip"]
    result = CliRunner().invoke(app, [*args, "--ngram-weights", "individual", "--num-proc", "1"])
    assert result.exit_code == 0, result.output
    expected = compute_scores(PREDICTIONS, REFERENCES, empty="skip", ngram_weights="individual")
    assert json.loads(result.stdout) == expected


def test_score_table(files):
    predictions, references = files
    result = CliRunner().invoke(app, ["score", "--predictions", str(predictions), "--references", str(references)])
    assert result.exit_code == 0, result.output
    scores = compute_scores(PREDICTIONS, REFERENCES)
    for header in ("B-1", "B-4", "R-1", "R-L", "3 pairs"):
        assert header in result.stdout
    assert f"{scores['bleu-1']:.2f}" in result.stdout and f"{scores['rouge-l']:.2f}" in result.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--empty", "raise"], "Hypothesis is empty."),
        (["--empty", "nothing"], "empty must be one of"),
        (["--ref-key", "missing"], "none of the fields missing"),
    ],
)
def test_score_errors(files, extra, message):
    predictions, references = files
    result = CliRunner().invoke(app, ["score", "-p", str(predictions), "-r", str(references), *extra])
    assert result.exit_code == 2
    assert message in " ".join(result.output.split())


def test_score_count_mismatch(files, tmp_path):
    _, references = files
    short = tmp_path / "short.txt"
    short.write_text("只有一行\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["score", "-p", str(short), "-r", str(references)])
    assert result.exit_code == 2
    assert "1 predictions but 3 references" in " ".join(result.output.split())
