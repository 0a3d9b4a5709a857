"""The paper's content filter: drop dialogues that contain any of a list of strings.

SoulChat removed samples containing strings such as 我是 (I am: the model should not claim an identity),
自杀 (suicide) and 跳楼 (jumping off a building). The filter is off unless asked for; the list is configurable.
"""

import re
from dataclasses import dataclass
from pathlib import Path

from soulchat.data.schema import ASSISTANT, USER, Dialogue

PAPER_FILTER_STRINGS: tuple[str, ...] = ("我是", "自杀", "跳楼")


@dataclass(frozen=True)
class ContentFilter:
    """Matches dialogues holding any of `strings` in any message.

    Args:
        strings (`tuple[str, ...]`, *optional*, defaults to the paper's list): The strings to look for.
        roles (`tuple[str, ...]`, *optional*, defaults to `("user", "assistant")`): Whose messages to search.
            The paper searched everything; `("assistant",)` keeps dialogues where only the help-seeker says
            for example 我是一名大学生, and still removes a counsellor that claims an identity.
    """

    strings: tuple[str, ...] = PAPER_FILTER_STRINGS
    roles: tuple[str, ...] = (USER, ASSISTANT)

    def __post_init__(self):
        if not self.strings or any(not isinstance(s, str) or not s for s in self.strings):
            raise ValueError(f"content filter strings must be non-empty strings, got {self.strings!r}")
        if not self.roles or not set(self.roles) <= {USER, ASSISTANT}:
            raise ValueError(f"content filter roles must be among {USER!r} and {ASSISTANT!r}, got {self.roles!r}")
        pattern = re.compile("|".join(re.escape(s) for s in sorted(self.strings, key=len, reverse=True)))
        object.__setattr__(self, "_pattern", pattern)

    @classmethod
    def from_file(cls, path: Path, *, roles: tuple[str, ...] = (USER, ASSISTANT)) -> "ContentFilter":
        """One string a line; blank lines and lines starting with `#` are skipped."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return cls(tuple(s.strip() for s in lines if s.strip() and not s.lstrip().startswith("#")), roles=roles)

    def match(self, dialogue: Dialogue) -> tuple[str, int] | None:
        """The first filtered string found and the index of its message, or `None`."""
        for i, message in enumerate(dialogue.messages):
            if message.role not in self.roles:
                continue
            m = self._pattern.search(message.content)
            if m:
                return m.group(0), i
        return None


__all__ = ["PAPER_FILTER_STRINGS", "ContentFilter"]
