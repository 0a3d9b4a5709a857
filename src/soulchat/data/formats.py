"""The corpus formats soulchat reads, described as data, and their detection.

Each `FormatSpec` says where a dialogue's turns are in a record and how its role names map to `user`,
`assistant` and `system`. Four layouts cover every format:

- `"messages"`: a list of `{role_key: ..., content_key: ...}` objects (SoulChatCorpus, PsyDTCorpus, OpenAI
  messages, ShareGPT, SMILE);
- `"prefixed"`: utterances as strings that start with a speaker label (the older SMILE layout, CPsyCoun text);
- `"pairs"`: Alpaca with history (`history` pairs, then `instruction` + `input` -> `output`);
- `"xtuner"`: a list of `{"system", "input", "output"}` rounds.

A format's `container` says whether a file holds many records (a JSON array or JSON Lines: `"records"`) or
is one dialogue (`"file"`: a JSON list of turns, or a text file).
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from soulchat.data.schema import ASSISTANT, SYSTEM, USER


@dataclass(frozen=True)
class FormatSpec:
    """How one corpus format stores dialogues.

    Args:
        name (`str`): The name used by `--format`.
        layout (`str`): One of `"messages"`, `"prefixed"`, `"pairs"`, `"xtuner"`.
        container (`str`): `"records"` (array or JSON Lines of dialogues) or `"file"` (one dialogue a file).
        messages_key (`str`, *optional*): The record field holding the turns; `None` when the record is the list.
        role_key (`str`, *optional*, defaults to `"role"`): The role field of a turn object.
        content_key (`str`, *optional*, defaults to `"content"`): The text field of a turn object.
        roles (`dict[str, str]`): Source role name -> `user` / `assistant` / `system`.
        prefixes (`dict[str, str]`): Speaker label (without colon) -> role, for the `"prefixed"` layout.
        id_key (`str`, *optional*): The record's id field.
        topic_key (`str`, *optional*): The record's topic field.
        description (`str`): One line for `--help` and the dataset card.
    """

    name: str
    layout: str
    container: str
    messages_key: str | None = "messages"
    role_key: str = "role"
    content_key: str = "content"
    roles: dict[str, str] = field(default_factory=dict)
    prefixes: dict[str, str] = field(default_factory=dict)
    id_key: str | None = "id"
    topic_key: str | None = None
    description: str = ""


_CHAT_ROLES = {"user": USER, "assistant": ASSISTANT, "system": SYSTEM}

FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in [
        FormatSpec(
            name="soulchat",
            layout="messages",
            container="records",
            roles=_CHAT_ROLES,
            topic_key="topic",
            description='SoulChatCorpus: a JSON array (or JSON Lines) of {"id", "topic", "messages"}.',
        ),
        FormatSpec(
            name="psydt",
            layout="messages",
            container="records",
            roles=_CHAT_ROLES,
            topic_key="normalizedTag",
            description='PsyDTCorpus (SoulChat 2.0): {"id", "normalizedTag", "messages"} with a system message.',
        ),
        FormatSpec(
            name="openai",
            layout="messages",
            container="records",
            roles=_CHAT_ROLES,
            description='OpenAI chat messages: JSON Lines of {"messages": [{"role", "content"}]}.',
        ),
        FormatSpec(
            name="sharegpt",
            layout="messages",
            container="records",
            messages_key="conversations",
            role_key="from",
            content_key="value",
            roles={"human": USER, "user": USER, "gpt": ASSISTANT, "assistant": ASSISTANT, "system": SYSTEM},
            description='ShareGPT: {"conversations": [{"from": "human"|"gpt", "value"}]}.',
        ),
        FormatSpec(
            name="smile",
            layout="messages",
            container="file",
            messages_key=None,
            roles={"client": USER, "counselor": ASSISTANT, "counsellor": ASSISTANT, **_CHAT_ROLES},
            id_key=None,
            description='SMILE / MeChat: one JSON file a dialogue, a list of {"role": "client"|"counselor", ...}.',
        ),
        FormatSpec(
            name="smile_legacy",
            layout="prefixed",
            container="file",
            messages_key=None,
            prefixes={"求助者": USER, "支持者": ASSISTANT},
            id_key=None,
            description="SMILE, older layout: one JSON file a dialogue, a list of 求助者：/支持者： strings.",
        ),
        FormatSpec(
            name="cpsycoun",
            layout="prefixed",
            container="file",
            messages_key=None,
            prefixes={"来访者": USER, "心理咨询师": ASSISTANT, "咨询师": ASSISTANT},
            id_key=None,
            description="CPsyCoun: one text file a dialogue, one 来访者：/心理咨询师： utterance a line.",
        ),
        FormatSpec(
            name="alpaca",
            layout="pairs",
            container="records",
            messages_key=None,
            description='Alpaca with history: {"instruction", "input", "output", "history": [[q, a], ...]}.',
        ),
        FormatSpec(
            name="xtuner",
            layout="xtuner",
            container="records",
            messages_key="conversation",
            description='xtuner: {"conversation": [{"system", "input", "output"}, ...]}.',
        ),
    ]
}

# Every speaker label any supported corpus uses; a label left at the start of a content is a defect.
SPEAKER_LABELS = ("心理咨询师", "咨询师", "求助者", "支持者", "来访者", "用户", "访客", "助手")
SPEAKER_PREFIX = re.compile(r"^\s*(?:" + "|".join(SPEAKER_LABELS) + r")\s*[：:]\s*")


class FormatError(ValueError):
    """A file whose format cannot be detected or does not match the requested one."""


def detect_record_format(record: object) -> str | None:
    """The name of the format a single parsed record (or one-dialogue file) belongs to, or `None`."""
    if isinstance(record, list):
        first = next((x for x in record if x is not None), None)
        if isinstance(first, str):
            return "smile_legacy"
        if isinstance(first, dict) and "role" in first and "messages" not in first:
            return "smile"
        return None
    if not isinstance(record, dict):
        return None
    if "messages" in record:
        if "normalizedTag" in record:
            return "psydt"
        return "soulchat" if "topic" in record else "openai"
    if "conversations" in record:
        return "sharegpt"
    if "conversation" in record:
        return "xtuner"
    if "instruction" in record and "output" in record:
        return "alpaca"
    return None


def detect_text_format(text: str) -> str | None:
    """The format of a plain-text dialogue file (CPsyCoun), or `None`."""
    for line in text.lstrip("\ufeff").splitlines():
        if line.strip():
            prefixes = FORMATS["cpsycoun"].prefixes
            return "cpsycoun" if re.match(r"^\s*(" + "|".join(prefixes) + r")\s*[：:]", line) else None
    return None


def peek_json(path: Path, max_chars: int = 1 << 20) -> tuple[str, object | None]:
    """Look at the start of a JSON file: its shape (`"array"`, `"lines"` or `"text"`) and first item.

    The first item is the first array element (the whole list for a one-dialogue SMILE file), the first JSON
    line that parses, or `None` when none can be parsed from the first `max_chars` characters.
    """
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        head = f.read(max_chars)
    stripped = head.lstrip("\ufeff \t\r\n")
    decoder = json.JSONDecoder()
    if stripped.startswith("["):
        try:
            whole = decoder.raw_decode(stripped)[0]
        except json.JSONDecodeError:
            whole = None
        if isinstance(whole, list) and detect_record_format(whole) in ("smile", "smile_legacy"):
            return "array", whole
        body = stripped[1:].lstrip()
        try:
            return "array", decoder.raw_decode(body)[0]
        except json.JSONDecodeError:
            return "array", None
    if stripped.startswith("{"):
        for line in stripped.split("\n")[:20]:  # the first line that parses (a bad first line is not fatal)
            try:
                return "lines", json.loads(line)
            except json.JSONDecodeError:
                continue
        return "lines", None
    return "text", None


def is_blank(path: Path, max_bytes: int = 1 << 16) -> bool:
    """Whether a file holds nothing but whitespace (and perhaps a byte-order mark)."""
    with open(path, "rb") as f:
        head = f.read(max_bytes + 1)
    return len(head) <= max_bytes and not head.decode("utf-8", errors="replace").lstrip("\ufeff").strip()


def detect_format(path: Path) -> str:
    """Detect the format of one corpus file.

    Raises:
        `FormatError`: when no supported format matches, naming the file.
    """
    shape, first = peek_json(path)
    if shape == "text":
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            name = detect_text_format(f.read(1 << 16))
    elif shape == "array" and isinstance(first, list):
        name = detect_record_format(first)
    else:
        name = detect_record_format(first)
    if name is None:
        raise FormatError(
            f"{path}: cannot detect the corpus format from its first record; pass --format "
            f"(one of {', '.join(FORMATS)})"
        )
    return name


def get_format(name: str) -> FormatSpec:
    """The `FormatSpec` called `name`; raises `FormatError` listing the known names otherwise."""
    try:
        return FORMATS[name]
    except KeyError:
        raise FormatError(f"unknown format {name!r}; known formats: {', '.join(FORMATS)}") from None


__all__ = [
    "FORMATS",
    "SPEAKER_LABELS",
    "SPEAKER_PREFIX",
    "FormatError",
    "FormatSpec",
    "detect_format",
    "detect_record_format",
    "get_format",
    "is_blank",
]
