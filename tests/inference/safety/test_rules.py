import random
import re

import pytest

from soulchat.inference.safety.normalization import normalize_text
from soulchat.inference.safety.rules import (
    _CLAUSE_END,
    MESSAGE_CATEGORIES,
    NEGATION_WINDOW,
    REPLY_CATEGORIES,
    SEVERITIES,
    RuleSet,
    default_rule_files,
    load_rule_file,
)


def write(tmp_path, text, name="rules.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_shipped_rule_file_loads_and_validates():
    files = default_rule_files()
    assert {f.name for f in files} == {
        "abuse.yaml",
        "harm_others.yaml",
        "reply_means.yaml",
        "self_harm.yaml",
        "suicide.yaml",
    }
    ids = []
    for path in files:
        target, rules = load_rule_file(path)
        assert rules, path
        for rule in rules:
            assert rule.severity in SEVERITIES
            assert rule.category in (MESSAGE_CATEGORIES if target == "message" else REPLY_CATEGORIES)
            assert rule.id.startswith(f"{rule.category}.")  # ids are <category>.<name>
            assert rule.description
            ids.append(rule.id)
    assert len(ids) == len(set(ids))
    message_rules = RuleSet.from_files(files, target="message")
    assert {rule.category for rule in message_rules.rules} == set(MESSAGE_CATEGORIES)
    assert all(rule.category in REPLY_CATEGORIES for rule in RuleSet.from_files(files, target="reply").rules)


RULE = """
target: message
category: suicide
rules:
  - id: suicide.test
    severity: high
    description: test rule
    patterns: ['想死']
    exclude: ['想死你了']
    context_exclude: ['电影']
"""


def test_exclude_voids_only_the_overlapping_hit(tmp_path):
    rules = RuleSet.from_files([write(tmp_path, RULE)], target="message")
    assert not rules.match(normalize_text("好久不见，想死你了"))
    assert [m.rule_id for m in rules.match(normalize_text("想死你了，可我也真的想死"))] == ["suicide.test"]


def test_negation_and_context_exclusion(tmp_path):
    rules = RuleSet.from_files([write(tmp_path, RULE)], target="message")
    assert not rules.match(normalize_text("我从来没有想死"))
    assert not rules.match(normalize_text("我不想死"))
    assert rules.match(normalize_text("我不知道为什么，就是想死"))  # the negation is in another clause
    assert not rules.match(normalize_text("这部电影的主角一直想死"))


def test_placeholders_stay_within_a_clause(tmp_path):
    path = write(tmp_path, RULE.replace("['想死']", "['想{{gap}}死']").replace("    exclude: ['想死你了']\n", ""))
    rules = RuleSet.from_files([path], target="message")
    assert rules.match(normalize_text("想早点死"))
    assert not rules.match(normalize_text("想吃饭,累死了"))


def test_files_for_the_other_target_are_skipped(tmp_path):
    path = write(tmp_path, RULE.replace("target: message", "target: reply").replace("suicide", "means"))
    assert RuleSet.from_files([path], target="message").rules == ()
    assert len(RuleSet.from_files([path], target="reply").rules) == 1


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (("severity: high", "severity: extreme"), "severity must be one of"),
        (("category: suicide", "category: sadness"), "category must be one of"),
        (("patterns: ['想死']", "patterns: ['想(死']"), "invalid pattern"),
        (("patterns: ['想死']", "patterns: []"), "at least one pattern"),
        (("    description: test rule", "    descripton: test rule"), "unknown keys"),
        (("target: message", "target: everything"), "`target` must be one of"),
        (("id: suicide.test", "id: ''"), "needs a string `id`"),
        (("patterns: ['想死']", "patterns: ['想{{far}}死']"), "unknown placeholder"),
    ],
)
def test_invalid_rule_files_are_rejected(tmp_path, change, error):
    with pytest.raises(ValueError, match=error):
        load_rule_file(write(tmp_path, RULE.replace(*change)))


def test_duplicate_ids_across_files_are_rejected(tmp_path):
    paths = [write(tmp_path, RULE, "a.yaml"), write(tmp_path, RULE, "b.yaml")]
    with pytest.raises(ValueError, match="duplicate rule id"):
        RuleSet.from_files(paths, target="message")


def test_matches_are_ordered_by_severity(tmp_path):
    critical = RULE.replace("suicide.test", "suicide.plan").replace("severity: high", "severity: critical")
    paths = [write(tmp_path, RULE, "a.yaml"), write(tmp_path, critical, "b.yaml")]
    matches = RuleSet.from_files(paths, target="message").match("想死")
    assert [(m.rule_id, m.severity) for m in matches] == [("suicide.plan", "critical"), ("suicide.test", "high")]


def test_rule_file_errors_name_the_file(tmp_path):
    broken = write(tmp_path, RULE.replace("patterns: ['想死']", "patterns: ['想死'"), "broken.yaml")
    with pytest.raises(ValueError, match=r"broken\.yaml: not valid YAML"):
        load_rule_file(broken)
    paths = [write(tmp_path, RULE, "a.yaml"), write(tmp_path, RULE, "b.yaml")]
    with pytest.raises(ValueError, match=r"duplicate rule id 'suicide.test' in .*a\.yaml and .*b\.yaml"):
        RuleSet.from_files(paths, target="message")


def _reference_hits(rule, text: str) -> list[tuple[int, bool]]:
    """The obvious quadratic reading of a rule: every hit against every exclusion, the clause found backwards."""
    excluded = [m.span() for m in rule.exclude.finditer(text)] if rule.exclude is not None else []
    hits = []
    for hit in rule.pattern.finditer(text):
        start, end = hit.span()
        if any(s < end and start < e for s, e in excluded):
            continue
        clause_start = max((text.rfind(c, 0, start) for c in _CLAUSE_END), default=-1) + 1
        clause_start = max(clause_start, start - NEGATION_WINDOW)
        negated = rule.negation is not None and rule.negation.search(text[clause_start:start]) is not None
        hits.append((start, negated))
    return hits


def test_the_linear_sweep_reads_rules_as_the_quadratic_definition_does():
    rules = RuleSet.from_files(default_rule_files(), target="message").rules
    pieces = [
        "想死",
        "想死你了",
        "我没有",
        "不",
        "，",
        "。",
        "自杀",
        "不想活了",
        "电影里",
        "我",
        "割腕",
        "累死了",
        "x" * 30,
    ]
    rng = random.Random(0)
    for _ in range(300):
        text = normalize_text("".join(rng.choice(pieces) for _ in range(rng.randint(1, 40))))
        for rule in rules:
            assert list(rule._hits(text)) == _reference_hits(rule, text), (rule.id, text)


def test_digit_runs_in_patterns_start_at_the_start_of_a_run():
    # An unanchored `\d+` before a fixed word backtracks over every digit of a long run: quadratic time.
    for path in default_rule_files():
        text = path.read_text(encoding="utf-8")
        for quantified in re.findall(r"(?<!\(\?<!\\d\))\\d(?:\+|\{2,\})", text):
            raise AssertionError(f"{path.name}: {quantified} without (?<!\\d) before it")
