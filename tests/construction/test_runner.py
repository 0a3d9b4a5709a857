"""End-to-end runs in process against the fake server: every outcome, the report, resuming, and `prepare`."""

import json
import threading
from collections import Counter

import pytest

from soulchat.construction.client import FatalAPIError
from soulchat.construction.config import CheckConfig, CleaningConfig, ModelPrice
from soulchat.construction.fake_server import fake_dialogue
from soulchat.construction.runner import construct_corpus
from soulchat.data.pipeline import CorpusPipeline, PipelineOptions
from tests.construction.conftest import FakeReply, fast_config, read_jsonl, write_qa

SAME = fake_dialogue("shared text", rounds=9)


def outcome_script(key: str, n: int) -> FakeReply:
    replies = {
        "inv": FakeReply(kind="text", text="用户：你好"),
        "trunc": FakeReply(finish_reason="length"),
        "empty": FakeReply(kind="text", text=""),
        "filt": FakeReply(
            kind="text", text=SAME.replace("改写后的对话：", "改写后的对话：\n用户：我想跳楼\n心理咨询师：我在。")
        ),
        "pii": FakeReply(kind="text", text=fake_dialogue("p", rounds=8) + "可以打13812345678找我。"),
        "dup1": FakeReply(kind="text", text=SAME),
        "dup2": FakeReply(kind="text", text=SAME),
        "down": FakeReply(kind="status", status=500),
        "fix": FakeReply(kind="text", text="只有分析，没有对话") if n == 1 else FakeReply(),
    }
    return replies.get(key, FakeReply())


def test_every_record_ends_once_with_its_outcome(tmp_path, fake_server):
    server = fake_server(outcome_script)
    keys = ["ok0", "ok1", "ok2", "inv", "trunc", "empty", "filt", "pii", "dup1", "dup2", "down", "fix"]
    qa = write_qa(tmp_path / "qa.jsonl", keys)
    with open(qa, "a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "noanswer", "question": "〔noanswer〕只有问题"}, ensure_ascii=False) + "\n")
    out = tmp_path / "out.jsonl"
    report = construct_corpus(fast_config(qa, out, server.base_url))

    journal = {e["key"]: e for e in read_jsonl(out.with_name("out.jsonl.journal"))}
    assert len(read_jsonl(out.with_name("out.jsonl.journal"))) == len(journal) == 13
    outcome = {k: (e["status"], e.get("reason")) for k, e in journal.items()}
    assert {k: v for k, v in outcome.items() if not k.startswith("dup")} == {
        "ok0": ("done", None), "ok1": ("done", None), "ok2": ("done", None), "fix": ("done", None),
        "pii": ("done", None), "inv": ("rejected", "ends_with_user"), "trunc": ("rejected", "truncated_output"),
        "empty": ("rejected", "empty_output"), "filt": ("rejected", "content_filter"),
        "down": ("failed", "http_500"), "noanswer": ("rejected", "invalid_input"),
    }  # fmt: skip
    assert sorted([outcome["dup1"], outcome["dup2"]]) == [("done", None), ("rejected", "near_duplicate")]
    # Invalid outputs are asked for again (2 generations), failures use their 2 attempts, the rest ask once.
    assert server.requests == Counter({"inv": 2, "trunc": 2, "empty": 2, "fix": 2, "down": 2, **{
        k: 1 for k in ("ok0", "ok1", "ok2", "filt", "pii", "dup1", "dup2")}})  # fmt: skip
    assert journal["inv"]["retries"] == {"invalid:ends_with_user": 1} and journal["inv"]["output"] == "用户：你好"
    assert journal["down"]["retries"] == {"http_500": 1} and journal["down"]["attempts"] == 2

    rows = {row["id"]: row for row in read_jsonl(out)}
    assert set(rows) == {k for k, (status, _) in outcome.items() if status == "done"}
    assert all(row["topic"] == "情绪" and len(row["messages"]) >= 16 for row in rows.values())
    assert rows["pii"]["messages"][-1]["content"].endswith("可以打[电话]找我。")

    run = report["run"]
    assert (run["records"], run["done"], run["rejected"], run["failed"]) == (13, 6, 6, 1)
    assert run["rejected_by_reason"] == {"ends_with_user": 1, "truncated_output": 1, "empty_output": 1,
                                         "content_filter": 1, "near_duplicate": 1, "invalid_input": 1}  # fmt: skip
    assert run["retried_records"] == 5 and run["pii_found"] == {"phone": 1} and run["filter_matches"] == {"跳楼": 1}
    assert run["prompt_tokens"] == sum(e["prompt_tokens"] for e in journal.values()) > 0
    assert report["total"]["records"] == 13 and json.loads(out.with_name("out.jsonl.report").read_text()) == report

    # What `soulchat prepare` reads: every dialogue is accepted as it is.
    pipeline = CorpusPipeline(PipelineOptions(format="auto"))
    kept = list(pipeline.dialogues(out))
    assert len(kept) == 6 and pipeline.report.status == Counter({"accepted": 6})


def test_pii_reject_smile_template_and_cost(tmp_path, fake_server):
    def script(key, n):
        if key == "mail":
            return FakeReply(kind="text", text=fake_dialogue("m", rounds=10, labels=("求助者", "支持者")) + "a@b.cn")
        return FakeReply(rounds=10 if key != "short" else 9)

    server = fake_server(script, labels=("求助者", "支持者"))
    qa = write_qa(tmp_path / "qa.jsonl", ["a", "mail", "short"])
    prices = {"fake-model": ModelPrice(2.0, 6.0)}
    cleaning = CleaningConfig(pii="reject")
    config = fast_config(
        qa, tmp_path / "out.jsonl", server.base_url, template="smile", cleaning=cleaning, prices=prices
    )
    report = construct_corpus(config)
    assert report["run"]["rejected_by_reason"] == {"pii": 1, "too_few_rounds": 1} and report["run"]["done"] == 1
    expected = (report["run"]["prompt_tokens"] * 2.0 + report["run"]["completion_tokens"] * 6.0) / 1e6
    assert report["run"]["estimated_cost"] == pytest.approx(expected) and expected > 0
    assert report["template"] == "smile"


def test_resume_skips_finished_records_and_repairs_cut_lines(tmp_path, fake_server):
    server = fake_server()
    keys = [f"k{i}" for i in range(12)]
    qa, out = write_qa(tmp_path / "qa.jsonl", keys), tmp_path / "out.jsonl"
    journal = out.with_name("out.jsonl.journal")
    first = construct_corpus(fast_config(qa, out, server.base_url, max_records=5))
    assert first["run"]["done"] == 5 and set(server.requests) == set(keys[:5])
    # A kill while writing: the last journal entry is lost and both files end with a cut line.
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    lost = json.loads(lines[-1])["key"]
    journal.write_text("".join(lines[:-1]) + '{"key": "k9", "sta', encoding="utf-8")
    with open(out, "a", encoding="utf-8") as f:
        f.write('{"id": "k7", "topic": "情')

    second = construct_corpus(fast_config(qa, out, server.base_url))
    assert server.requests == Counter({k: 1 for k in keys})  # nothing finished was asked again
    assert second["run"]["skipped_finished"] == 5 and second["run"]["done"] == 7
    assert second["total"]["done"] == 12 and second["total"]["recovered_from_output"] == 1
    assert sorted(row["id"] for row in read_jsonl(out)) == sorted(keys)  # every line parses, none twice
    assert lost not in {e["key"] for e in read_jsonl(journal)}
    third = construct_corpus(fast_config(qa, out, server.base_url))
    assert third["run"]["records"] == 0 and third["total"]["done"] == 12


def test_near_duplicate_index_is_rebuilt_on_resume(tmp_path, fake_server):
    server = fake_server(lambda key, n: FakeReply(kind="text", text=SAME))
    qa, out = write_qa(tmp_path / "qa.jsonl", ["first", "second"]), tmp_path / "out.jsonl"
    construct_corpus(fast_config(qa, out, server.base_url, max_records=1))
    report = construct_corpus(fast_config(qa, out, server.base_url))
    assert report["run"]["rejected_by_reason"] == {"near_duplicate": 1}
    off = construct_corpus(
        fast_config(qa, tmp_path / "off.jsonl", server.base_url, cleaning=CleaningConfig(near_duplicates=False))
    )
    assert off["run"]["done"] == 2


def test_failed_records_are_final_unless_retry_failed(tmp_path, fake_server):
    server = fake_server(lambda key, n: FakeReply(kind="status", status=503) if n <= 2 else FakeReply())
    qa, out = write_qa(tmp_path / "qa.jsonl", ["flaky"]), tmp_path / "out.jsonl"
    assert construct_corpus(fast_config(qa, out, server.base_url))["run"]["failed"] == 1
    assert construct_corpus(fast_config(qa, out, server.base_url))["run"]["records"] == 0
    assert server.requests["flaky"] == 2
    report = construct_corpus(fast_config(qa, out, server.base_url, retry_failed=True))
    assert report["run"]["done"] == 1 and report["total"] == {**report["total"], "done": 1, "failed": 0}
    assert server.requests["flaky"] == 3 and [row["id"] for row in read_jsonl(out)] == ["flaky"]


def test_round_bounds_from_the_command_line_override_the_template(tmp_path, fake_server):
    server = fake_server(lambda key, n: FakeReply(rounds=4))
    qa = write_qa(tmp_path / "qa.jsonl", ["a"])
    config = fast_config(qa, tmp_path / "out.jsonl", server.base_url, checks=CheckConfig(min_rounds=3, max_rounds=5))
    assert construct_corpus(config)["run"]["done"] == 1


def test_a_refusing_endpoint_stops_a_long_run_without_marking_records(tmp_path, fake_server):
    server = fake_server(lambda key, n: FakeReply(kind="status", status=403) if key == "k40" else FakeReply())
    qa, out = write_qa(tmp_path / "qa.jsonl", [f"k{i}" for i in range(400)]), tmp_path / "out.jsonl"
    errors: list[BaseException] = []

    def run():
        try:
            construct_corpus(fast_config(qa, out, server.base_url, concurrency=1))
        except BaseException as e:  # noqa: BLE001 - the thread hands any error to the test
            errors.append(e)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the run hung after the endpoint refused a request"
    assert len(errors) == 1 and isinstance(errors[0], FatalAPIError)
    entries = read_jsonl(out.with_name("out.jsonl.journal"))
    # k0..k39 are done; with two workers sharing one slot, k41 may have finished before k40 was refused.
    keys = {e["key"] for e in entries}
    assert {f"k{i}" for i in range(40)} <= keys <= {f"k{i}" for i in range(40)} | {"k41"}
    assert len(entries) == len(read_jsonl(out)) == len(keys)
    assert json.loads(out.with_name("out.jsonl.report").read_text())["run"]["done"] == len(keys)
