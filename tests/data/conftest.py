import json
from pathlib import Path

import pytest


def good(i: int, topic: str = "情绪", rounds: int = 2) -> dict:
    msgs = []
    for r in range(rounds):
        msgs += [
            {"role": "user", "content": f"第{i}段对话，第{r}轮，我有点难过。"},
            {"role": "assistant", "content": f"谢谢你愿意说出来（{i}-{r}）。"},
        ]
    return {"id": i, "topic": topic, "messages": msgs}


@pytest.fixture
def messy_corpus(tmp_path) -> tuple[Path, dict]:
    """A SoulChatCorpus file with every defect class, and the expected status of each record."""
    records = [
        good(1),  # accepted
        good(2, "家庭", rounds=3),  # accepted
        {**good(3), "messages": good(3)["messages"] + [{"role": "user", "content": "还在吗"}]},  # repaired
        {
            "id": 4,
            "topic": "情绪",
            "messages": [
                {"role": "user", "content": "求助者：你好"},
                {"role": "assistant", "content": "支持者：你好"},
            ],
        },  # repaired
        {"id": 5, "topic": "情绪", "messages": [{"role": "bot", "content": "hi"}]},  # rejected
        {"id": 6, "topic": "情绪", "messages": [{"role": "user", "content": 1}]},  # rejected
        {"id": 7, "topic": "情绪", "messages": [{"role": "user", "content": "只有用户"}]},  # rejected
        {"id": 8, "topic": "情绪"},  # rejected
        "just a string",  # rejected
        {**good(1), "id": 10},  # duplicate
        {
            "id": 11,
            "topic": "情绪",
            "messages": [{"role": "user", "content": "我是学生"}, {"role": "assistant", "content": "你好"}],
        },  # filtered (if on)
        {**good(12), "topic": "星座"},  # accepted, flagged
    ]
    text = "[\n" + ",\n".join(json.dumps(r, ensure_ascii=False) for r in records)
    text += ',\n{"id": 13, "topic": "情绪", "messages": [{"role": "user", "content": "断'  # truncated
    path = tmp_path / "messy.json"
    path.write_text(text, encoding="utf-8")
    bad = path.read_bytes().replace("只有用户".encode(), "只有".encode() + b"\xc3\x28")  # invalid UTF-8 in record 7
    path.write_bytes(bad)
    expected = {"accepted": 3, "repaired": 2, "rejected": 6, "duplicate": 1, "filtered": 0}
    return path, expected
