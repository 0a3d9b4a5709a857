"""`soulchat chat` end to end: piped input, streamed replies, /save (readable by `soulchat prepare`), /reset, /exit."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from soulchat.cli.main import app
from soulchat.data.pipeline import PipelineOptions
from soulchat.data.prepare import prepare_corpus
from soulchat.inference.engine import ChatEngine, DecodingSettings
from soulchat.inference.safety import AI_DISCLAIMER, crisis_reply
from soulchat.models.loading import load_model_for_generation
from tests.inference.conftest import save_tiny_checkpoint

runner = CliRunner()


@pytest.fixture(scope="module")
def chatglm_dir(tmp_path_factory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("chatglm"))


@pytest.fixture(scope="module")
def chat_model(chatglm_dir: Path):
    return load_model_for_generation(chatglm_dir, device="cpu")


def _chat(chatglm_dir, lines: list[str], *options: str):
    args = ["chat", "--model", str(chatglm_dir), "--device", "cpu", "--greedy", "--max-new-tokens", "8", *options]
    return runner.invoke(app, args, input="".join(line + "\n" for line in lines))


def test_a_piped_conversation_is_streamed_saved_and_reset(chatglm_dir, chat_model, tmp_path):
    saved = tmp_path / "chat.json"
    result = _chat(
        chatglm_dir, ["你好", "我最近总是睡不着", f"/save {saved}", "/reset", "还在吗", "/exit", "不会读到"]
    )
    assert result.exit_code == 0, result.output
    model, tokenizer = chat_model
    with ChatEngine(model, tokenizer, defaults=DecodingSettings(greedy=True, max_new_tokens=8)) as engine:
        first = engine.reply([], "你好")
        second = engine.reply([("你好", first.content)], "我最近总是睡不着")
        after_reset = engine.reply([], "还在吗")
    assert f"心理咨询师：{first.text}\n" in result.stdout
    assert f"心理咨询师：{second.text}\n" in result.stdout
    assert f"心理咨询师：{after_reset.text}\n" in result.stdout and result.stdout.count(AI_DISCLAIMER) == 2
    assert "(a new conversation starts)" in result.stdout and "不会读到" not in result.stdout
    [dialogue] = json.loads(saved.read_text(encoding="utf-8"))
    assert dialogue["messages"] == [
        {"role": "user", "content": "你好"},
        {"role": "assistant", "content": first.content},
        {"role": "user", "content": "我最近总是睡不着"},
        {"role": "assistant", "content": second.content},
    ]
    report = prepare_corpus([saved], tmp_path / "prepared", options=PipelineOptions(), progress=False)
    assert report is not None and (tmp_path / "prepared").is_dir()


def test_crisis_messages_get_the_fixed_reply_and_no_safety_is_explicit(chatglm_dir, caplog):
    result = _chat(chatglm_dir, ["我把药都攒起来了"])
    assert result.exit_code == 0 and crisis_reply("suicide") in result.stdout
    result = _chat(chatglm_dir, ["我把药都攒起来了"], "--no-safety")
    assert result.exit_code == 0 and crisis_reply("suicide") not in result.stdout
    assert AI_DISCLAIMER not in result.stdout
    assert any(r.levelname == "WARNING" and "--no-safety" in r.getMessage() for r in caplog.records)


def test_bad_options_fail_cleanly(chatglm_dir, tmp_path):
    result = _chat(chatglm_dir, [], "--top-p", "1.5")
    assert result.exit_code == 1 and "top_p" in result.output
    result = runner.invoke(app, ["chat", "--model", str(tmp_path / "missing")], input="")
    assert result.exit_code == 1 and "error" in result.output


def test_a_save_that_fails_does_not_end_the_conversation(chatglm_dir, tmp_path):
    saved = tmp_path / "after.json"
    result = _chat(chatglm_dir, ["你好", f"/save {tmp_path}", "还在吗", f"/save {saved}"])
    assert result.exit_code == 0, result.output
    assert "(could not save:" in result.stdout and "Is a directory" in result.stdout
    [dialogue] = json.loads(saved.read_text(encoding="utf-8"))
    assert [m["content"] for m in dialogue["messages"] if m["role"] == "user"] == ["你好", "还在吗"]


def test_a_budget_that_cannot_hold_the_prompt_is_refused_at_start(chatglm_dir):
    result = _chat(chatglm_dir, ["你好"], "--max-source-length", "4")
    assert result.exit_code == 2 and "max_source_length 4 is too small" in " ".join(result.output.split())
    assert "心理咨询师：" not in result.stdout
    result = runner.invoke(app, ["chat", "--model", "/no/such/folder"], input="")
    assert result.exit_code == 1 and "model folder /no/such/folder not found" in result.output
