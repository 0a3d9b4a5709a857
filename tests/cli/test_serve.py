"""`soulchat serve` in its own process: it binds loopback, answers the `openai` client, and stops on SIGINT."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import openai
import pytest

from tests.inference.conftest import save_tiny_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_serve_answers_the_openai_client(tmp_path):
    chatglm_dir = save_tiny_checkpoint(tmp_path / "soulchat-tiny")
    port = _free_port()
    command = [
        sys.executable, "-m", "soulchat.cli.main", "serve", "--model", str(chatglm_dir), "--port", str(port),
        "--api-key", "k", "--greedy", "--max-new-tokens", "6", "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline, "the server did not start"
                time.sleep(0.2)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", max_retries=0, timeout=60)
        assert [m.id for m in client.models.list().data] == [chatglm_dir.name]
        completion = client.chat.completions.create(
            model=chatglm_dir.name, messages=[{"role": "user", "content": "你好"}], stream=False
        )
        assert completion.usage.completion_tokens == 6 and completion.choices[0].finish_reason == "length"
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    assert f"http://127.0.0.1:{port}" in output and process.returncode == 0, output


@pytest.mark.parametrize("command", ["serve", "webui"])
def test_a_busy_port_and_bad_sizes_are_refused_before_the_model_loads(tmp_path, command):
    from typer.testing import CliRunner

    from soulchat.cli.main import app

    missing = tmp_path / "not-loaded"  # never read: the checks come first
    missing.mkdir()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, [command, "--model", str(missing), "--port", str(port)])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "Traceback" not in result.output
    if command == "serve":
        result = CliRunner().invoke(app, ["serve", "--model", str(missing), "--max-batch-size", "0"])
        assert result.exit_code == 2 and "--max-batch-size must be at least 1, got 0" in result.output
