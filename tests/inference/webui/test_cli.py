"""`soulchat webui` as a user runs it: a child process serving the page and the API of a tiny checkpoint."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from typer.testing import CliRunner

from soulchat.cli.main import app
from soulchat.cli.webui import decoding_defaults
from soulchat.inference.engine import DecodingSettings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_health(url: str, process: subprocess.Popen, timeout_s: float) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"soulchat webui exited with {process.returncode}: {process.stderr.read()}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.2)
    raise AssertionError(f"soulchat webui did not answer {url} in {timeout_s} s")


def test_decoding_defaults_keep_the_engines_unless_given():
    assert decoding_defaults(temperature=None, top_p=None, max_new_tokens=None, greedy=None) == DecodingSettings()
    given = decoding_defaults(temperature=0.5, top_p=None, max_new_tokens=64, greedy=True)
    assert given == DecodingSettings(temperature=0.5, max_new_tokens=64, greedy=True)


def test_help_lists_the_options():
    result = CliRunner().invoke(app, ["webui", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in ("--model", "--host", "--port", "--device", "--dtype", "--temperature", "--top-p", "--greedy"):
        assert option in result.output


@pytest.mark.slow  # a child process imports the whole CLI
def test_webui_serves_the_page_and_the_api_until_interrupted(chatglm_dir):
    port = _free_port()
    command = [
        sys.executable, "-m", "soulchat.cli.main", "webui", "--model", str(chatglm_dir), "--port", str(port),
        "--device", "cpu", "--greedy", "--max-new-tokens", "24", "--model-name", "tiny", "--title", "测试",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        base = f"http://127.0.0.1:{port}"
        assert _wait_for_health(f"{base}/health", process, timeout_s=120)["model"] == "tiny"
        with urllib.request.urlopen(f"{base}/", timeout=10) as response:
            page = response.read().decode("utf-8")
        assert "<title>测试</title>" in page
        config = json.loads(re.search(r'id="soulchat-config">(.*?)</script>', page).group(1))
        assert (config["greedy"], config["max_new_tokens"], config["temperature"]) == (True, 24, 0.95)
        with urllib.request.urlopen(f"{base}/v1/models", timeout=10) as response:
            assert [m["id"] for m in json.loads(response.read())["data"]] == ["tiny"]
    finally:
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            _, stderr = process.communicate()
    assert process.returncode == 0, stderr
    assert f"SoulChat web page: http://127.0.0.1:{port}/" in stderr
