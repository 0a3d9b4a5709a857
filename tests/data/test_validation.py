"""Every defect class: detected, repaired as stated (or rejected with the field), and refused with repair off."""

import pytest

from soulchat.data.convert import RawDialogue
from soulchat.data.validation import DEFECTS, REJECTING, REPAIRABLE, ValidationOptions, validate

U, A, S = "user", "assistant", "system"
OPTIONS = ValidationOptions()


def _run(turns, *, topic="情绪", options=OPTIONS, check_topics=True):
    return validate(RawDialogue(id="9", topic=topic, turns=turns), options=options, check_topics=check_topics)


def _pairs(outcome):
    return [(m.role, m.content) for m in outcome.dialogue.messages]


def test_clean_dialogue_is_accepted_unchanged():
    out = _run([(U, "你好"), (A, "你好，请说。")])
    assert out.status == "accepted" and out.defects == [] and out.flags == []
    assert _pairs(out) == [(U, "你好"), (A, "你好，请说。")]


REPAIRS = {
    "surrounding_whitespace": ([(U, " 你好\n"), (A, "嗯。 ")], [(U, "你好"), (A, "嗯。")]),
    "speaker_prefix": ([(U, "求助者：你好"), (A, "支持者: 嗯。")], [(U, "你好"), (A, "嗯。")]),
    "empty_content": ([(U, "你好"), (A, "   "), (U, "在吗"), (A, "在。")], [(U, "你好\n在吗"), (A, "在。")]),
    "inner_system_message": ([(U, "你好"), (S, "规则"), (A, "嗯。")], [(U, "你好"), (A, "嗯。")]),
    "leading_assistant_turn": ([(A, "欢迎。"), (U, "你好"), (A, "嗯。")], [(U, "你好"), (A, "嗯。")]),
    "consecutive_same_role": ([(U, "你好"), (U, "在吗"), (A, "在。")], [(U, "你好\n在吗"), (A, "在。")]),
    "trailing_user_turn": ([(U, "你好"), (A, "嗯。"), (U, "谢谢")], [(U, "你好"), (A, "嗯。")]),
}


@pytest.mark.parametrize("defect", sorted(REPAIRABLE))
def test_each_repairable_defect_is_repaired_as_stated(defect):
    turns, expected = REPAIRS[defect]
    out = _run(turns)
    assert out.status == "repaired"
    assert defect in out.defects
    assert _pairs(out) == expected


@pytest.mark.parametrize("defect", sorted(REPAIRABLE))
def test_each_repairable_defect_rejects_when_repair_is_off(defect):
    out = _run(REPAIRS[defect][0], options=ValidationOptions(repair=False))
    assert out.status == "rejected" and out.dialogue is None
    assert out.defects[0] in REPAIRABLE and "(repair is off)" in out.detail


REJECTS = {
    "unknown_role": ([(U, "你好"), ("bot", "嗯。")], "messages[1].role is 'bot'"),
    "non_string_content": ([(U, "你好"), (A, ["嗯"])], "messages[1].content is list"),
    "invalid_utf8": ([(U, "你\udcff好"), (A, "嗯。")], "messages[0].content holds bytes that are not valid UTF-8"),
    "no_counsellor_turn": ([(U, "你好"), (U, "在吗")], "messages has no counsellor turn"),
    "no_user_turn": ([(A, "欢迎。"), (A, "请讲。")], "messages has no user turn before a counsellor turn"),
}


@pytest.mark.parametrize("defect", sorted(REJECTS))
def test_each_rejecting_defect_names_the_field(defect):
    turns, detail = REJECTS[defect]
    out = _run(turns)
    assert (out.status, out.defects, out.detail) == ("rejected", [defect], detail)


def test_missing_content_is_non_string():
    out = _run([(U, "你好"), (A, None)])
    assert out.defects == ["non_string_content"] and out.detail == "messages[1].content is NoneType"


def test_leading_system_message_is_kept_apart():
    out = _run([(S, "你是心理咨询师"), (U, "你好"), (A, "嗯。")])
    assert out.status == "accepted" and out.dialogue.system == "你是心理咨询师"


def test_long_messages_are_flagged_or_rejected():
    turns = [(U, "长" * 11), (A, "嗯。")]
    out = _run(turns, options=ValidationOptions(long_message_chars=10))
    assert out.status == "accepted" and out.flags == ["long_message"]
    out = _run(turns, options=ValidationOptions(long_message_chars=10, reject_long_messages=True))
    assert out.defects == ["long_message"] and out.detail == "messages[0].content has 11 characters (limit 10)"


def test_unknown_topic_flag_only_when_checking_topics():
    assert _run([(U, "a"), (A, "b")], topic="星座").flags == ["unknown_topic"]
    assert _run([(U, "a"), (A, "b")], topic="星座", check_topics=False).flags == []


def test_several_defects_are_all_reported():
    out = _run([(A, "欢迎"), (U, "求助者：你好 "), (U, "在吗"), (A, "在。"), (U, "好")])
    assert set(out.defects) == {
        "leading_assistant_turn",
        "speaker_prefix",
        "surrounding_whitespace",
        "consecutive_same_role",
        "trailing_user_turn",
    }
    assert _pairs(out) == [(U, "你好\n在吗"), (A, "在。")]


def test_every_defect_has_a_description():
    assert set(REPAIRS) == set(REPAIRABLE)
    assert set(REJECTS) | {
        "long_message",
        "malformed_json",
        "truncated_json",
        "not_an_object",
        "missing_messages",
    } == set(REJECTING)
    assert all(DEFECTS.values())
