"""Fixtures of the construction tests: QA files, a fake OpenAI-compatible server on loopback, fast configs."""

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from soulchat.construction.config import CheckConfig, CleaningConfig, ClientConfig, ConstructionConfig
from soulchat.construction.fake_server import FakeChatServer, FakeReply, Script


def write_qa(path: Path, keys: list[str], *, topic: str = "情绪") -> Path:
    """A QA file whose question i carries the marker 〔key〕 that the fake server counts requests by."""
    with open(path, "w", encoding="utf-8") as f:
        for key in keys:
            record = {
                "id": key,
                "topic": topic,
                "question": f"〔{key}〕最近总是睡不好，怎么办？",
                "answer": "先规律作息。",
            }
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fast_config(qa: Path, out: Path, base_url: str, **overrides) -> ConstructionConfig:
    """A run against `base_url` with millisecond backoffs, 2 attempts and 2 generations."""
    client = ClientConfig(base_url=base_url, model="fake-model", concurrency=overrides.pop("concurrency", 4),
                          max_attempts=overrides.pop("max_attempts", 2), backoff_base_s=0.001, backoff_max_s=0.005,
                          timeout_s=overrides.pop("timeout_s", 5.0))  # fmt: skip
    checks = overrides.pop("checks", CheckConfig(max_generations=2))
    cleaning = overrides.pop("cleaning", CleaningConfig())
    return ConstructionConfig(input=qa, output=out, client=client, checks=checks, cleaning=cleaning, **overrides)


@pytest.fixture
def fake_server() -> Iterator[Callable[..., FakeChatServer]]:
    """Starts fake servers (`fake_server(script=..., latency_s=...)`) and stops them after the test."""
    servers: list[FakeChatServer] = []

    def start(script: Script | None = None, **kwargs) -> FakeChatServer:
        server = FakeChatServer(script=script, **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


__all__ = ["FakeReply", "fast_config", "read_jsonl", "write_qa"]
