"""Text normalisation applied before any safety rule is matched.

The rules are written against one canonical form of the text, so that a message typed with full-width
characters, stray spaces, zero-width characters or traditional characters matches the same patterns as its
plain simplified form. Each step is cheap (a few `str` passes), so screening stays far faster than generation.
"""

import re
import unicodedata
from functools import cache
from pathlib import Path

RULES_DIR = Path(__file__).parent / "rules"
TRADITIONAL_TABLE = RULES_DIR / "traditional_to_simplified.txt"

# Zero-width and formatting characters that can hide inside a word without changing how it looks.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
# Separators someone may put between the characters of a word (自 杀, 自*杀, 自-杀) when both sides are CJK.
_CJK = r"[\u3400-\u9fff\uf900-\ufaff]"
_SPLIT_WORD = re.compile(rf"(?<={_CJK})[\s*_~·\-]+(?={_CJK})")
_SPACES = re.compile(r"\s+")


@cache
def traditional_table(path: Path = TRADITIONAL_TABLE) -> dict[int, str]:
    """The character table mapping traditional characters to simplified ones, for `str.translate`.

    The file holds one pair a line (`殺 杀`); blank lines and lines starting with `#` are skipped. It covers the
    characters the rules use, not the whole script: a full converter (OpenCC) would be a new dependency for
    little gain, since a rule only needs its own characters to match.

    Args:
        path (`Path`, *optional*, defaults to the shipped table): The table to read.

    Returns:
        `dict[int, str]`: Code point of each traditional character to its simplified form.
    """
    table: dict[int, str] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or len(parts[0]) != 1 or len(parts[1]) != 1:
            raise ValueError(f"{path}:{number}: expected 'TRADITIONAL SIMPLIFIED', got {line!r}")
        table[ord(parts[0])] = parts[1]
    return table


def normalize_text(text: str) -> str:
    """Bring `text` into the canonical form the safety rules are written for.

    Steps, in order: Unicode NFKC (full-width letters, digits and punctuation become half-width, so `，` is `,`
    and `！` is `!`; compatibility ideographs become their usual form), removal of zero-width characters,
    lower case, traditional to simplified characters (table based), removal of separators between two CJK
    characters, and collapsing of the remaining whitespace runs to one space.

    Args:
        text (`str`): A user message or a generated reply.

    Returns:
        `str`: The normalised text. Character offsets do not map back to `text`, which is never needed since
        matches are reported by rule, never by span.

    Example:

    ```python
    >>> normalize_text("我 不想活了！ 真的")
    '我不想活了! 真的'
    >>> normalize_text("他又打我了，我好怕")
    '他又打我了,我好怕'
    ```
    """
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text).lower()
    text = text.translate(traditional_table())
    text = _SPLIT_WORD.sub("", text)
    return _SPACES.sub(" ", text).strip()


__all__ = ["RULES_DIR", "normalize_text", "traditional_table"]
