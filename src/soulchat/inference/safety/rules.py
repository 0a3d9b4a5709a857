"""Safety rules described as data: loading, validation and matching.

A rule file is YAML (see `rules/README.md` for the full format):

```yaml
target: message            # `message` (screens user messages) or `reply` (screens generated replies)
category: suicide          # default category of the file's rules
rules:
  - id: suicide.want_to_die
    severity: high         # medium, high or critical
    description: Says they want to die.
    patterns: ["想死", "想去死"]
    exclude: ["想死(你|我)们?了"]      # hard negatives: void a hit they overlap
    context_exclude: ["电影", "小说"]  # void every hit of the rule when found anywhere in the message
    negatable: true                     # void a hit that directly follows a negation (没有, 不会, ...)
```

Patterns are Python regular expressions applied to the normalised text (`normalize_text`). Four placeholders
keep them readable: `{{near}}` (up to 4 characters inside one clause), `{{gap}}` (up to 8 characters inside one
clause), `{{sentence}}` (up to 15 characters inside one sentence, across commas) and `{{span}}` (up to 16
characters of any kind).
"""

import re
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from soulchat.inference.safety.normalization import RULES_DIR

SEVERITIES: tuple[str, ...] = ("medium", "high", "critical")
TARGETS: tuple[str, ...] = ("message", "reply")
MESSAGE_CATEGORIES: tuple[str, ...] = ("suicide", "self_harm", "harm_others", "abuse")
REPLY_CATEGORIES: tuple[str, ...] = ("means", "encouragement")

# Characters that end a clause once the text is normalised (full-width punctuation is half-width by then);
# the enumeration comma 、 stays inside a clause.
_CLAUSE_END = ",.!?;:。\n"
_CLAUSE_END_RE = re.compile(f"[{re.escape(_CLAUSE_END)}]")
# How far back in its clause a negation may void a hit, in characters.
NEGATION_WINDOW = 48
_PLACEHOLDERS = {
    "{{near}}": f"[^{_CLAUSE_END}]{{0,4}}",
    "{{gap}}": f"[^{_CLAUSE_END}]{{0,8}}",
    "{{span}}": ".{0,16}",
    "{{sentence}}": "[^。!?;\\n]{0,15}",
}
# A negation right before a hit, optionally followed by the modal verb it negates: 没有想过 | 不会 | 从没 ...
# A bare 没 / 不 / 别 counts only when it is not the end of another word (淹没, 差不, 特别).
DEFAULT_NEGATION = (
    r"(?:(?<![埋淹出覆吞隐沉])没有?|(?<![差要了])不|(?<![特分区告离级类性个识派鉴辨])别|从不|从没有?|从来没有?|"
    r"从来不|并没有?|并不|绝不|绝对不|决不|不会|不要|不想|不再|不是|不打算|没打算|不曾|未曾)"
    r"(?:想过?|要|会|打算|准备|再|去|是|曾)?$"
)
_RULE_KEYS = {"id", "severity", "description", "patterns", "exclude", "context_exclude", "negatable", "category"}
_FILE_KEYS = {"target", "category", "description", "negation", "rules"}


def _compile(patterns: list[str], *, where: str) -> re.Pattern | None:
    """Join `patterns` into one alternation, with the placeholders expanded; `None` when the list is empty."""
    if not patterns:
        return None
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p for p in patterns):
        raise ValueError(f"{where}: expected a list of non-empty strings, got {patterns!r}")
    expanded = []
    for pattern in patterns:
        for placeholder, regex in _PLACEHOLDERS.items():
            pattern = pattern.replace(placeholder, regex)
        if "{{" in pattern:
            raise ValueError(f"{where}: unknown placeholder in {pattern!r}; known: {sorted(_PLACEHOLDERS)}")
        expanded.append(f"(?:{pattern})")
    try:
        return re.compile("|".join(expanded))
    except re.error as error:
        raise ValueError(f"{where}: invalid pattern: {error}") from error


@dataclass(frozen=True)
class RuleMatch:
    """One rule that fired on a text. It carries no part of the text, so it is safe to log.

    Args:
        rule_id (`str`): The rule's `id`.
        category (`str`): The rule's category (`suicide`, `self_harm`, `harm_others`, `abuse`, `means`, ...).
        severity (`str`): `medium`, `high` or `critical`.
    """

    rule_id: str
    category: str
    severity: str

    @property
    def rank(self) -> int:
        """The severity as a number (0 for `medium` to 2 for `critical`), for ordering matches."""
        return SEVERITIES.index(self.severity)


@dataclass(frozen=True)
class SafetyRule:
    """One compiled rule. Build it with `RuleSet.from_files`, which validates the YAML.

    Args:
        id (`str`): Unique identifier, `<category>.<name>` by convention; it is what gets logged.
        category (`str`): What the rule detects.
        severity (`str`): `medium`, `high` or `critical`.
        pattern (`re.Pattern`): The rule's patterns as one alternation.
        exclude (`re.Pattern`, *optional*): Hard negatives; a hit that overlaps one of their matches is void.
        context_exclude (`re.Pattern`, *optional*): Contexts (fiction, news, games) that void every hit.
        negation (`re.Pattern`, *optional*): Applied to the clause before a hit; a match voids the hit.
        description (`str`, *optional*): What the rule is for, in plain words.
    """

    id: str
    category: str
    severity: str
    pattern: re.Pattern
    exclude: re.Pattern | None = None
    context_exclude: re.Pattern | None = None
    negation: re.Pattern | None = None
    description: str = ""

    def _hits(self, text: str) -> Iterator[tuple[int, bool]]:
        """`(start, negated)` of each hit that no hard negative overlaps, in order; linear in the text's length.

        Hits and `exclude` matches both come in order, and `exclude` matches do not overlap one another, so one sweep
        over both finds the overlaps. A negation is looked for in the hit's clause, at most `NEGATION_WINDOW`
        characters back (a clause with no punctuation can be a whole long message).
        """
        excluded = self.exclude.finditer(text) if self.exclude is not None else iter(())
        current = next(excluded, None)
        clause_ends: list[int] | None = None  # found at the first hit: most rules have none
        for hit in self.pattern.finditer(text):
            start, end = hit.span()
            while current is not None and current.end() <= start:
                current = next(excluded, None)
            if current is not None and current.start() < end:
                continue
            negated = False
            if self.negation is not None:
                if clause_ends is None:
                    clause_ends = [m.start() for m in _CLAUSE_END_RE.finditer(text)]
                before = bisect_left(clause_ends, start)
                clause_start = clause_ends[before - 1] + 1 if before else 0
                clause_start = max(clause_start, start - NEGATION_WINDOW)
                negated = self.negation.search(text, clause_start, start) is not None
            yield start, negated

    def matches(self, text: str) -> bool:
        """Whether the rule fires on `text`, which must already be normalised.

        A hit counts unless it overlaps a hard negative of `exclude`, follows a negation in its clause, or the message
        holds one of the `context_exclude` contexts.
        """
        if self.context_exclude is not None and self.context_exclude.search(text):
            return False
        return any(not negated for _, negated in self._hits(text))

    def denied(self, text: str) -> bool:
        """Whether `text` (normalised) holds a hit of this rule voided by a negation: an explicit denial.

        Example: `我从来没想过伤害自己` is denied by a self-harm rule. The guard uses it to keep the n-gram scorer,
        which cannot read negation, from flagging a message the rules read as a denial.
        """
        return any(negated for _, negated in self._hits(text))


def _rule_from_dict(raw: dict[str, Any], *, defaults: dict[str, Any], where: str) -> SafetyRule:
    """Validate one YAML rule entry and compile it."""
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a rule must be a mapping, got {raw!r}")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not rule_id:
        raise ValueError(f"{where}: every rule needs a string `id`")
    where = f"{where} ({rule_id})"
    category = raw.get("category", defaults["category"])
    allowed = MESSAGE_CATEGORIES if defaults["target"] == "message" else REPLY_CATEGORIES
    if category not in allowed:
        raise ValueError(f"{where}: category must be one of {allowed} for target {defaults['target']!r}")
    if raw.get("severity") not in SEVERITIES:
        raise ValueError(f"{where}: severity must be one of {SEVERITIES}, got {raw.get('severity')!r}")
    pattern = _compile(raw.get("patterns") or [], where=f"{where} patterns")
    if pattern is None:
        raise ValueError(f"{where}: a rule needs at least one pattern")
    negatable = raw.get("negatable", True)
    if not isinstance(negatable, bool):
        raise ValueError(f"{where}: `negatable` must be true or false")
    return SafetyRule(
        id=rule_id,
        category=category,
        severity=raw["severity"],
        pattern=pattern,
        exclude=_compile(raw.get("exclude") or [], where=f"{where} exclude"),
        context_exclude=_compile(raw.get("context_exclude") or [], where=f"{where} context_exclude"),
        negation=defaults["negation"] if negatable else None,
        description=str(raw.get("description", "")),
    )


def load_rule_file(path: str | Path) -> tuple[str, list[SafetyRule]]:
    """Read, validate and compile one rule file.

    Args:
        path (`str` or `Path`): A YAML rule file.

    Returns:
        `tuple[str, list[SafetyRule]]`: The file's target (`message` or `reply`) and its rules, in file order.

    Raises:
        `ValueError`: When the file breaks the format; the message names the file and the rule.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ValueError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict) or set(data) - _FILE_KEYS:
        raise ValueError(f"{path}: expected a mapping with keys among {sorted(_FILE_KEYS)}")
    target = data.get("target")
    if target not in TARGETS:
        raise ValueError(f"{path}: `target` must be one of {TARGETS}, got {target!r}")
    if not isinstance(data.get("rules"), list) or not data["rules"]:
        raise ValueError(f"{path}: `rules` must be a non-empty list")
    defaults = {
        "target": target,
        "category": data.get("category"),
        "negation": re.compile(data.get("negation", DEFAULT_NEGATION)),
    }
    rules = [_rule_from_dict(raw, defaults=defaults, where=f"{path} rule {i}") for i, raw in enumerate(data["rules"])]
    return target, rules


def default_rule_files() -> list[Path]:
    """The shipped rule files (`rules/*.yaml`), in name order."""
    return sorted(RULES_DIR.glob("*.yaml"))


@dataclass(frozen=True)
class RuleSet:
    """The rules for one target, in order, with unique ids.

    Args:
        target (`str`): `message` or `reply`.
        rules (`tuple[SafetyRule, ...]`): The rules, earlier ones winning ties of severity.
    """

    target: str
    rules: tuple[SafetyRule, ...]

    def __post_init__(self):
        ids = [rule.id for rule in self.rules]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"duplicate rule ids in the {self.target} rule set: {duplicates}")

    @classmethod
    def from_files(cls, paths: list[str | Path], *, target: str) -> "RuleSet":
        """The rules of every file in `paths` whose `target` is `target`; files for the other target are skipped.

        Args:
            paths (`list[str | Path]`): Rule files, read in order.
            target (`str`): `message` or `reply`.
        """
        rules: list[SafetyRule] = []
        sources: dict[str, Path] = {}
        for path in paths:
            file_target, file_rules = load_rule_file(path)
            if file_target != target:
                continue
            for rule in file_rules:
                if rule.id in sources:
                    where = "twice in" if sources[rule.id] == Path(path) else f"in {sources[rule.id]} and"
                    raise ValueError(f"duplicate rule id {rule.id!r} {where} {path}")
                sources[rule.id] = Path(path)
            rules.extend(file_rules)
        return cls(target=target, rules=tuple(rules))

    def match(self, text: str) -> list[RuleMatch]:
        """Every rule that fires on the normalised `text`, most severe first (file order breaks ties)."""
        found = [RuleMatch(r.id, r.category, r.severity) for r in self.rules if r.matches(text)]
        return sorted(found, key=lambda m: -m.rank)

    def denied(self, text: str) -> bool:
        """Whether any rule reads the normalised `text` as an explicit denial (see `SafetyRule.denied`)."""
        return any(rule.denied(text) for rule in self.rules)


__all__ = [
    "DEFAULT_NEGATION",
    "MESSAGE_CATEGORIES",
    "REPLY_CATEGORIES",
    "SEVERITIES",
    "RuleMatch",
    "RuleSet",
    "SafetyRule",
    "default_rule_files",
    "load_rule_file",
]
