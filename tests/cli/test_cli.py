import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from soulchat.cli.main import app
from soulchat.data.bundled import sample_corpus_path

runner = CliRunner()


def test_console_script_lists_subcommands():
    exe = Path(sys.executable).parent / "soulchat"
    assert exe.is_file(), "the soulchat console script is not installed beside the interpreter"
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    for command in ("prepare", "demo"):
        assert command in result.stdout


def test_version():
    from soulchat import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"soulchat {__version__}"


def test_prepare_json_report(tmp_path):
    result = runner.invoke(
        app,
        [
            "prepare",
            str(sample_corpus_path()),
            "-o",
            str(tmp_path / "ds"),
            "--json",
            "--no-progress",
            "--test-fraction",
            "0.25",
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["records_read"] == 60 and report["dialogues"]["train"] + report["dialogues"]["test"] == 60
    assert report["options"]["test_fraction"] == 0.25
    assert (tmp_path / "ds" / "README.md").is_file()


def test_prepare_tables_and_filter_options(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(
        json.dumps(
            {
                "id": 1,
                "topic": "情绪",
                "messages": [
                    {"role": "user", "content": "我是学生，压力很大"},
                    {"role": "assistant", "content": "辛苦了"},
                ],
            },
            ensure_ascii=False,
        )
        + "\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["prepare", str(corpus), "-o", str(tmp_path / "ds"), "--filter", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "Records" in result.output and "Content filter: 我是 1" in result.output
    result = runner.invoke(
        app,
        ["prepare", str(corpus), "-o", str(tmp_path / "ds2"), "--filter-string", "压力", "--json", "--no-progress"],
    )
    assert json.loads(result.stdout)["filter_matches"] == {"压力": 1}


def test_prepare_errors_are_clear_and_exit_2(tmp_path):
    result = runner.invoke(app, ["prepare", str(tmp_path / "missing.json"), "-o", str(tmp_path / "ds")])
    assert result.exit_code == 2 and "corpus input not found" in result.output
    result = runner.invoke(app, ["prepare", str(sample_corpus_path()), "-o", str(tmp_path), "--format", "nope"])
    assert result.exit_code == 2 and "unknown format 'nope'" in result.output


def test_demo_runs_on_the_bundled_corpus(tmp_path):
    result = runner.invoke(app, ["demo", "--output", str(tmp_path / "demo"), "--steps", "0"])
    assert result.exit_code == 0, result.output
    assert "心理咨询师：" in result.output and "load_dataset" in result.output
    assert (tmp_path / "demo" / "data" / "report.json").is_file()
    assert not (tmp_path / "demo" / "model").exists()


def test_demo_trains_and_reloads_a_tiny_model(tmp_path):
    result = runner.invoke(app, ["demo", "--output", str(tmp_path / "demo"), "--steps", "10"])
    assert result.exit_code == 0, result.output
    assert "AutoModel.from_pretrained" in result.output and "ChatGLMForConditionalGeneration" in result.output
    model_dir = tmp_path / "demo" / "model"
    assert (model_dir / "config.json").is_file() and (model_dir / "model.safetensors").is_file()


def test_prepare_filter_role(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": 1, "topic": "情绪", "messages": [
        {"role": "user", "content": "我是学生"}, {"role": "assistant", "content": "你好"}]},
        ensure_ascii=False) + "\n", encoding="utf-8")  # fmt: skip
    args = ["prepare", str(corpus), "--filter", "--filter-role", "assistant", "--json", "--no-progress"]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "ds")])
    report = json.loads(result.stdout)
    assert report["filtered"] == 0 and report["options"]["content_filter_roles"] == ["assistant"]


def test_prepare_filter_role_implies_the_filter_and_checks_the_role(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"id": 1, "topic": "情绪", "messages": [
        {"role": "user", "content": "我是学生"}, {"role": "assistant", "content": "你好"}]},
        ensure_ascii=False) + "\n", encoding="utf-8")  # fmt: skip
    args = ["prepare", str(corpus), "--filter-role", "user", "--json", "--no-progress"]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "ds")])
    assert json.loads(result.stdout)["filtered"] == 1
    result = runner.invoke(app, ["prepare", str(corpus), "--filter-role", "counsellor", "-o", str(tmp_path / "x")])
    assert result.exit_code == 2 and "counsellor" in result.output


def test_demo_output_that_is_a_file_or_a_foreign_data_folder_is_one_line(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    result = runner.invoke(app, ["demo", "--output", str(afile), "--steps", "0"])
    assert result.exit_code == 2 and "is a file" in " ".join(result.output.split())
    (tmp_path / "d" / "data").mkdir(parents=True)
    (tmp_path / "d" / "data" / "mine.txt").write_text("keep me")
    result = runner.invoke(app, ["demo", "--output", str(tmp_path / "d"), "--steps", "0"])
    assert result.exit_code == 2 and "error" in result.output
    assert (tmp_path / "d" / "data" / "mine.txt").read_text() == "keep me"
