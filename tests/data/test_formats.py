"""Every supported format, read through auto-detection, normalises to the same dialogue."""

import json

import pytest

from soulchat.data.formats import FormatError, detect_format
from soulchat.data.pipeline import CorpusPipeline, PipelineOptions

TURNS = [
    ("user", "我最近总是睡不着。"),
    ("assistant", "失眠一定让你很疲惫。"),
    ("user", "是的，白天也没精神。"),
    ("assistant", "我们一起看看是什么让你睡不着，好吗？"),
]
EXPECTED = [list(t) for t in TURNS]


def _write(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


def _jsonl(path, records):
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    return path


def _read(path, format="auto"):
    pipeline = CorpusPipeline(PipelineOptions(format=format))
    dialogues = [d for d, _ in pipeline.dialogues(path)]
    return dialogues, pipeline.report


def _messages(role_key, content_key, roles):
    return [{role_key: roles[r], content_key: c} for r, c in TURNS]


CASES = {
    "soulchat": lambda p: _write(
        p / "a.json",
        [
            {
                "id": 3,
                "topic": "情绪",
                "messages": _messages("role", "content", {"user": "user", "assistant": "assistant"}),
            }
        ],
    ),
    "soulchat_jsonl": lambda p: _jsonl(
        p / "a.jsonl",
        [
            {
                "id": 3,
                "topic": "情绪",
                "messages": _messages("role", "content", {"user": "user", "assistant": "assistant"}),
            }
        ],
    ),
    "psydt": lambda p: _write(
        p / "a.json",
        [
            {
                "id": 3,
                "normalizedTag": "情绪",
                "messages": [
                    {"role": "system", "content": "你是一位心理咨询师。"},
                    *_messages("role", "content", {"user": "user", "assistant": "assistant"}),
                ],
            }
        ],
    ),
    "openai": lambda p: _jsonl(
        p / "a.jsonl", [{"messages": _messages("role", "content", {"user": "user", "assistant": "assistant"})}]
    ),
    "sharegpt": lambda p: _write(
        p / "a.json",
        [{"id": "x1", "conversations": _messages("from", "value", {"user": "human", "assistant": "gpt"})}],
    ),
    "smile": lambda p: _write(
        p / "d7.json",
        [{**m, "annotation": ""} for m in _messages("role", "content", {"user": "client", "assistant": "counselor"})],
    ),
    "smile_legacy": lambda p: _write(
        p / "d7.json", [("求助者：" if r == "user" else "支持者：") + c for r, c in TURNS]
    ),
    "cpsycoun": lambda p: (
        (p / "d7.txt").write_text(
            "\n".join(("来访者：" if r == "user" else "心理咨询师：") + c for r, c in TURNS) + "\n", encoding="utf-8"
        )
        and p / "d7.txt"
    ),
    "alpaca": lambda p: _write(
        p / "a.json",
        [{"instruction": TURNS[2][1], "input": "", "output": TURNS[3][1], "history": [[TURNS[0][1], TURNS[1][1]]]}],
    ),
    "xtuner": lambda p: _jsonl(
        p / "a.jsonl",
        [
            {
                "conversation": [
                    {"system": "你是一位心理咨询师。", "input": TURNS[0][1], "output": TURNS[1][1]},
                    {"input": TURNS[2][1], "output": TURNS[3][1]},
                ]
            }
        ],
    ),
}
FORMAT_OF_CASE = {"soulchat_jsonl": "soulchat"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_format_is_detected_and_normalised(tmp_path, case):
    path = CASES[case](tmp_path)
    fmt = FORMAT_OF_CASE.get(case, case)
    assert detect_format(path) == fmt
    dialogues, report = _read(path)
    assert report.records_read == 1 and report.status["accepted"] == 1, report.to_dict()
    (d,) = dialogues
    assert [[m.role, m.content] for m in d.messages] == EXPECTED
    assert d.source == str(path)
    if fmt in ("psydt", "xtuner"):
        assert d.system == "你是一位心理咨询师。"
    if fmt in ("soulchat", "psydt"):
        assert (d.id, d.topic) == ("3", "情绪")
    if fmt in ("smile", "smile_legacy", "cpsycoun"):
        assert d.id == "d7"
    if fmt == "openai":
        assert d.id == "a:0"


def test_alpaca_joins_instruction_and_input(tmp_path):
    path = _write(tmp_path / "a.json", [{"instruction": "我想问问", "input": "关于焦虑", "output": "好的"}])
    (d,), _ = _read(path, "alpaca")
    assert [m.content for m in d.messages] == ["我想问问\n关于焦虑", "好的"]


@pytest.mark.parametrize(
    ("fmt", "record", "detail"),
    [
        ("alpaca", {"instruction": "我想问问", "input": "", "output": None}, "output is NoneType"),
        ("alpaca", {"instruction": "", "input": "", "output": "好的"}, "the record has no user turn"),
        ("alpaca", {"instruction": "问", "output": "答", "history": [["问", 3]]}, "history[0][1] is int"),
        (
            "xtuner",
            {"conversation": [{"input": "你好", "output": "嗯。"}, {"input": "还有"}]},
            "conversation[1].output is NoneType",
        ),
    ],
)
def test_pair_formats_name_the_source_field(tmp_path, fmt, record, detail):
    path = _write(tmp_path / "a.json", [record])
    dialogues, report = _read(path, fmt)
    assert dialogues == [] and report.examples[0]["detail"].startswith(detail)


def test_cpsycoun_with_a_byte_order_mark_is_detected(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("\ufeff来访者：你好\n心理咨询师：我明白。\n", encoding="utf-8")
    assert detect_format(path) == "cpsycoun"
    (d,), _ = _read(path)
    assert [m.content for m in d.messages] == ["你好", "我明白。"]


def test_cpsycoun_unlabelled_lines_continue_the_utterance(tmp_path):
    path = tmp_path / "d.txt"
    path.write_text("来访者：第一行\n第二行\n\n心理咨询师：我明白。\n", encoding="utf-8")
    (d,), _ = _read(path)
    assert [m.content for m in d.messages] == ["第一行\n第二行", "我明白。"]


def test_undetectable_file_names_the_file(tmp_path):
    path = _write(tmp_path / "weird.json", [{"foo": 1}])
    with pytest.raises(FormatError, match="weird.json.*--format"):
        detect_format(path)


def test_unknown_format_name_lists_the_known_ones():
    with pytest.raises(FormatError, match="known formats: soulchat, psydt"):
        PipelineOptions(format="nope")


def test_explicit_format_mismatch_rejects_records_with_the_field(tmp_path):
    path = _write(tmp_path / "a.json", [{"id": 1, "topic": "情绪", "messages": []}])
    dialogues, report = _read(path, "sharegpt")
    assert dialogues == [] and report.rejections == {"missing_messages": 1}
    assert report.examples[0]["detail"] == "field 'conversations' is missing"


def test_detection_survives_a_bad_first_line(tmp_path):
    path = tmp_path / "a.jsonl"
    good = json.dumps({"id": 1, "topic": "情绪", "messages": [{"role": "user", "content": "a"}]}, ensure_ascii=False)
    path.write_text("{oops\n" + good + "\n", encoding="utf-8")
    assert detect_format(path) == "soulchat"
    _, report = _read(path)
    assert report.rejections == {"malformed_json": 1, "no_counsellor_turn": 1}
