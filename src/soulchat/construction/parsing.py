"""From the LLM's text to dialogue turns, and the checks a rewritten dialogue must pass.

`parse_turns` is tolerant of what chat models actually write: full- or half-width colons, blank lines, numbered or
bulleted lines (`1.`, `2、`, `（3）`, `第4轮：`, `- `), Markdown bold around the label, an analysis before the dialogue
(skipped up to the template's marker line, or up to the first labelled line) and a note after it (a separator
line, a line starting with 注 / 备注 / 说明 / 以上是, or the marker again ends the dialogue). A line without a
label continues the utterance above it.

`check_turns` then says why a dialogue is invalid, as one of the reasons in `INVALID_OUTPUT`, or returns `None`.
"""

import re
from dataclasses import dataclass

from soulchat.construction.templates import PromptTemplate
from soulchat.data.formats import SPEAKER_PREFIX
from soulchat.data.schema import ASSISTANT, USER

# Reason -> what it means. An output with one of these is generated again, up to the configured bound.
INVALID_OUTPUT = {
    "empty_output": "the model returned no text",
    "truncated_output": "the model stopped at its token limit (finish_reason 'length')",
    "no_dialogue": "no line starts with a speaker label",
    "starts_with_counsellor": "the dialogue does not start with the help-seeker",
    "ends_with_user": "the dialogue does not end with the counsellor",
    "not_alternating": "two consecutive utterances by one speaker",
    "too_few_rounds": "fewer rounds than the template's minimum",
    "too_many_rounds": "more rounds than the template's maximum",
    "empty_utterance": "a speaker label with nothing after it",
    "speaker_prefix_in_content": "a speaker label left inside an utterance",
    "english_in_last_utterance": "an English sentence in the last utterance",
    "long_utterance": "an utterance longer than the configured limit",
}

# Numbering or bullets before a label: "1.", "2、", "3)", "(4)", "（5）", "[6]", "第7轮：", "Round 8:", "-", "*", ">".
_NUMBERING = (
    r"(?:[-*•>]\s*)?"
    r"(?:(?:\d{1,3}\s*[.、．)）:：]|[(（\[【]\s*\d{1,3}\s*[)）\]】]|第\s*[\d一二三四五六七八九十百]+\s*[轮回组]\s*[:：]?"
    r"|(?:round|turn)\s*\d{1,3}\s*[:：.]?)\s*)?"
)
_END_OF_DIALOGUE = re.compile(
    r"^\s*(?:-{3,}|\*{3,}|={3,}|#{1,6}\s|[（(]?(?:注|备注|说明)\s*[:：）)]|以上(?:就|便)?(?:是|为))"
)
# Three or more Latin words in a row: a sentence, not an acronym such as CBT or a word such as OK.
_ENGLISH_SENTENCE = re.compile(r"[A-Za-z]+(?:[\s,;:'’\-]+[A-Za-z]+){2,}")


@dataclass(slots=True)
class Turn:
    """One parsed utterance.

    Args:
        role (`str`): `"user"` or `"assistant"`.
        content (`str`): The text after the label, continuation lines joined with a newline.
        line (`int`): The 0-based line of the output where the utterance starts.
    """

    role: str
    content: str
    line: int


def label_pattern(template: PromptTemplate) -> re.Pattern:
    """The regular expression that recognises a labelled line of `template`'s dialogue."""
    names = "|".join(re.escape(label) for label in sorted(template.labels, key=len, reverse=True))
    return re.compile(rf"^\s*{_NUMBERING}[*_]{{0,2}}({names})[*_]{{0,2}}\s*[:：]\s*[*_]{{0,2}}\s*(.*)$", re.IGNORECASE)


def _dialogue_lines(text: str, marker: str | None, pattern: re.Pattern) -> tuple[list[str], int]:
    """The lines after the last marker that a labelled line follows (or all lines), and the first one's index."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not marker:
        return lines, 0
    labelled = [i for i, line in enumerate(lines) if pattern.match(line)]
    for start in reversed([i for i, line in enumerate(lines) if marker in line]):
        head = lines[start].split(marker, 1)[1].lstrip(" \t*_:：")
        # A marker mentioned after the dialogue ("以上就是改写后的对话") is not where it starts.
        if pattern.match(head) or any(i > start for i in labelled):
            return [head, *lines[start + 1 :]], start
    return lines, 0


def parse_turns(text: str, template: PromptTemplate, *, pattern: re.Pattern | None = None) -> list[Turn]:
    """Split the model's output into turns.

    Args:
        text (`str`): The completion text.
        template (`PromptTemplate`): Gives the speaker labels and the marker line.
        pattern (`re.Pattern`, *optional*): A cached `label_pattern(template)`.

    Returns:
        `list[Turn]`: The utterances in order; empty when no labelled line was found.

    Example:

    ```python
    >>> from soulchat.construction.templates import load_template
    >>> turns = parse_turns("分析……\\n改写后的对话：\\n1. 用户: 你好\\n\\n心理咨询师：你好，\\n慢慢说。", load_template("empathy"))
    >>> [(t.role, t.content) for t in turns]
    [('user', '你好'), ('assistant', '你好，\\n慢慢说。')]

    ```
    """
    pattern = pattern or label_pattern(template)
    lines, offset = _dialogue_lines(text, template.dialogue_marker, pattern)
    turns: list[Turn] = []
    for i, line in enumerate(lines):
        match = pattern.match(line)
        if match is not None:
            role = template.labels.get(match.group(1)) or template.labels[_case_fold(match.group(1), template)]
            turns.append(Turn(role, match.group(2).strip().rstrip("*_").strip(), offset + i))
        elif turns:
            if _END_OF_DIALOGUE.match(line) or (template.dialogue_marker and template.dialogue_marker in line):
                break
            if line.strip():
                turns[-1].content = f"{turns[-1].content}\n{line.strip()}".strip()
    return turns


def _case_fold(label: str, template: PromptTemplate) -> str:
    return next(known for known in template.labels if known.lower() == label.lower())


def check_turns(
    turns: list[Turn], *, min_rounds: int, max_rounds: int | None, max_utterance_chars: int | None = None
) -> tuple[str, str] | None:
    """Why a parsed dialogue is invalid, or `None` when it is valid.

    Args:
        turns (`list[Turn]`): The parsed utterances.
        min_rounds (`int`): The fewest counsellor replies.
        max_rounds (`int` or `None`): The most counsellor replies; `None` for no bound.
        max_utterance_chars (`int`, *optional*): The longest utterance in characters; `None` for no bound.

    Returns:
        `tuple[str, str]` or `None`: A reason of `INVALID_OUTPUT` and a detail naming the utterance at fault.
    """
    if not turns:
        return "no_dialogue", "no line starts with a speaker label"
    for i, turn in enumerate(turns):
        if not turn.content:
            return "empty_utterance", f"utterance {i} (line {turn.line}) is empty"
        for line in turn.content.split("\n"):
            match = SPEAKER_PREFIX.match(line)
            if match:
                return "speaker_prefix_in_content", f"utterance {i} holds the label {match.group(0).strip()!r}"
        if max_utterance_chars is not None and len(turn.content) > max_utterance_chars:
            return "long_utterance", f"utterance {i} has {len(turn.content)} characters (limit {max_utterance_chars})"
    if turns[0].role != USER:
        return "starts_with_counsellor", f"the first utterance (line {turns[0].line}) is the counsellor's"
    for i in range(1, len(turns)):
        if turns[i].role == turns[i - 1].role:
            return "not_alternating", f"utterances {i - 1} and {i} are both the {turns[i].role}'s"
    if turns[-1].role != ASSISTANT:
        return "ends_with_user", f"the last utterance (line {turns[-1].line}) is the help-seeker's"
    rounds = len(turns) // 2
    if rounds < min_rounds:
        return "too_few_rounds", f"{rounds} rounds (minimum {min_rounds})"
    if max_rounds is not None and rounds > max_rounds:
        return "too_many_rounds", f"{rounds} rounds (maximum {max_rounds})"
    english = _ENGLISH_SENTENCE.search(turns[-1].content)
    if english:
        return "english_in_last_utterance", f"the last utterance contains {english.group(0)[:40]!r}"
    return None


__all__ = ["INVALID_OUTPUT", "Turn", "check_turns", "label_pattern", "parse_turns"]
