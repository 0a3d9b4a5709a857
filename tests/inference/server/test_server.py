"""The OpenAI-compatible API over a real socket on 127.0.0.1, driven by the official `openai` client."""

import asyncio
import gc
import http.client
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

from soulchat.inference.engine import ChatEngine, DecodingSettings, ReplyJob
from soulchat.inference.safety import AI_DISCLAIMER
from soulchat.inference.server import BackgroundServer, create_app

KEY = "test-key"
MODEL = "soulchat-tiny"


@pytest.fixture(scope="module")
def engine(chat_model):
    model, tokenizer = chat_model
    engine = ChatEngine(model, tokenizer, defaults=DecodingSettings(greedy=True, max_new_tokens=16), max_queue=16)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def server(engine):
    with BackgroundServer(create_app(engine, model_name=MODEL, api_key=KEY, max_request_bytes=4096)) as server:
        yield server


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=KEY, max_retries=0, timeout=60)


def _messages(history, message) -> list[dict]:
    turns = [
        {"role": role, "content": text}
        for pair in history
        for role, text in zip(("user", "assistant"), pair, strict=True)
    ]
    return [*turns, {"role": "user", "content": message}]


def _raw(server, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
    connection.request(method, path, body=body, headers={"Authorization": f"Bearer {KEY}", **(headers or {})})
    response = connection.getresponse()
    status, content_type, data = response.status, response.getheader("Content-Type"), response.read()
    connection.close()
    return status, content_type, json.loads(data)


def test_models_and_health(client, server):
    assert [m.id for m in client.models.list().data] == [MODEL]
    status, _, body = _raw(server, "GET", "/health", headers={"Authorization": ""})
    assert status == 200 and body["status"] == "ok" and body["model"] == MODEL


def test_completion_and_stream_agree_with_the_engine(client, engine, conversations):
    history, message = conversations[1]
    expected = engine.reply(history, message)
    completion = client.chat.completions.create(model=MODEL, messages=_messages(history, message), temperature=0)
    choice = completion.choices[0]
    assert choice.message.content == expected.text and choice.finish_reason == "length"
    assert completion.usage.completion_tokens == 16 and completion.usage.prompt_tokens == expected.prompt_tokens
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=_messages(history, message), temperature=0, stream=True,
            stream_options={"include_usage": True},
        )
    )  # fmt: skip
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == expected.text
    assert chunks[-2].choices[0].finish_reason == "length" and chunks[-1].usage.completion_tokens == 16


def test_first_reply_has_the_disclaimer_and_it_never_reaches_the_prompt(client, engine):
    first = client.chat.completions.create(model=MODEL, messages=_messages([], "你好"), temperature=0)
    text = first.choices[0].message.content
    assert text.startswith(AI_DISCLAIMER)
    # The client sends the reply back as it got it; the model sees it without the disclaimer.
    second = client.chat.completions.create(
        model=MODEL, messages=_messages([("你好", text)], "我睡不着"), temperature=0
    )
    expected = engine.reply([("你好", text.removeprefix(AI_DISCLAIMER + "\n\n"))], "我睡不着")
    assert second.choices[0].message.content == expected.text
    assert second.usage.prompt_tokens == expected.prompt_tokens


def test_eight_concurrent_clients_are_batched(client, engine, conversations):
    requests = [conversations[i % len(conversations)] for i in range(8)]
    expected = [engine.reply(h, m).text for h, m in requests]
    batches = engine.scheduler.batches
    engine.scheduler.pause()

    def ask(index: int) -> str:
        history, message = requests[index]
        stream = client.chat.completions.create(
            model=MODEL, messages=_messages(history, message), temperature=0, stream=True
        )
        return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(ask, i) for i in range(8)]
        deadline = time.monotonic() + 30
        while engine.scheduler.waiting < 8 and time.monotonic() < deadline:
            time.sleep(0.01)
        engine.scheduler.resume()
        answers = [f.result() for f in futures]
    assert answers == expected
    assert engine.scheduler.batches == batches + 1  # the eight replies were decoded as one batch


def test_wrong_or_missing_key_is_401(server):
    bad = openai.OpenAI(base_url=server.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as error:
        bad.models.list()
    assert error.value.status_code == 401 and error.value.body["code"] == "invalid_api_key"
    status, content_type, body = _raw(server, "GET", "/v1/models", headers={"Authorization": ""})
    assert status == 401 and content_type.startswith("application/json") and body["error"]["type"]


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"messages": [{"role": "assistant", "content": "你好"}]}, "messages[0].role"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}, "messages[1].role"),
        ({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0].content"),
        ({"n": 2}, "n"),
        ({"temperature": 3}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_completion_tokens": 10**6}, "max_completion_tokens"),
        ({"stream": "yes"}, "stream"),
    ],
)
def test_malformed_requests_are_400(client, change, param):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "你好"}], **change}
    with pytest.raises(openai.BadRequestError) as error:
        client.chat.completions.create(**body)
    assert error.value.status_code == 400 and error.value.body["param"] == param


def test_bad_json_oversized_unknown_routes_and_models(server, client):
    status, _, body = _raw(server, "POST", "/v1/chat/completions", b"{not json")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    big = json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "长" * 5000}]}).encode()
    status, _, body = _raw(server, "POST", "/v1/chat/completions", big)
    assert status == 413 and body["error"]["code"] == "request_too_large"
    status, _, body = _raw(server, "GET", "/v1/nothing")
    assert status == 404 and body["error"]["code"] == "not_found"
    status, _, body = _raw(server, "GET", "/v1/chat/completions")
    assert status == 405 and body["error"]["code"] == "method_not_allowed"
    with pytest.raises(openai.NotFoundError) as error:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "你好"}])
    assert error.value.body["code"] == "model_not_found"


def test_a_full_queue_is_503(chat_model):
    model, tokenizer = chat_model
    engine = ChatEngine(model, tokenizer, defaults=DecodingSettings(greedy=True, max_new_tokens=4))
    with engine, BackgroundServer(create_app(engine, model_name=MODEL, max_queue=1)) as server:
        engine.scheduler.pause()
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="-", max_retries=0)
        with ThreadPoolExecutor(1) as pool:
            waiting = pool.submit(
                client.chat.completions.create, model=MODEL, messages=[{"role": "user", "content": "你好"}]
            )
            while engine.scheduler.waiting < 1:
                time.sleep(0.01)
            status, _, body = _raw(
                server, "POST", "/v1/chat/completions",
                json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "你好"}]}).encode(),
            )  # fmt: skip
            assert status == 503 and body["error"]["code"] == "queue_full"
            engine.scheduler.resume()
            assert waiting.result().usage.completion_tokens == 4


def _server_tasks(server) -> int:
    async def count() -> int:
        return len(asyncio.all_tasks()) - 1  # not this one

    return asyncio.run_coroutine_threadsafe(count(), server.loop).result(10)


def _live_jobs() -> int:
    gc.collect()
    return sum(type(o) is ReplyJob for o in gc.get_objects())


def test_a_client_leaving_mid_stream_cancels_its_generation(chat_model):
    model, tokenizer = chat_model
    engine = ChatEngine(model, tokenizer, defaults=DecodingSettings(greedy=True, max_new_tokens=2000))
    with BackgroundServer(create_app(engine, model_name=MODEL)) as server:
        threads, tasks, jobs = threading.active_count(), _server_tasks(server), _live_jobs()
        body = {"model": MODEL, "messages": [{"role": "user", "content": "你好"}], "stream": True}
        connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
        connection.request("POST", "/v1/chat/completions", body=json.dumps(body))
        response = connection.getresponse()
        chunks = 0
        while chunks < 4:  # a few chunks (the body is chunked: size lines come between): the reply is generating
            chunks += response.fp.readline().startswith(b"data: ")
        connection.close()  # the client goes away mid-stream
        deadline = time.monotonic() + 10
        while engine.scheduler.running and time.monotonic() < deadline:
            time.sleep(0.02)
        steps = engine.row_steps
        time.sleep(0.3)
        assert engine.scheduler.running == 0 and engine.row_steps == steps  # nothing decodes for it any more
        assert steps < 1500  # it stopped long before its 2000 tokens
        deadline = time.monotonic() + 5
        while _server_tasks(server) > tasks and time.monotonic() < deadline:
            time.sleep(0.02)
        assert _server_tasks(server) == tasks and _live_jobs() == jobs
    engine.close()
    assert threading.active_count() == threads - 2  # the engine's worker and the server's thread are gone


def test_a_client_leaving_before_a_non_streamed_reply_cancels_its_generation(chat_model):
    model, tokenizer = chat_model
    engine = ChatEngine(model, tokenizer, defaults=DecodingSettings(greedy=True, max_new_tokens=2000))
    with BackgroundServer(create_app(engine, model_name=MODEL)) as server:
        body = {"model": MODEL, "messages": [{"role": "user", "content": "你好"}]}
        connection = http.client.HTTPConnection(server.host, server.port, timeout=30)
        connection.request("POST", "/v1/chat/completions", body=json.dumps(body))
        deadline = time.monotonic() + 10
        while engine.row_steps < 20 and time.monotonic() < deadline:  # the reply is generating
            time.sleep(0.005)
        connection.close()  # the client goes away before its reply
        deadline = time.monotonic() + 10
        while engine.scheduler.running and time.monotonic() < deadline:
            time.sleep(0.02)
        steps = engine.row_steps
        time.sleep(0.3)
        assert engine.scheduler.running == 0 and engine.row_steps == steps
        assert steps < 1500  # it stopped long before its 2000 tokens, although text kept coming
    engine.close()
