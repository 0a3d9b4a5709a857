"""The conversation engine on a tiny random ChatGLM-6B: batching, streaming, the safety layer, cancellation."""

import threading
import time

import pytest
import torch

from soulchat.data.prompts import render_prompt
from soulchat.inference.engine import ChatEngine, DecodingSettings
from soulchat.inference.safety import AI_DISCLAIMER, SafetyConfig, crisis_reply
from soulchat.models.loading import load_model_for_generation

GREEDY = DecodingSettings(greedy=True, max_new_tokens=24)
PREFIX = AI_DISCLAIMER + "\n\n"


def _run_together(engine: ChatEngine, conversations, settings) -> list:
    """Starts every conversation while the worker is paused, so that they are decoded as one batch."""
    engine.scheduler.pause()
    streams = [engine.start(history, message, settings=settings) for history, message in conversations]
    engine.scheduler.resume()
    deltas = [list(stream) for stream in streams]
    return [(stream.reply, pieces) for stream, pieces in zip(streams, deltas, strict=True)]


def test_batched_greedy_replies_equal_one_at_a_time_and_model_chat(chat_model, conversations):
    model, tokenizer = chat_model
    with ChatEngine(model, tokenizer, max_batch_size=1, defaults=GREEDY) as alone:
        singles = [alone.reply(history, message) for history, message in conversations]
        assert alone.scheduler.batches == len(conversations)
    with ChatEngine(model, tokenizer, max_batch_size=8, defaults=GREEDY) as batched:
        together = _run_together(batched, conversations, GREEDY)
        assert batched.scheduler.batches == 1
    for single, (reply, deltas) in zip(singles, together, strict=True):
        assert reply == single
        assert "".join(deltas) == reply.text  # the stream is the reply
    # The original ChatGLM-6B chat() given the rendered SoulChat prompt (as SoulChat's own demo does).
    for (history, message), single in zip(conversations, singles, strict=True):
        prompt = render_prompt(history, message)
        expected, _ = model.chat(tokenizer, prompt, history=None, do_sample=False, max_new_tokens=24, max_length=None)
        assert single.content == expected
        assert single.text == (PREFIX + expected if not history else expected)
        assert single.completion_tokens == 24 and single.finish_reason == "length"


def test_seeded_sampling_is_reproducible_in_any_batch(chat_model, conversations):
    model, tokenizer = chat_model
    settings = DecodingSettings(max_new_tokens=16, seed=7)
    with ChatEngine(model, tokenizer, max_batch_size=8) as engine:
        alone = engine.reply(*conversations[2], settings=settings)
        together = _run_together(engine, conversations, settings)
    assert together[2][0] == alone
    other = ChatEngine(model, tokenizer, max_batch_size=1)
    try:
        assert other.reply(*conversations[2], settings=DecodingSettings(max_new_tokens=16, seed=8)).text != alone.text
    finally:
        other.close()


def test_first_reply_carries_the_disclaimer_later_ones_do_not(chat_model, conversations):
    model, tokenizer = chat_model
    with ChatEngine(model, tokenizer, defaults=GREEDY) as engine:
        first = engine.reply([], "我最近总是睡不着")
        second = engine.reply([("我最近总是睡不着", first.content)], "怎么办")
    assert first.text.startswith(PREFIX) and first.content == first.text[len(PREFIX) :]
    assert AI_DISCLAIMER not in second.text and second.content == second.text


def test_a_crisis_message_gets_the_fixed_reply_without_the_model(chat_model, caplog):
    model, tokenizer = chat_model
    message = "我把药都攒起来了，今晚就全部吃下去"
    with ChatEngine(model, tokenizer, defaults=GREEDY) as engine:
        steps = engine.steps
        with caplog.at_level("WARNING"):
            stream = engine.start([("你好", "你好，请说。")], message, conversation_id="c42")
            deltas = list(stream)
        assert engine.steps == steps and engine.scheduler.batches == 0  # the model never ran
    reply = stream.reply
    assert reply.text == crisis_reply("suicide") and "".join(deltas) == reply.text
    assert reply.safety == "crisis" and reply.prompt_tokens == 0 and reply.completion_tokens == 0
    assert "c42" in caplog.text and "攒" not in caplog.text  # logged, without the message text


def test_a_blocked_generated_reply_is_replaced_and_decoding_stops(chat_model, tmp_path):
    model, tokenizer = chat_model
    with ChatEngine(model, tokenizer, defaults=GREEDY) as engine:
        generated = engine.reply([("你好", "你好。")], "我睡不着").text
    word = generated[4:6]  # something this model is certain to say greedily, a few tokens in
    rules = tmp_path / "block.yaml"
    rules.write_text(
        "target: reply\ncategory: means\ndescription: test\nrules:\n"
        f"  - id: test.block\n    severity: critical\n    negatable: false\n    patterns:\n      - '{word}'\n",
        encoding="utf-8",
    )
    safety = SafetyConfig(extra_rule_files=(str(rules),))
    with ChatEngine(model, tokenizer, defaults=GREEDY, safety=safety) as engine:
        stream = engine.start([("你好", "你好。")], "我睡不着")
        deltas = list(stream)
    reply = stream.reply
    assert reply.finish_reason == "content_filter" and reply.safety == "blocked"
    assert reply.text == engine.guard.safe_reply
    assert reply.completion_tokens < GREEDY.max_new_tokens  # decoding stopped at the block
    assert word not in "".join(deltas)  # the blocked words were never streamed


def test_safety_off_explicitly_has_no_disclaimer_and_no_screen(chat_model):
    model, tokenizer = chat_model
    with ChatEngine(model, tokenizer, defaults=GREEDY, safety=SafetyConfig(enabled=False)) as engine:
        reply = engine.reply([], "我把药都攒起来了")
    assert reply.safety is None and reply.completion_tokens == 24 and AI_DISCLAIMER not in reply.text


def test_cancelling_a_stream_stops_its_decoding(chat_model):
    model, tokenizer = chat_model
    threads = threading.active_count()
    engine = ChatEngine(model, tokenizer, defaults=DecodingSettings(greedy=True, max_new_tokens=2000))
    stream = engine.start([("你好", "你好。")], "我睡不着")
    pieces = iter(stream)
    for _ in range(3):
        next(pieces)
    stream.cancel()
    list(pieces)
    assert stream.reply.finish_reason == "cancelled" and stream.reply.completion_tokens < 1500
    steps = engine.row_steps
    time.sleep(0.2)
    assert engine.row_steps == steps and engine.scheduler.running == 0 and engine.scheduler.waiting == 0
    engine.close()
    assert not engine.scheduler.alive and threading.active_count() == threads


def test_queue_full_is_refused_at_once(chat_model):
    from soulchat.inference.engine import QueueFullError

    model, tokenizer = chat_model
    with ChatEngine(model, tokenizer, defaults=GREEDY, max_queue=2) as engine:
        engine.scheduler.pause()
        first = [engine.start([("a", "b")], "你好") for _ in range(2)]
        with pytest.raises(QueueFullError):
            engine.start([("a", "b")], "你好")
        engine.scheduler.resume()
        assert all(s.result().completion_tokens == 24 for s in first)


def test_a_quantised_checkpoint_chats(chat_model, tmp_path):
    model, tokenizer = chat_model
    quantised = type(model)(model.config.__class__(**model.config.to_dict()))
    quantised.load_state_dict(model.state_dict())
    quantised.quantize(8)
    quantised.save_pretrained(str(tmp_path))
    tokenizer.save_pretrained(str(tmp_path))
    loaded, loaded_tokenizer = load_model_for_generation(tmp_path, device="cpu")
    assert loaded.config.quantization_bit == 8
    assert loaded.transformer.layers[0].attention.dense.weight.dtype == torch.int8
    with ChatEngine(loaded, loaded_tokenizer, defaults=GREEDY) as engine:
        reply = engine.reply([("你好", "你好。")], "我睡不着")
    prompt = render_prompt([("你好", "你好。")], "我睡不着")
    expected, _ = loaded.chat(
        loaded_tokenizer, prompt, history=None, do_sample=False, max_new_tokens=24, max_length=None
    )
    assert reply.text == expected and reply.completion_tokens == 24


def test_a_request_arriving_mid_batch_joins_it(chat_model, conversations):
    model, tokenizer = chat_model
    long = DecodingSettings(greedy=True, max_new_tokens=120)
    with ChatEngine(model, tokenizer, max_batch_size=1, defaults=GREEDY) as alone:
        expected_long = alone.reply(*conversations[4], settings=long)
        expected_short = [alone.reply(h, m) for h, m in conversations[:3]]
    with ChatEngine(model, tokenizer, max_batch_size=4, defaults=GREEDY) as engine:
        running = engine.start(*conversations[4], settings=long)
        deltas = iter(running)
        next(deltas)  # the long reply is being decoded
        short = [engine.start(h, m) for h, m in conversations[:3]]
        replies = [s.result() for s in short]
        assert running.reply is None  # the newcomers finished first: they did not wait for the long reply
        list(deltas)
        assert engine.scheduler.batches == 1  # they joined the running batch
    assert replies == expected_short and running.reply == expected_long


def test_closing_the_engine_cancels_the_running_batch_and_refuses_new_work(chat_model):
    model, tokenizer = chat_model
    engine = ChatEngine(model, tokenizer, defaults=DecodingSettings(greedy=True, max_new_tokens=2000))
    stream = engine.start([("你好", "你好。")], "我睡不着")
    next(iter(stream))
    engine.close()
    assert stream.result().finish_reason == "cancelled" and stream.reply.completion_tokens < 1500
    assert stream.reply.text.startswith(stream.reply.disclaimer) and not engine.scheduler.alive
    with pytest.raises(RuntimeError):
        engine.start([("你好", "你好。")], "还在吗")


def test_default_max_new_tokens_beyond_the_model_length_are_capped(chat_model, caplog):
    model, tokenizer = chat_model
    with ChatEngine(model, tokenizer) as probe:
        limit = probe.max_length
    assert limit is not None
    with ChatEngine(model, tokenizer, defaults=DecodingSettings(max_new_tokens=limit + 100)) as engine:
        assert engine.defaults.max_new_tokens == limit
    assert any("more than the model's length" in r.getMessage() for r in caplog.records)
