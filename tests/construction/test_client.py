"""The HTTP client against a real fake server on loopback: retries, Retry-After, timeouts, drops, failures."""

import asyncio
import email.utils
import time

import pytest

from soulchat.construction.client import ChatClient, FatalAPIError, RequestFailed, parse_retry_after
from soulchat.construction.config import ClientConfig
from tests.construction.conftest import FakeReply


def config(server, **overrides) -> ClientConfig:
    settings = {"max_attempts": 3, "backoff_base_s": 0.001, "backoff_max_s": 0.005, "timeout_s": 5.0, **overrides}
    return ClientConfig(base_url=server.base_url, model="fake-model", **settings)


def ask(cfg: ClientConfig, key: str, causes: list | None = None):
    async def go():
        async with ChatClient(cfg) as client:
            return await client.complete([{"role": "user", "content": f"〔{key}〕"}], temperature=0.7,
                                         on_retry=None if causes is None else causes.append)  # fmt: skip

    return asyncio.run(go())


def scripted(first: list[FakeReply]):
    """A script answering request n of every key with first[n - 1], then with a valid dialogue."""
    return lambda key, n: first[n - 1] if n <= len(first) else FakeReply()


@pytest.mark.parametrize(
    "reply, cause",
    [
        (FakeReply(kind="status", status=500), "http_500"),
        (FakeReply(kind="status", status=503), "http_503"),
        (FakeReply(kind="status", status=429), "http_429"),
        (FakeReply(kind="drop"), "connection"),
        (FakeReply(kind="raw", text="<html>gateway</html>"), "bad_response"),
        (FakeReply(kind="raw", text='{"choices": []}'), "bad_response"),
    ],
)
def test_retryable_failures_are_retried_until_success(fake_server, reply, cause):
    server = fake_server(scripted([reply, reply]))
    causes: list[str] = []
    completion = ask(config(server), "k", causes)
    assert causes == [cause, cause] and completion.attempts == 3 and server.requests["k"] == 3
    assert completion.text.count("心理咨询师：") == 10 and completion.completion_tokens == len(completion.text)


def test_attempts_are_capped_then_the_request_fails(fake_server):
    server = fake_server(lambda key, n: FakeReply(kind="status", status=502))
    with pytest.raises(RequestFailed) as info:
        ask(config(server, max_attempts=4), "k")
    assert (info.value.reason, info.value.attempts, server.requests["k"]) == ("http_502", 4, 4)


def test_slow_answers_time_out_and_are_retried(fake_server):
    server = fake_server(scripted([FakeReply(delay_s=2.0)]))
    causes: list[str] = []
    start = time.monotonic()
    completion = ask(config(server, timeout_s=0.3), "k", causes)
    assert causes == ["timeout"] and completion.attempts == 2
    assert time.monotonic() - start < 1.5  # the slow answer was not waited for


def test_client_errors_fail_at_once_and_auth_errors_stop_the_run(fake_server):
    server = fake_server(lambda key, n: FakeReply(kind="status", status=400 if key == "bad" else 401))
    with pytest.raises(RequestFailed) as info:
        ask(config(server), "bad")
    assert (info.value.reason, info.value.attempts, server.requests["bad"]) == ("http_400", 1, 1)
    with pytest.raises(FatalAPIError, match="401"):
        ask(config(server), "auth")
    assert server.requests["auth"] == 1


def test_retry_after_is_honoured_and_pauses_every_request(fake_server):
    limited = FakeReply(kind="status", status=429, headers={"Retry-After": "0.4"})
    server = fake_server(lambda key, n: limited if key == "a" and n == 1 else FakeReply())
    cfg = config(server)

    async def go():
        async with ChatClient(cfg) as client:

            async def later():
                await asyncio.sleep(0.1)  # sent while the client is cooling down after a's 429
                return await client.complete([{"role": "user", "content": "〔b〕"}], temperature=0.7)

            first = client.complete([{"role": "user", "content": "〔a〕"}], temperature=0.7)
            return await asyncio.gather(first, later())

    a, b = asyncio.run(go())
    assert (a.attempts, b.attempts) == (2, 1)
    times = {(key, n): t for t, key, n in server.log}
    assert times[("a", 2)] - times[("a", 1)] >= 0.38
    assert times[("b", 1)] - times[("a", 1)] >= 0.38  # b waited for the cooldown too


def test_parse_retry_after_forms():
    assert parse_retry_after({"Retry-After": "3"}) == 3.0
    assert parse_retry_after({"Retry-After": "0.25"}) == 0.25
    assert parse_retry_after({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    assert parse_retry_after({"Retry-After": "soon"}) is None and parse_retry_after({}) is None
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 27 <= parse_retry_after({"Retry-After": date}) <= 30
    assert parse_retry_after({"Retry-After": "-5"}) == 0.0


def test_backoff_grows_with_jitter_and_respects_caps():
    client = ChatClient(ClientConfig(base_url="http://127.0.0.1:9/v1", model="m", backoff_base_s=1.0,
                                     backoff_max_s=8.0, max_retry_after_s=30.0))  # fmt: skip
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = [client.backoff(attempt) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays) and len(set(delays)) > 1
    assert client.backoff(1, retry_after=20.0) == 20.0
    assert client.backoff(1, retry_after=500.0) == 30.0  # capped
    assert client.backoff(4, retry_after=0.0) >= 4.0  # Retry-After is a floor, not a replacement


def test_config_validation():
    with pytest.raises(ValueError, match="http"):
        ClientConfig(base_url="127.0.0.1:8000", model="m")
    with pytest.raises(ValueError):
        ClientConfig(base_url="http://x", model="m", concurrency=0)
    assert ClientConfig(base_url="http://x/v1/", model="m").endpoint == "http://x/v1/chat/completions"
