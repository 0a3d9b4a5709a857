"""Single-turn counselling QA records to rewrite, read lazily from JSON Lines or a JSON array.

Two layouts:

- `"qa"`: one answer a record, `{"id", "topic", "question", "answer"}`; the work item's key is the id.
- `"psyqa"`: several answers a question, PsyQA style: `{"questionID", "question", "description", "keywords",
  "answers": [{"answer_text": ...}, ...]}` (answers may also be plain strings); one work item per answer, keyed
  `"<id>-<answer index>"`. The description is appended to the question; the topic is the record's `topic`, or
  else the first of its comma-separated `keywords` that is one of the 12 SoulChatCorpus topics.

A record without an id is keyed by its position (`"#<index>"`). A record that cannot be used (not JSON, invalid
UTF-8, no question, no answer) is still yielded, with `error` set, so that it is accounted for as rejected; one
bad element of a JSON array costs only that element.
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from soulchat.data.readers import iter_json_array, iter_json_lines
from soulchat.data.schema import TOPICS

INPUT_FORMATS = ("auto", "qa", "psyqa")
_SURROGATE = re.compile(r"[\udc80-\udcff]")


@dataclass(slots=True)
class QAItem:
    """One answer to rewrite into a dialogue.

    Args:
        key (`str`): The unique key of the work item; the `id` of the dialogue written for it.
        question (`str`): The help-seeker's question (with its description, if any).
        answer (`str`): The counsellor's single-turn answer.
        topic (`str`, *optional*): The topic label, copied onto the dialogue.
        error (`str`, *optional*): Why the record cannot be used; the item is then rejected as `invalid_input`.
    """

    key: str
    question: str = ""
    answer: str = ""
    topic: str | None = None
    error: str | None = None


def _has_invalid_utf8(value: object) -> bool:
    """Whether a parsed value holds bytes that were not valid UTF-8 (kept as lone surrogates by the reader)."""
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_invalid_utf8(k) or _has_invalid_utf8(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_invalid_utf8(v) for v in value)
    return False


def _iter_json_values(path: Path) -> Iterator[tuple[int, object]]:
    """`(index, value)` of each record, streamed; a record that does not parse, or holds bytes that are not valid
    UTF-8, comes back as a `ValueError` saying where, and reading goes on with the next record."""
    with open(path, "rb") as f:
        head = f.read(4096).decode("utf-8", errors="surrogateescape").lstrip("\ufeff \t\r\n")
    reader = iter_json_array if head.startswith("[") else iter_json_lines
    for record in reader(path):
        if record.error is not None:
            yield record.index, ValueError(f"record {record.index} is not valid JSON: {record.detail}")
        elif _has_invalid_utf8(record.value):
            yield record.index, ValueError(f"record {record.index} holds bytes that are not valid UTF-8")
        else:
            yield record.index, record.value


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _psyqa_topic(record: dict) -> str | None:
    if isinstance(record.get("topic"), str):
        return record["topic"]
    keywords = record.get("keywords")
    words = keywords.replace("，", ",").split(",") if isinstance(keywords, str) else keywords or []
    return next((w.strip() for w in words if isinstance(w, str) and w.strip() in TOPICS), None)


def _record_id(record: dict, index: int) -> str:
    for key in ("id", "questionID", "question_id"):
        if record.get(key) is not None:
            return str(record[key])
    return f"#{index}"


def _qa_items(record: dict, index: int) -> Iterator[QAItem]:
    key = _record_id(record, index)
    question, answer = _text(record.get("question")), _text(record.get("answer"))
    topic = record.get("topic") if isinstance(record.get("topic"), str) else None
    error = None if question and answer else f"record {index} has no {'question' if not question else 'answer'}"
    yield QAItem(key, question, answer, topic, error)


def _psyqa_items(record: dict, index: int) -> Iterator[QAItem]:
    qid = _record_id(record, index)
    question = "\n".join(t for t in (_text(record.get("question")), _text(record.get("description"))) if t)
    answers = record.get("answers")
    if not isinstance(answers, list) or not answers:
        yield QAItem(qid, question, error=f"record {index} has no list of answers")
        return
    topic = _psyqa_topic(record)
    for k, answer in enumerate(answers):
        text = _text(answer.get("answer_text") if isinstance(answer, dict) else answer)
        error = (
            None if question and text else f"record {index} answer {k} has no {'question' if not question else 'text'}"
        )
        yield QAItem(f"{qid}-{k}", question, text, topic, error)


def iter_qa_items(path: Path, *, format: str = "auto") -> Iterator[QAItem]:
    """Yield the work items of a QA file, one per answer, in file order.

    Args:
        path (`Path`): A JSON Lines file or a JSON array.
        format (`str`, *optional*, defaults to `"auto"`): `"qa"`, `"psyqa"`, or `"auto"` (PsyQA when a record
            has an `answers` list).
    """
    if format not in INPUT_FORMATS:
        raise ValueError(f"unknown input format {format!r}; known: {', '.join(INPUT_FORMATS)}")
    for index, record in _iter_json_values(Path(path)):
        if isinstance(record, ValueError) or not isinstance(record, dict):
            detail = str(record) if isinstance(record, ValueError) else f"record {index} is not a JSON object"
            yield QAItem(f"#{index}", error=detail)
            continue
        psyqa = format == "psyqa" or (format == "auto" and "answers" in record)
        yield from (_psyqa_items if psyqa else _qa_items)(record, index)


__all__ = ["INPUT_FORMATS", "QAItem", "iter_qa_items"]
