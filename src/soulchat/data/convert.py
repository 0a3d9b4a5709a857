"""Conversion of a raw record into a `RawDialogue`: the turns as found, with the format's roles mapped.

Conversion only reshapes; judging the turns (roles, contents, order) is validation's job. A record whose shape
does not fit its format at all raises `RecordError` with the defect name and the field at fault.
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soulchat.data.formats import FormatSpec
from soulchat.data.readers import RawRecord
from soulchat.data.schema import ASSISTANT, SYSTEM, USER


class RecordError(ValueError):
    """A record that cannot become a dialogue; `defect` names the defect class, the message the field."""

    def __init__(self, defect: str, detail: str):
        super().__init__(detail)
        self.defect = defect
        self.detail = detail


@dataclass(slots=True)
class RawDialogue:
    """A dialogue's turns as found in the source, roles mapped where the format knows them.

    Args:
        id (`str`): The record id, or `"<file stem>:<index>"` (`"<file stem>"` for one-dialogue files).
        topic (`str`, *optional*): The topic field, if the format has one.
        turns (`list[tuple[Any, Any]]`): (role, content) pairs; unknown roles and non-string contents are kept
            as they are so that validation can report them.
        field (`str`): The name of the turn list in the source, for error messages (`"messages"`, ...).
        locations (`list[str]`, *optional*): Where each turn's content sits in the source (`"history[0][1]"`,
            `"output"`, ...), for formats whose turns are not one list of objects.
    """

    id: str
    topic: str | None
    turns: list[tuple[Any, Any]]
    field: str = "messages"
    locations: list[str] | None = None

    def turn_field(self, i: int) -> str:
        """The source field of turn `i`, for error messages."""
        return self.locations[i] if self.locations is not None else f"{self.field}[{i}]"

    def content_field(self, i: int) -> str:
        """The source field of turn `i`'s text, for error messages."""
        return self.locations[i] if self.locations is not None else f"{self.field}[{i}].content"


def record_id(record: RawRecord, spec: FormatSpec) -> str:
    """The id of a parsed record: its id field, or `"<file stem>:<index>"` (`"<file stem>"` for one-dialogue
    files)."""
    value = record.value
    if spec.id_key and isinstance(value, dict) and value.get(spec.id_key) is not None:
        return str(value[spec.id_key])
    stem = Path(record.source).stem
    return stem if spec.container == "file" else f"{stem}:{record.index}"


def _messages(value: Any, spec: FormatSpec) -> tuple[list[tuple[Any, Any]], str]:
    name = spec.messages_key or "dialogue"
    items = value if spec.messages_key is None else value.get(spec.messages_key) if isinstance(value, dict) else None
    if not isinstance(value, (dict, list)):
        raise RecordError("not_an_object", f"the record is a JSON {type(value).__name__}, expected an object")
    if items is None:
        state = "null" if isinstance(value, dict) and name in value else "missing"
        raise RecordError("missing_messages", f"field '{name}' is {state}")
    if not isinstance(items, list):
        raise RecordError("missing_messages", f"field '{name}' is a {type(items).__name__}, expected a list")
    turns = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise RecordError("not_an_object", f"{name}[{i}] is a {type(item).__name__}, expected an object")
        role = item.get(spec.role_key)
        turns.append((spec.roles.get(role, role) if isinstance(role, str) else role, item.get(spec.content_key)))
    return turns, name


def _prefix_pattern(spec: FormatSpec) -> re.Pattern:
    return re.compile(r"^\s*(" + "|".join(sorted(spec.prefixes, key=len, reverse=True)) + r")\s*[：:]\s*", re.S)


def _prefixed(value: Any, spec: FormatSpec) -> list[tuple[Any, Any]]:
    pattern = _prefix_pattern(spec)
    if isinstance(value, str):  # a text file: one utterance a line; unlabelled lines continue the previous one
        turns: list[list[Any]] = []
        for line in value.splitlines():
            if not line.strip():
                continue
            m = pattern.match(line)
            if m:
                turns.append([spec.prefixes[m.group(1)], line[m.end() :]])
            elif turns:
                turns[-1][1] += "\n" + line
            else:
                raise RecordError(
                    "unknown_role", f"line '{line[:30]}' has no speaker label ({'/'.join(spec.prefixes)})"
                )
        return [(role, content) for role, content in turns]
    if not isinstance(value, list):
        raise RecordError("not_an_object", f"the record is a JSON {type(value).__name__}, expected a list of strings")
    result = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            result.append((None, item))
            continue
        m = pattern.match(item)
        if not m:
            raise RecordError("unknown_role", f"dialogue[{i}] has no speaker label ({'/'.join(spec.prefixes)})")
        result.append((spec.prefixes[m.group(1)], item[m.end() :]))
    return result


def _pairs(value: Any) -> tuple[list[tuple[Any, Any]], list[str]]:
    if not isinstance(value, dict):
        raise RecordError("not_an_object", f"the record is a JSON {type(value).__name__}, expected an object")
    turns: list[tuple[Any, Any]] = []
    where: list[str] = []
    if isinstance(value.get("system"), str) and value["system"].strip():
        turns.append((SYSTEM, value["system"]))
        where.append("system")
    history = value.get("history") or []
    if not isinstance(history, list):
        raise RecordError("missing_messages", f"field 'history' is a {type(history).__name__}, expected a list")
    for i, pair in enumerate(history):
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
            raise RecordError("not_an_object", f"history[{i}] is not a [question, answer] pair")
        turns += [(USER, pair[0]), (ASSISTANT, pair[1])]
        where += [f"history[{i}][0]", f"history[{i}][1]"]
    instruction, extra = value.get("instruction"), value.get("input")
    query, query_field = instruction, "instruction"
    if isinstance(instruction, str) and isinstance(extra, str) and extra.strip():
        if instruction.strip():
            query, query_field = f"{instruction}\n{extra}", "instruction + input"
        else:
            query, query_field = extra, "input"
    elif isinstance(instruction, str) and not instruction.strip():
        query_field = "instruction (and input)"
    turns += [(USER, query), (ASSISTANT, value.get("output"))]
    where += [query_field, "output"]
    return turns, where


def _xtuner(value: Any) -> tuple[list[tuple[Any, Any]], list[str]]:
    if not isinstance(value, dict) or not isinstance(value.get("conversation"), list):
        raise RecordError("missing_messages", "field 'conversation' is missing or not a list")
    turns: list[tuple[Any, Any]] = []
    where: list[str] = []
    for i, item in enumerate(value["conversation"]):
        if not isinstance(item, dict):
            raise RecordError("not_an_object", f"conversation[{i}] is not an object")
        if isinstance(item.get("system"), str) and item["system"].strip():
            turns.append((SYSTEM, item["system"]))
            where.append(f"conversation[{i}].system")
        turns += [(USER, item.get("input")), (ASSISTANT, item.get("output"))]
        where += [f"conversation[{i}].input", f"conversation[{i}].output"]
    return turns, where


def to_raw_dialogue(record: RawRecord, spec: FormatSpec) -> RawDialogue:
    """Reshape a parsed record of format `spec` into a `RawDialogue`.

    Raises:
        `RecordError`: when the record's shape does not fit the format (missing turn list, a turn that is not
        an object, an utterance without a speaker label).
    """
    value = record.value
    name = spec.messages_key or "dialogue"
    where = None
    if spec.layout == "messages":
        turns, name = _messages(value, spec)
    elif spec.layout == "prefixed":
        turns = _prefixed(value, spec)
    elif spec.layout == "pairs":
        (turns, where), name = _pairs(value), "the record"
    else:
        (turns, where), name = _xtuner(value), "conversation"
    topic = value.get(spec.topic_key) if spec.topic_key and isinstance(value, dict) else None
    return RawDialogue(
        id=record_id(record, spec),
        topic=None if topic is None else str(topic),
        turns=turns,
        field=name,
        locations=where,
    )


__all__ = ["RawDialogue", "RecordError", "record_id", "to_raw_dialogue"]
