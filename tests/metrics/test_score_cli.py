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
        (["--empty", "raise"], "pair 3: the prediction is empty or blank; pass --empty zero"),
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


def _strict_json(text):
    """Parse JSON that must not hold NaN or Infinity (which are not JSON)."""

    def refuse(name):
        raise ValueError(f"not JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def test_txt_of_json_objects_is_read_as_json_lines(tmp_path):
    # ChatGLM-6B p-tuning's generated_predictions.txt: one {"labels", "predict"} object per line.
    path = tmp_path / "generated_predictions.txt"
    rows = [{"labels": "我能理解你的感受。", "predict": "我理解你的感受。"}, {"labels": "不好意思", "predict": "你好"}]
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n\n", encoding="utf-8")
    assert read_texts(path, ("prediction", "predict")) == ["我理解你的感受。", "你好"]
    assert read_texts(path, ("reference", "labels")) == ["我能理解你的感受。", "不好意思"]
    result = CliRunner().invoke(app, ["score", "-p", str(path), "-r", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == compute_scores(
        ["我理解你的感受。", "你好"], ["我能理解你的感受。", "不好意思"]
    )
    assert "reading it as JSON Lines" in " ".join(result.stderr.split())
    # A line that is not such an object keeps the whole file plain text.
    mixed = tmp_path / "mixed.txt"
    mixed.write_text('{"predict": "a"}\n{"other": "b"}\n', encoding="utf-8")
    assert read_texts(mixed, ("predict",)) == ['{"predict": "a"}', '{"other": "b"}']


@pytest.mark.parametrize(
    ("name", "content"),
    [("p.txt", "抱抱你\n好\n"), ("p.jsonl", '"抱抱你"\n{"text": "好"}\n'), ("p.json", '["抱抱你", {"text": "好"}]')],
)
def test_bom_is_stripped(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + content.encode("utf-8"))
    assert read_texts(path, ("text",)) == ["抱抱你", "好"]


def test_file_that_is_not_utf8_is_named(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("café\n".encode("latin-1"))
    result = CliRunner().invoke(app, ["score", "-p", str(path), "-r", str(path)])
    assert result.exit_code == 2
    assert f"{path}: not UTF-8 text (byte 0xe9 at offset 3)" in "".join(result.output.split("\n"))


def test_json_output_is_valid_json_and_empty_input_is_an_error(tmp_path):
    predictions, references = tmp_path / "p.txt", tmp_path / "r.txt"
    predictions.write_text(" \n", encoding="utf-8")
    references.write_text("慢慢来。\n", encoding="utf-8")
    args = ["score", "-p", str(predictions), "-r", str(references), "--json", "--empty", "skip"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert _strict_json(result.stdout) == dict.fromkeys(compute_scores(["a"], ["a"]), None)  # nothing left to score
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    result = CliRunner().invoke(app, ["score", "-p", str(empty), "-r", str(empty), "--json"])
    assert result.exit_code == 2 and result.stdout == ""
    assert "error: no pairs to score" in result.output


def test_skip_reports_scored_and_skipped_pairs(files):
    predictions, references = files
    result = CliRunner().invoke(app, ["score", "-p", str(predictions), "-r", str(references), "--empty", "skip"])
    assert result.exit_code == 0, result.output
    assert "2 pairs scored, 1 skipped (empty side)" in result.stdout
    scores = compute_scores(PREDICTIONS[:2], REFERENCES[:2])
    assert f"{scores['bleu-1']:.2f}" in result.stdout
    result = CliRunner().invoke(app, ["score", "-p", str(predictions), "-r", str(references)])
    assert "3 pairs (×100" in result.stdout and "skipped" not in result.stdout
