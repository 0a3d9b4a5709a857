import json

import pytest

from soulchat.construction.inputs import iter_qa_items


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_qa_jsonl_with_bad_records_keeps_every_record(tmp_path):
    path = write_lines(
        tmp_path / "qa.jsonl",
        [
            json.dumps({"id": 7, "topic": "情绪", "question": " 睡不着 ", "answer": "试试放松"}, ensure_ascii=False),
            "",
            "{not json",
            json.dumps({"id": "x", "question": "有问题", "answer": "   "}, ensure_ascii=False),
            json.dumps({"question": "没有编号", "answer": "回答"}, ensure_ascii=False),
            "[1, 2]",
        ],
    )
    items = list(iter_qa_items(path))
    assert [(i.key, i.question, i.answer, i.topic, i.error is None) for i in items] == [
        ("7", "睡不着", "试试放松", "情绪", True),
        ("#1", "", "", None, False),
        ("x", "有问题", "", None, False),
        ("#3", "没有编号", "回答", None, True),
        ("#4", "", "", None, False),
    ]
    assert "no answer" in items[2].error and "not valid JSON" in items[1].error


def test_psyqa_one_item_per_answer_with_topic_from_keywords(tmp_path):
    record = {
        "questionID": 42,
        "question": "总觉得自己不够好",
        "description": "从小被拿来比较",
        "keywords": "成长,自我认知",
        "answers": [{"answer_text": "你已经很努力了", "has_label": False}, "第二个回答", {"answer_text": ""}],
    }
    path = tmp_path / "psyqa.json"
    path.write_text(json.dumps([record], ensure_ascii=False), encoding="utf-8")
    items = list(iter_qa_items(path))
    assert [i.key for i in items] == ["42-0", "42-1", "42-2"]
    assert items[0].question == "总觉得自己不够好\n从小被拿来比较" and items[0].topic == "自我认知"
    assert items[1].answer == "第二个回答" and items[2].error is not None


def test_format_can_be_forced_and_unknown_formats_fail(tmp_path):
    path = write_lines(tmp_path / "q.jsonl", [json.dumps({"id": 1, "question": "q", "answers": ["a"]})])
    assert [i.key for i in iter_qa_items(path, format="auto")] == ["1-0"]
    assert iter_qa_items(path, format="qa").__next__().error is not None  # no "answer" field
    with pytest.raises(ValueError, match="unknown input format"):
        list(iter_qa_items(path, format="csv"))


def test_a_bad_array_element_costs_only_that_element(tmp_path):
    records = [{"id": f"q{i}", "topic": "情绪", "question": f"问题{i}", "answer": f"回答{i}"} for i in range(5)]
    texts = [json.dumps(r, ensure_ascii=False) for r in records]
    texts[2] = texts[2].replace('"question": ', '"question" ', 1)
    path = tmp_path / "qa.json"
    path.write_text("[\n" + ",\n".join(texts) + "\n]", encoding="utf-8")
    items = list(iter_qa_items(path))
    assert [i.key for i in items] == ["q0", "q1", "#2", "q3", "q4"]
    assert [i.error is None for i in items] == [True, True, False, True, True]
    assert items[2].error.startswith("record 2 is not valid JSON")


def test_invalid_utf8_is_rejected_not_replaced(tmp_path):
    path = tmp_path / "qa.jsonl"
    good = json.dumps({"id": "a", "question": "问", "answer": "答"}, ensure_ascii=False).encode()
    path.write_bytes(b"\xef\xbb\xbf" + good + b"\n" + good.replace("答".encode(), b"\xff\xfe") + b"\n")
    items = list(iter_qa_items(path))
    assert items[0].error is None and items[0].answer == "答"
    assert items[1].error == "record 1 holds bytes that are not valid UTF-8"
