"""A small OpenAI-compatible chat-completions server for tests, benchmarks and dry runs; it calls no model.

It listens on a real socket (loopback by default) and answers `POST /v1/chat/completions` with a rewritten
dialogue of random Chinese text, or with whatever a script says for each request: a given text, an HTTP error
with headers (429 with `Retry-After`), a slow answer, or a dropped connection. It counts the requests of each
record; a record is recognised by a key written as `〔key〕` in the prompt (tests put it in the question).

    python -m soulchat.construction.fake_server --latency 0.2     # prints its base URL, serves until stopped

    >>> from soulchat.construction import ClientConfig, ConstructionConfig, construct_corpus
    >>> qa_path, out_path = "qa.jsonl", "out.jsonl"  # QA records whose questions hold 〔q1〕, 〔q2〕, ...
    >>> with FakeChatServer(latency_s=0.05) as server:
    ...     client = ClientConfig(base_url=server.base_url, model="fake")
    ...     report = construct_corpus(ConstructionConfig(input=qa_path, output=out_path, client=client))
    ...     requests_of_q1 = server.requests["q1"]
"""

import argparse
import asyncio
import contextlib
import hashlib
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

KEY_PATTERN = re.compile(r"〔([^〕]{1,64})〕")
# Characters that the paper's filter or the PII patterns would react to are never generated.
_CHARS = [chr(c) for c in range(0x4E00, 0x9FA5) if chr(c) not in "我是自杀跳楼路街号栋"]


@dataclass
class FakeReply:
    """What the fake server does with one request.

    Args:
        kind (`str`, *optional*, defaults to `"dialogue"`): `"dialogue"` (a valid rewrite of `rounds` rounds),
            `"text"` (answer `text` as the completion), `"status"` (answer `status` with `headers` and an error
            body), `"raw"` (answer `text` as the body, with `status`: a body that is not JSON) or `"drop"` (close
            the connection without answering).
        rounds (`int`, *optional*, defaults to 10): Rounds of a `"dialogue"`.
        text (`str`, *optional*): The completion of a `"text"` reply.
        status (`int`, *optional*, defaults to 200): The status of a `"status"` reply.
        headers (`dict[str, str]`, *optional*): Headers of a `"status"` reply.
        delay_s (`float`, *optional*, defaults to 0.0): Extra seconds before answering (on top of the latency).
        finish_reason (`str`, *optional*, defaults to `"stop"`): The completion's finish reason.
    """

    kind: str = "dialogue"
    rounds: int = 10
    text: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    finish_reason: str = "stop"


# (record key, 1-based request number of that key) -> reply.
Script = Callable[[str, int], FakeReply]


def fake_dialogue(seed: str, *, rounds: int = 10, labels: tuple[str, str] = ("用户", "心理咨询师")) -> str:
    """A model-like output: a short analysis, the marker line, then `rounds` rounds of random Chinese text."""
    rng = random.Random(hashlib.blake2b(seed.encode(), digest_size=8).digest())

    def sentence(n: int) -> str:
        return "".join(rng.choices(_CHARS, k=n)) + rng.choice("。？！")

    lines = ["分析：" + sentence(30), "", "改写后的对话："]
    for _ in range(rounds):
        lines.append(f"{labels[0]}：{sentence(rng.randint(20, 40))}")
        lines.append(f"{labels[1]}：{sentence(rng.randint(30, 60))}")
    return "\n".join(lines)


class FakeChatServer:
    """The fake endpoint, served from a background thread. Use as a context manager (or `start()` / `stop()`).

    Args:
        script (`Script`, *optional*): Decides each reply; by default every request gets a valid dialogue.
        latency_s (`float`, *optional*, defaults to 0.0): Seconds every request waits before its answer.
        labels (`tuple[str, str]`, *optional*, defaults to `("用户", "心理咨询师")`): Speaker labels of dialogues.
        host (`str`, *optional*, defaults to `"127.0.0.1"`): The address to listen on.
        port (`int`, *optional*, defaults to 0): The port; 0 picks a free one.
    """

    def __init__(
        self,
        *,
        script: Script | None = None,
        latency_s: float = 0.0,
        labels: tuple[str, str] = ("用户", "心理咨询师"),
        host: str = "127.0.0.1",
        port: int = 0,
    ):
        self.script = script or (lambda key, n: FakeReply())
        self.latency_s, self.labels, self.host, self.port = latency_s, labels, host, port
        self.requests: Counter = Counter()
        self.log: list[tuple[float, str, int]] = []  # (monotonic time, key, request number)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped: asyncio.Event | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_post("/chat/completions", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        prompt = "\n".join(m.get("content") or "" for m in body.get("messages", []))
        match = KEY_PATTERN.search(prompt)
        key = match.group(1) if match else "?" + hashlib.blake2b(prompt.encode(), digest_size=4).hexdigest()
        with self._lock:
            self.requests[key] += 1
            n = self.requests[key]
            self.log.append((time.monotonic(), key, n))
        reply = self.script(key, n)
        await asyncio.sleep(self.latency_s + reply.delay_s)
        if reply.kind == "drop":
            assert request.transport is not None
            request.transport.abort()
            raise web.HTTPInternalServerError()  # never sent: the connection is gone
        if reply.kind == "raw":
            return web.Response(text=reply.text, status=reply.status, headers=reply.headers)
        if reply.kind == "status":
            error = {"error": {"message": f"scripted status {reply.status}", "type": "fake"}}
            return web.json_response(error, status=reply.status, headers=reply.headers)
        text = (
            fake_dialogue(f"{key}:{n}", rounds=reply.rounds, labels=self.labels)
            if reply.kind == "dialogue"
            else reply.text
        )
        choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": reply.finish_reason}
        usage = {"prompt_tokens": len(prompt), "completion_tokens": len(text), "total_tokens": len(prompt) + len(text)}
        completion = {"id": f"chatcmpl-{key}-{n}", "object": "chat.completion", "created": int(time.time())}
        return web.json_response(
            {**completion, "model": body.get("model", "fake"), "choices": [choice], "usage": usage}
        )

    async def serve(self, ready: Callable[[], None] | None = None) -> None:
        """Serve until `stop()` is called (in this event loop)."""
        self._stopped = asyncio.Event()
        runner = web.AppRunner(self.app(), access_log=None, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=1024)
        await site.start()
        self.port = runner.addresses[0][1]
        if ready is not None:
            ready()
        try:
            await self._stopped.wait()
        finally:
            await runner.cleanup()

    def start(self) -> "FakeChatServer":
        """Serve from a daemon thread; returns once the socket listens."""
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.serve(started.set))
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-chat-server", daemon=True)
        self._thread.start()
        if not started.wait(timeout=30):
            raise RuntimeError("the fake chat server did not start")
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def __enter__(self) -> "FakeChatServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """Serve a fake endpoint in the foreground; prints its base URL on the first line of standard output."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1", help="The address to listen on.")
    parser.add_argument("--port", type=int, default=0, help="The port (0 picks a free one).")
    parser.add_argument("--latency", type=float, default=0.0, help="Seconds before each answer.")
    parser.add_argument("--rounds", type=int, default=10, help="Rounds of each generated dialogue.")
    args = parser.parse_args(argv)
    server = FakeChatServer(script=lambda key, n: FakeReply(rounds=args.rounds), latency_s=args.latency,
                            host=args.host, port=args.port)  # fmt: skip

    def ready() -> None:
        sys.stdout.write(server.base_url + "\n")
        sys.stdout.flush()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve(ready))


__all__ = ["KEY_PATTERN", "FakeChatServer", "FakeReply", "Script", "fake_dialogue"]


if __name__ == "__main__":
    main()
