import json

from soulchat.construction.journal import RunFiles, load_state, repair_tail


def test_repair_tail_drops_only_a_cut_last_line(tmp_path):
    path = tmp_path / "f.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": 2}\n{"c": ')
    assert repair_tail(path) == len(b'{"c": ') and path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    assert repair_tail(path) == 0 and path.read_bytes() == b'{"a": 1}\n{"b": 2}\n'
    path.write_bytes("没有换行的一行".encode())
    assert repair_tail(path) > 0 and path.read_bytes() == b""
    assert repair_tail(tmp_path / "missing.jsonl") == 0


def test_load_state_takes_the_last_entry_sums_tokens_and_recovers_from_the_output(tmp_path):
    output, journal = tmp_path / "out.jsonl", tmp_path / "out.jsonl.journal"
    with RunFiles(output, journal) as files:
        files.write({"key": "a", "status": "failed", "reason": "timeout", "prompt_tokens": 0})
        files.write({"key": "a", "status": "done", "prompt_tokens": 10, "completion_tokens": 5},
                    {"id": "a", "topic": None, "messages": [{"role": "user", "content": "你好"}]})  # fmt: skip
        files.write({"key": "b", "status": "rejected", "reason": "pii", "prompt_tokens": 3, "completion_tokens": 1})
    with open(output, "a", encoding="utf-8") as f:  # a dialogue whose journal entry was lost, and a broken line
        f.write(json.dumps({"id": "c", "messages": [{"role": "assistant", "content": "在"}]}) + "\nnot json\n")
    seen: dict[str, list[str]] = {}
    state = load_state(output, journal, on_dialogue=lambda key, texts: seen.setdefault(key, texts))
    assert state.latest == {"a": ("done", None), "b": ("rejected", "pii"), "c": ("done", None)}
    assert (state.prompt_tokens, state.completion_tokens, state.recovered) == (13, 6, ["c"])
    assert seen == {"a": ["你好"], "c": ["在"]}
    assert state.is_finished("b") and not state.is_finished("z")


def test_failed_records_count_as_unfinished_only_with_retry_failed(tmp_path):
    output, journal = tmp_path / "out.jsonl", tmp_path / "out.jsonl.journal"
    with RunFiles(output, journal) as files:
        files.write({"key": "x", "status": "failed", "reason": "http_503"})
    state = load_state(output, journal)
    assert state.is_finished("x") and not state.is_finished("x", retry_failed=True)
