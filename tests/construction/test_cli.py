"""`soulchat construct` from the command line: in process for its options, and as a real process killed mid-run."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

from typer.testing import CliRunner

from soulchat.cli.main import app
from tests.construction.conftest import FakeReply, read_jsonl, write_qa

FAST = ["--backoff-base", "0.001", "--backoff-max", "0.005", "--max-attempts", "2", "--max-generations", "2"]


def command(qa, out, base_url, *extra) -> list[str]:
    return ["construct", "--input", str(qa), "--output", str(out), "--base-url", base_url, "--model", "fake", *FAST,
            *extra]  # fmt: skip


def test_construct_json_report_and_help(tmp_path, fake_server):
    server = fake_server()
    qa = write_qa(tmp_path / "qa.jsonl", ["a", "b", "c"])
    result = CliRunner().invoke(app, command(qa, tmp_path / "out.jsonl", server.base_url, "--json", "--no-progress",
                                             "--max-records", "2", "--template", "empathy"))  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert (report["run"]["done"], report["total"]["records"], report["template"]) == (2, 2, "empathy")
    assert [row["id"] for row in read_jsonl(tmp_path / "out.jsonl")] == ["a", "b"]
    help_text = CliRunner().invoke(app, ["construct", "--help"]).output
    for option in ("--base-url", "--template", "--concurrency", "--max-records", "--prices", "--retry-failed"):
        assert option in help_text


def test_construct_errors_exit_with_codes(tmp_path, fake_server):
    server = fake_server(lambda key, n: FakeReply(kind="status", status=401))
    qa = write_qa(tmp_path / "qa.jsonl", ["a"])
    runner = CliRunner()
    bad_template = runner.invoke(app, command(qa, tmp_path / "o.jsonl", server.base_url, "--template", "nope"))
    assert bad_template.exit_code == 2 and "nope" in bad_template.output
    (tmp_path / "a_folder").mkdir()
    folder = runner.invoke(app, command(qa, tmp_path / "a_folder", server.base_url))
    assert folder.exit_code == 2 and "is a folder" in " ".join(folder.output.split())
    refused = runner.invoke(app, command(qa, tmp_path / "o.jsonl", server.base_url, "--no-progress"))
    assert refused.exit_code == 3 and "401" in refused.output
    assert read_jsonl(tmp_path / "o.jsonl.journal") == []  # a refused run marks nothing as finished


def kill_script(key: str, n: int) -> FakeReply:
    i = int(key[1:])
    if i % 10 == 3:
        return FakeReply(kind="status", status=500)
    if i % 10 == 7:
        return FakeReply(kind="text", text="用户：只有一句")
    if i % 10 == 5 and n == 1:
        return FakeReply(kind="status", status=429, headers={"Retry-After": "0.05"})
    return FakeReply()


def expected_status(key: str) -> str:
    return {3: "failed", 7: "rejected"}.get(int(key[1:]) % 10, "done")


def test_killed_run_resumes_without_repeating_or_losing_records(tmp_path, fake_server):
    server = fake_server(kill_script, latency_s=0.04)
    keys = [f"k{i}" for i in range(150)]
    qa, out = write_qa(tmp_path / "qa.jsonl", keys), tmp_path / "out.jsonl"
    journal = tmp_path / "out.jsonl.journal"
    argv = [sys.executable, "-m", "soulchat.cli.main", *command(qa, out, server.base_url, "--concurrency", "4",
                                                                 "--no-progress")]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}

    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        if journal.is_file() and journal.read_bytes().count(b"\n") >= 30:
            break
        time.sleep(0.01)
    assert process.poll() is None, "the run ended before it could be killed: " + process.stderr.read().decode()
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stderr.close()
    time.sleep(0.3)  # requests already on the wire are counted by now
    finished_first = {e["key"] for e in read_jsonl(journal)} | {row["id"] for row in read_jsonl(out)}
    requests_first = Counter(server.requests)
    assert 30 <= len(finished_first) < len(keys)

    second = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr

    entries = read_jsonl(journal)
    assert Counter(e["key"] for e in entries) == Counter(keys)  # every record exactly once
    assert {e["key"]: e["status"] for e in entries} == {k: expected_status(k) for k in keys}
    rows = read_jsonl(out)
    assert sorted(row["id"] for row in rows) == sorted(k for k in keys if expected_status(k) == "done")
    for key in finished_first:
        assert server.requests[key] == requests_first[key], f"{key} was requested again after it finished"
    for key in set(keys) - finished_first:
        assert server.requests[key] > requests_first[key]
    report = json.loads((tmp_path / "out.jsonl.report").read_text(encoding="utf-8"))
    assert report["total"]["records"] == 150 and report["run"]["skipped_finished"] == len(finished_first)
    assert report["total"]["failed_by_reason"] == {"http_500": 15}


def test_a_run_where_every_request_failed_exits_non_zero(tmp_path, fake_server):
    server = fake_server(lambda key, n: FakeReply(kind="status", status=500))
    qa = write_qa(tmp_path / "qa.jsonl", ["a", "b"])
    result = CliRunner().invoke(app, command(qa, tmp_path / "o.jsonl", server.base_url, "--no-progress", "--json"))
    assert result.exit_code == 1 and "all 2 requests of this run failed" in " ".join(result.output.split())
    report = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert (report["run"]["done"], report["run"]["failed"]) == (0, 2)
