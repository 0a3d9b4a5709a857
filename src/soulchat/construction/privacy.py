"""Personal information in generated dialogues: found by pattern, then scrubbed or the dialogue rejected.

Only obvious forms are recognised (this is a safety net, not a named-entity recogniser): mainland mobile and
landline numbers, 18-digit resident ID numbers (with a valid date of birth), e-mail addresses, and street
addresses written as `…路12号` / `…小区3栋` with an optional building, unit and room.
"""

import re
from collections import Counter
from dataclasses import dataclass

PII_MODES = ("scrub", "reject", "off")

# Kind -> (pattern, placeholder). Order matters: ID numbers before phone numbers, e-mail before anything else.
PII_PATTERNS: dict[str, tuple[re.Pattern, str]] = {
    "email": (re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"), "[邮箱]"),
    "id_card": (
        re.compile(
            r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
            r"(?![0-9A-Za-z])"
        ),
        "[身份证号]",
    ),
    "phone": (
        re.compile(
            r"(?<![0-9])(?:(?:\+|00)?86[\s\-]?)?(?:1[3-9]\d[\s\-]?\d{4}[\s\-]?\d{4}|0\d{2,3}[\s\-]?\d{7,8})(?![0-9])"
        ),
        "[电话]",
    ),
    "address": (
        re.compile(
            # The place name stops at words such as 住在 / 到 / 我 that usually precede an address.
            r"(?:(?![在住到于从往去来我你他她的了和是址])[\u4e00-\u9fa5]){1,10}"
            r"(?:路|街|大道|巷|弄|胡同|小区|花园|公寓)\s*\d{1,5}\s*(?:号|栋|幢|号楼)"
            r"(?:\s*\d{1,5}\s*(?:号楼|栋|幢|单元|层|楼|室|号))*"
        ),
        "[地址]",
    ),
}
# Every kind needs a digit or an "@": most utterances have neither, and are skipped with one cheap search.
_MAYBE_PII = re.compile(r"[0-9@]")


@dataclass(frozen=True)
class PiiScrubber:
    """Finds and replaces personal information in text.

    Args:
        kinds (`tuple[str, ...]`, *optional*, defaults to all of `PII_PATTERNS`): The kinds to look for.

    Example:

    ```python
    >>> text, found = PiiScrubber().scrub("打我电话13812345678，或发邮件到 a.b@example.com")
    >>> text, dict(found)
    ('打我电话[电话]，或发邮件到 [邮箱]', {'email': 1, 'phone': 1})

    ```
    """

    kinds: tuple[str, ...] = tuple(PII_PATTERNS)

    def __post_init__(self):
        unknown = [k for k in self.kinds if k not in PII_PATTERNS]
        if unknown:
            raise ValueError(f"unknown PII kind(s) {unknown}; known: {', '.join(PII_PATTERNS)}")

    def scrub(self, text: str) -> tuple[str, Counter]:
        """`text` with every match replaced by its placeholder, and the counts of each kind."""
        found: Counter = Counter()
        if not _MAYBE_PII.search(text):
            return text, found
        for kind in self.kinds:
            pattern, placeholder = PII_PATTERNS[kind]
            text, n = pattern.subn(placeholder, text)
            if n:
                found[kind] += n
        return text, found


__all__ = ["PII_MODES", "PII_PATTERNS", "PiiScrubber"]
