from soulchat.data.expansion import expand_dialogue, render_prompt
from soulchat.data.schema import Dialogue, Message


def _dialogue(*texts: str) -> Dialogue:
    roles = ["user", "assistant"] * (len(texts) // 2)
    return Dialogue(id="7", topic="情绪", messages=[Message(r, t) for r, t in zip(roles, texts, strict=True)])


def test_expansion_exact_strings():
    d = _dialogue(
        "我睡不着。", "失眠多久了？", "一个月了。", "这一个月你一定很累。", "嗯，很累。", "我们一起想想办法。"
    )
    samples = list(expand_dialogue(d))
    assert [s["prompt"] for s in samples] == [
        "用户：我睡不着。\n心理咨询师：",
        "用户：我睡不着。\n心理咨询师：失眠多久了？\n用户：一个月了。\n心理咨询师：",
        "用户：我睡不着。\n心理咨询师：失眠多久了？\n用户：一个月了。\n心理咨询师：这一个月你一定很累。\n"
        "用户：嗯，很累。\n心理咨询师：",
    ]
    assert [s["response"] for s in samples] == ["失眠多久了？", "这一个月你一定很累。", "我们一起想想办法。"]
    assert [s["id"] for s in samples] == ["7-1", "7-2", "7-3"]
    assert [s["turn"] for s in samples] == [1, 2, 3]
    assert all(s["dialogue_id"] == "7" and s["topic"] == "情绪" for s in samples)


def test_colons_are_full_width_and_prompt_ends_with_counsellor_label():
    prompt = render_prompt([("a", "b")], "c")
    assert "\uff1a" in prompt and ":" not in prompt
    assert prompt.endswith("心理咨询师：")


def test_render_prompt_matches_expansion():
    d = _dialogue("一", "二", "三", "四")
    samples = list(expand_dialogue(d))
    assert samples[1]["prompt"] == render_prompt([("一", "二")], "三")
    assert samples[0]["prompt"] == render_prompt([], "一")
