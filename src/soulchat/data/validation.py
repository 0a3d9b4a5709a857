"""Validation and repair: every dialogue ends up accepted, repaired (saying how) or rejected (saying why).

The defect classes (see `DEFECTS`) are those found in real counselling corpora. Repairable ones are fixed when
`repair=True` and recorded on the outcome; with `repair=False` the first of them rejects the dialogue instead.
"""

import re
from dataclasses import dataclass, field

from soulchat.data.convert import RawDialogue
from soulchat.data.formats import SPEAKER_PREFIX
from soulchat.data.schema import ASSISTANT, SYSTEM, TOPICS, USER, Dialogue, Message

# Defect name -> what it means. The first group can be repaired; the second always rejects.
REPAIRABLE = {
    "surrounding_whitespace": "whitespace around a content (stripped)",
    "speaker_prefix": "a speaker label such as 求助者： left inside a content (stripped)",
    "empty_content": "an empty or whitespace-only content (message dropped)",
    "inner_system_message": "a system message after the first turn (dropped)",
    "leading_assistant_turn": "the dialogue starts with the counsellor (leading turns dropped)",
    "consecutive_same_role": "two consecutive messages of one role (merged with a newline)",
    "trailing_user_turn": "the dialogue ends on a user turn (trailing turns dropped)",
}
REJECTING = {
    "malformed_json": "the record is not valid JSON",
    "truncated_json": "the file ends inside the record",
    "not_an_object": "the record or a turn has the wrong JSON type",
    "missing_messages": "no list of turns",
    "unknown_role": "a role that is neither user nor assistant (nor a leading system message)",
    "non_string_content": "a content that is not a string",
    "invalid_utf8": "bytes that are not valid UTF-8",
    "no_counsellor_turn": "no counsellor turn at all",
    "no_user_turn": "no user turn before a counsellor turn",
    "long_message": "a message longer than the configured limit (with reject_long_messages)",
}
DEFECTS = {**REPAIRABLE, **REJECTING}
# Noted on accepted dialogues without changing them.
FLAGS = {
    "long_message": "a message longer than `long_message_chars` characters",
    "unknown_topic": "a SoulChatCorpus topic outside the 12 topics",
    "duplicate_id": "an id already used by another dialogue (renamed `<id>#2`, `#3`, ...)",
}
_SURROGATE = re.compile(r"[\udc80-\udcff]")


@dataclass
class ValidationOptions:
    """How to validate.

    Args:
        repair (`bool`, *optional*, defaults to `True`): Repair repairable defects; otherwise reject.
        long_message_chars (`int`, *optional*, defaults to 2048): Flag messages longer than this many
            characters (longer than ChatGLM-6B's 1,536-token prompt budget for typical Chinese text).
        reject_long_messages (`bool`, *optional*, defaults to `False`): Reject those dialogues instead.
    """

    repair: bool = True
    long_message_chars: int = 2048
    reject_long_messages: bool = False


@dataclass(slots=True)
class Outcome:
    """What validation made of one record.

    Args:
        status (`str`): `"accepted"`, `"repaired"` or `"rejected"`.
        dialogue (`Dialogue`, *optional*): The (repaired) dialogue unless rejected.
        defects (`list[str]`): The defects repaired, or the one that rejected the dialogue.
        detail (`str`): For a rejection, which field is at fault and why.
        flags (`list[str]`): Notes on an accepted or repaired dialogue (see `FLAGS`).
    """

    status: str
    dialogue: Dialogue | None = None
    defects: list[str] = field(default_factory=list)
    detail: str = ""
    flags: list[str] = field(default_factory=list)


def reject(defect: str, detail: str) -> Outcome:
    return Outcome("rejected", defects=[defect], detail=detail)


def _check_turns(raw: RawDialogue) -> Outcome | None:
    """Reject unknown roles, non-string contents and invalid UTF-8; `None` when every turn is usable."""
    for i, (role, content) in enumerate(raw.turns):
        if role not in (USER, ASSISTANT, SYSTEM):
            return reject("unknown_role", f"{raw.turn_field(i)}.role is {role!r}")
        if not isinstance(content, str):
            return reject("non_string_content", f"{raw.content_field(i)} is {type(content).__name__}")
        if _SURROGATE.search(content):
            return reject("invalid_utf8", f"{raw.content_field(i)} holds bytes that are not valid UTF-8")
    if raw.topic is not None and _SURROGATE.search(raw.topic):
        return reject("invalid_utf8", "topic holds bytes that are not valid UTF-8")
    return None


def _clean_contents(raw: RawDialogue, defects: dict[str, str]) -> tuple[str | None, list[list[str]]]:
    """The leading system message and the cleaned (role, content) turns; records repairs in `defects`."""
    system, turns = None, []
    for i, (role, content) in enumerate(raw.turns):
        text = content.strip()
        if text != content:
            defects.setdefault("surrounding_whitespace", raw.content_field(i))
        m = SPEAKER_PREFIX.match(text)
        if m and role != SYSTEM:
            defects.setdefault("speaker_prefix", f"{raw.content_field(i)} starts with {m.group(0).strip()!r}")
            text = text[m.end() :].strip()
        if not text:
            defects.setdefault("empty_content", f"{raw.content_field(i)} is empty")
            continue
        if role == SYSTEM:
            if i == 0:
                system = text
            else:
                defects.setdefault("inner_system_message", f"{raw.turn_field(i)} is a system message")
            continue
        turns.append([role, text])
    return system, turns


def _fix_order(turns: list[list[str]], defects: dict[str, str]) -> list[list[str]]:
    """Drop leading counsellor turns, merge runs of one role, drop trailing user turns."""
    start = 0
    while start < len(turns) and turns[start][0] == ASSISTANT:
        start += 1
    if 0 < start < len(turns):
        defects.setdefault("leading_assistant_turn", f"{start} leading counsellor turn(s)")
    merged: list[list[str]] = []
    for role, text in turns[start:]:
        if merged and merged[-1][0] == role:
            defects.setdefault("consecutive_same_role", f"two consecutive {role} messages")
            merged[-1][1] += "\n" + text
        else:
            merged.append([role, text])
    if merged and merged[-1][0] == USER:
        defects.setdefault("trailing_user_turn", "the last message is the user's")
        merged.pop()
    return merged


def validate(
    raw: RawDialogue, *, options: ValidationOptions, check_topics: bool = False, source: str = "", index: int = 0
) -> Outcome:
    """Validate and repair one dialogue.

    Args:
        raw (`RawDialogue`): The converted record.
        options (`ValidationOptions`): What to repair, flag or reject.
        check_topics (`bool`, *optional*, defaults to `False`): Flag topics outside the 12 SoulChatCorpus topics.
        source (`str`, *optional*): The file, copied onto the dialogue.
        index (`int`, *optional*): The record's position in the file, copied onto the dialogue.

    Returns:
        `Outcome`: accepted, repaired (with the defects fixed) or rejected (with the defect and the field).
    """
    rejected = _check_turns(raw)
    if rejected is not None:
        return rejected
    defects: dict[str, str] = {}
    system, turns = _clean_contents(raw, defects)
    has_assistant = any(role == ASSISTANT for role, _ in turns)
    turns = _fix_order(turns, defects)
    if not options.repair and defects:
        name, detail = next(iter(defects.items()))
        return reject(name, f"{detail} (repair is off)")
    if not turns:
        if has_assistant:
            return reject("no_user_turn", f"{raw.field} has no user turn before a counsellor turn")
        return reject("no_counsellor_turn", f"{raw.field} has no counsellor turn")
    flags = []
    longest = max(len(text) for _, text in turns)
    if longest > options.long_message_chars:
        if options.reject_long_messages:
            where = next(
                (raw.content_field(i) for i, (_, c) in enumerate(raw.turns) if len(c.strip()) == longest),
                "a merged message",  # consecutive messages of one role, merged
            )
            return reject("long_message", f"{where} has {longest} characters (limit {options.long_message_chars})")
        flags.append("long_message")
    if check_topics and raw.topic not in TOPICS:
        flags.append("unknown_topic")
    dialogue = Dialogue(
        id=raw.id,
        topic=raw.topic,
        messages=[Message(role, text) for role, text in turns],
        system=system,
        source=source,
        index=index,
    )
    return Outcome("repaired" if defects else "accepted", dialogue, list(defects), flags=flags)


__all__ = ["DEFECTS", "FLAGS", "REJECTING", "REPAIRABLE", "Outcome", "ValidationOptions", "reject", "validate"]
