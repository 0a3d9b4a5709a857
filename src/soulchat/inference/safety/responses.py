"""The fixed texts of the safety layer: the crisis replies and the AI disclaimer.

A flagged message gets one of these replies instead of a generated one: it acknowledges the person without
judging, says plainly that their safety comes first, and gives crisis resources that work in mainland China.
They are written once, reviewed as text, and never generated.
"""

CRISIS_RESOURCES = (
    "如果你愿意，现在就可以联系能直接帮到你的人：\n"
    "· 全国心理援助热线：12356\n"
    "· 北京心理危机研究与干预中心：010-82951332\n"
    "· 如果你或身边的人正处在危险中，请立即拨打 110（报警）或 120（急救），或去最近的医院急诊。\n"
    "也可以告诉一个你信任的人你现在的状况，让他陪在你身边。"
)

_SUICIDE_REPLY = (
    "谢谢你愿意把这么沉重的感受说出来，这需要很大的勇气。听起来你现在非常痛苦，"
    "甚至想到了结束自己的生命。你的感受是真实的，也值得被认真对待；你不需要一个人扛着。"
    "我是一个AI，没办法在现实中陪在你身边，但你的安全是现在最重要的事。\n\n"
)
_SELF_HARM_REPLY = (
    "谢谢你告诉我这些。伤害自己往往是在承受太多痛苦时的一种应对方式，这不代表你不好，"
    "也不是你的错。你的身体和感受都值得被温柔对待。我是一个AI，没办法在现实中照顾你，"
    "如果伤口需要处理，请先照顾好它，也请让专业的人来帮你一起面对这些痛苦。\n\n"
)
_HARM_OTHERS_REPLY = (
    "谢谢你坦白地说出这些念头。我能感受到你心里有很强烈的愤怒或痛苦，有这样的感受不代表你是坏人。"
    "在情绪很激烈的时候，最重要的是让你自己和其他人都保持安全：请先离开可能伤到人的东西和场合，"
    "给自己一点时间冷静下来。我是一个AI，没办法在现实中陪你，但有人可以帮你一起处理这些感受。\n\n"
)
_ABUSE_REPLY = (
    "谢谢你信任我，说出了这么难说出口的经历。被伤害不是你的错，你值得被尊重、被保护。"
    "你的安全是现在最重要的事：如果你正处在危险中，请尽量先到安全的地方。"
    "我是一个AI，没办法在现实中保护你，但有人可以帮你，你不必独自面对。\n\n"
)

DEFAULT_CRISIS_REPLIES: dict[str, str] = {
    "suicide": _SUICIDE_REPLY + CRISIS_RESOURCES,
    "self_harm": _SELF_HARM_REPLY + CRISIS_RESOURCES,
    "harm_others": _HARM_OTHERS_REPLY + CRISIS_RESOURCES,
    "abuse": _ABUSE_REPLY + CRISIS_RESOURCES,
}
"""The reply to a flagged user message, by category; every one ends with `CRISIS_RESOURCES`."""

SAFE_REPLY = (
    "我很在意你现在的安全，所以有些内容我不能提供。如果你正在经历很大的痛苦，或者有伤害自己的想法，"
    "请不要一个人扛着，我们可以先聊聊你现在的感受。\n\n" + CRISIS_RESOURCES
)
"""The reply that replaces a generated reply blocked by the reply screen."""

AI_DISCLAIMER = (
    "温馨提示：我是一个由人工智能驱动的心理陪伴助手，不是真人心理咨询师，我的回复不能替代专业的心理咨询、"
    "诊断或治疗。如果你正处于危机之中，请拨打全国心理援助热线 12356，或在紧急情况下拨打 110 / 120。"
)
"""Stated in the first reply of every conversation (see `SafetyGuard.add_disclaimer`)."""


def crisis_reply(category: str) -> str:
    """The default fixed reply for a flagged message of `category`.

    Args:
        category (`str`): `suicide`, `self_harm`, `harm_others` or `abuse`.

    Returns:
        `str`: The supportive reply, ending with the crisis resources (12356, 010-82951332, 110/120).

    Example:

    ```python
    >>> "12356" in crisis_reply("suicide")
    True
    ```
    """
    if category not in DEFAULT_CRISIS_REPLIES:
        raise ValueError(f"unknown crisis category {category!r}; expected one of {sorted(DEFAULT_CRISIS_REPLIES)}")
    return DEFAULT_CRISIS_REPLIES[category]


__all__ = ["AI_DISCLAIMER", "CRISIS_RESOURCES", "DEFAULT_CRISIS_REPLIES", "SAFE_REPLY", "crisis_reply"]
