"""Benchmark the crisis screen of the safety layer on the project's labelled evaluation sets.

For the dev set (the rules were tuned on it and the n-gram scorer trained on it), the held-out sets (test, round 6;
holdout, round 7; the blind sets of rounds 8 to 11, written by people who never saw the screen) and any `--extra`
labelled JSONL file in the same format, prints recall and precision overall and per category, the confusion counts
(gold category x predicted category) and the misses and false alarms of the default screen (`SafetyConfig()`: the
rules, with the scorer's second opinion on hits below `critical`, then the n-gram scorer when no rule fires). A
summary table gives every set for the default screen, the rules alone, the scorer alone and the default screen
without the second opinion. Then the false alarms on ordinary counselling messages: the held-out
`eval/ordinary_check.jsonl` (434, round 11) and the user turns of the bundled sample corpus (its odd-numbered
dialogues, never trained on, and its even-numbered ones, which the scorer was trained on); the seconds for one long
message or reply at two sizes (linear time); and the throughput of
`SafetyGuard.screen_message` in messages per second on one CPU core. Target: recall >= 0.95 at precision >= 0.9.

    python benchmarks/bench_safety.py [--repeat 20] [--no-errors] [--extra PATH.jsonl ...]
"""

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

from soulchat.inference.safety import SafetyConfig, SafetyGuard, evaluate_screen, load_crisis_eval
from soulchat.inference.safety.evaluation import EVAL_DIR, NONE, SPLITS, CrisisEvaluation, CrisisExample
from soulchat.inference.safety.rules import MESSAGE_CATEGORIES
from soulchat.inference.safety.scorer import NgramScorer
from soulchat.inference.safety.scorer_data import corpus_user_turns

TARGET_RECALL, TARGET_PRECISION = 0.95, 0.9
ORDINARY_CHECK = EVAL_DIR / "ordinary_check.jsonl"
LABELS = (*MESSAGE_CATEGORIES, NONE)


def meets_target(recall: float, precision: float) -> bool:
    return recall >= TARGET_RECALL and precision >= TARGET_PRECISION


def print_report(name: str, evaluation: CrisisEvaluation, *, show_errors: bool) -> None:
    """Print the metrics of one set for the default screen."""
    n = sum(evaluation.confusion.values())
    ok = meets_target(evaluation.recall, evaluation.precision)
    print(f"\n== {name}: {n} messages, default screen ==")
    print(
        f"overall     recall {evaluation.recall:.3f}  precision {evaluation.precision:.3f}  [{'ok' if ok else 'MISS'}]"
    )
    print(
        f"            TP {evaluation.true_positives}  FP {evaluation.false_positives}  "
        f"FN {evaluation.false_negatives}  TN {evaluation.true_negatives}"
    )
    print(f"{'category':<12}{'gold':>6}{'recall':>9}{'flagged as':>12}{'precision':>11}")
    for category in MESSAGE_CATEGORIES:
        gold = sum(v for (g, _), v in evaluation.confusion.items() if g == category)
        flagged = sum(v for (_, p), v in evaluation.confusion.items() if p == category)
        recall, precision = evaluation.category_recall(category), evaluation.category_precision(category)
        print(f"{category:<12}{gold:>6}{recall:>9.3f}{flagged:>12}{precision:>11.3f}")
    print("confusion (rows: gold, columns: predicted)")
    print(" " * 12 + "".join(f"{label:>12}" for label in LABELS))
    for gold in LABELS:
        print(f"{gold:<12}" + "".join(f"{evaluation.confusion[(gold, pred)]:>12}" for pred in LABELS))
    if show_errors:
        for example, predicted in evaluation.errors:
            kind = "miss" if example.label else "false alarm"
            print(f"  {kind:<11} gold={example.category:<11} predicted={predicted:<11} {example.text}")


def scorer_alone(scorer: NgramScorer, examples: list[CrisisExample]) -> tuple[float, float]:
    """Recall and precision of the n-gram scorer on its own, at its stored threshold."""
    flagged = [scorer(e.text).flagged for e in examples]
    tp = sum(f and e.label for f, e in zip(flagged, examples, strict=True))
    return tp / max(sum(e.label for e in examples), 1), tp / max(sum(flagged), 1)


def print_corpus_check(default: SafetyGuard, rules: SafetyGuard) -> None:
    """False alarms on the user turns of the bundled sample corpus, whose dialogues hold no crisis."""
    print("\n== false alarms on ordinary counselling messages (no crisis) ==")
    ordinary = [e.text for e in load_crisis_eval(str(ORDINARY_CHECK))]
    sets = [("held-out ordinary_check.jsonl (round 11)", ordinary)]
    for half, note in (
        ("check", "corpus, odd dialogues, never trained on"),
        ("train", "corpus, even dialogues, trained"),
    ):
        sets.append((note, [t for turns in corpus_user_turns(half) for t in turns]))
    for note, users in sets:
        for name, guard in (("default screen", default), ("rules alone", rules)):
            flagged = sum(guard.screen_message(t).flagged for t in users)
            print(f"{note:<42} {name:<15}{flagged:>4} / {len(users)}  ({flagged / len(users):.1%})")
    replies = [t for half in ("check", "train") for turns in corpus_user_turns(half, role="assistant") for t in turns]
    blocked = sum(default.screen_reply(t).flagged for t in replies)
    print(f"replies blocked by the reply screen: {blocked} / {len(replies)}")


def measure_throughput(guard: SafetyGuard, texts: list[str], repeat: int) -> tuple[float, float]:
    """Messages per second of `guard.screen_message` over `texts`, median and best of `repeat` passes."""
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        for text in texts:
            guard.screen_message(text, conversation_id="bench")
        rates.append(len(texts) / (time.perf_counter() - start))
    return statistics.median(rates), max(rates)


LONG_INPUTS = {
    "ordinary text": "最近工作压力很大，晚上总是睡不着。我和同事的关系也不太好，常常觉得很孤单。",
    "an excluded phrase, no punctuation": "想死你了",
    "a negated hit, no punctuation": "我没有想死",
}


def print_long_inputs(guard: SafetyGuard, sizes: tuple[int, ...] = (10_000, 100_000)) -> None:
    """Seconds to screen one long message (and one long reply of digits) at two sizes: linear time gives a ratio
    near the ratio of the sizes, a quadratic screen near its square."""
    print(
        f"\nlong inputs: seconds at {sizes[0]:,} and {sizes[1]:,} characters (linear: ratio ~{sizes[1] // sizes[0]})"
    )
    cases = [(name, unit, guard.screen_message) for name, unit in LONG_INPUTS.items()]
    cases.append(("a reply of digits", "１２３４５", guard.screen_reply))
    for name, unit, screen in cases:
        seconds = []
        for size in sizes:
            text = (unit * (size // len(unit) + 1))[:size]
            start = time.perf_counter()
            screen(text, conversation_id="bench")
            seconds.append(time.perf_counter() - start)
        print(f"  {name:<38}{seconds[0]:>8.3f} s {seconds[1]:>8.3f} s   ratio {seconds[1] / seconds[0]:>5.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="Timed passes over the messages.")
    parser.add_argument("--no-errors", action="store_true", help="Do not list misses and false alarms.")
    parser.add_argument(
        "--extra", action="append", default=[], metavar="PATH.jsonl", help="Another labelled set (repeatable)."
    )
    args = parser.parse_args(argv)
    # Flagged messages log a warning each; the report above is the output here, and logging would skew timing.
    logging.getLogger("soulchat.inference.safety").setLevel(logging.ERROR)

    start = time.perf_counter()
    guard = SafetyGuard()
    load_s = time.perf_counter() - start
    rules = SafetyGuard(SafetyConfig(use_scorer=False))
    no_second_opinion = SafetyGuard(SafetyConfig(scorer_second_opinion=False))
    scorer = guard.scorer
    print(
        f"default screen: {len(guard.message_rules.rules)} message rules, {len(guard.reply_rules.rules)} reply", end=""
    )
    print(f" rules, scorer {'on' if scorer else 'off'}", end="")
    print(f" ({len(scorer.weights)} n-gram weights, threshold {scorer.threshold})" if scorer else "", end="")
    print(f"; loaded in {load_s * 1000:.0f} ms")

    texts, summary = [], []
    splits = [
        ("dev", "dev (rules tuned and scorer trained on it)"),
        ("test", "test (held out, round 6)"),
        ("holdout", "holdout (held out, round 7)"),
        ("blind", "blind (held out, written without seeing the rules)"),
        ("blind2", "blind2 (held out, round 9, written from the policy alone)"),
        ("blind3", "blind3 (held out, round 10, written from the policy alone)"),
        ("blind4", "blind4 (held out, round 11, written from the policy alone)"),
    ] + [(path, f"extra: {path}") for path in args.extra]
    for split, name in splits:
        examples = load_crisis_eval(split)
        texts += [e.text for e in examples]
        evaluation = evaluate_screen(guard, examples)
        print_report(name, evaluation, show_errors=not args.no_errors)
        row = [evaluation.recall, evaluation.precision]
        alone = evaluate_screen(rules, examples)
        row += [alone.recall, alone.precision]
        row += scorer_alone(scorer, examples) if scorer else [float("nan"), float("nan")]
        without = evaluate_screen(no_second_opinion, examples)
        row += [without.recall, without.precision]
        summary.append((split if split in SPLITS else Path(split).stem, len(examples), row))
    all_ok = all(meets_target(*row[:2]) for _, _, row in summary)
    print(f"\n== summary: recall / precision (target recall >= {TARGET_RECALL} at precision >= {TARGET_PRECISION}) ==")
    width = max(9, *(len(split) + 1 for split, _, _ in summary))
    print(
        f"{'set':<{width}}{'n':>6}{'default screen':>17}{'rules alone':>17}{'scorer alone':>17}"
        f"{'no 2nd opinion':>17}  default meets target"
    )
    for split, n, row in summary:
        cells = "".join(f"{row[i]:>9.3f} / {row[i + 1]:.3f}" for i in (0, 2, 4, 6))
        print(f"{split:<{width}}{n:>6}{cells}  {'ok' if meets_target(*row[:2]) else 'MISS'}")
    print_corpus_check(guard, rules)

    mean_chars = sum(map(len, texts)) / len(texts)
    print(f"\nthroughput over {len(texts)} messages ({mean_chars:.1f} characters on average, {args.repeat} passes):")
    for name, screen in (("default screen", guard), ("rules alone", rules)):
        median, best = measure_throughput(screen, texts, args.repeat)
        print(f"  {name:<16}{median:>10,.0f} messages/s median, {best:,.0f} best")
    print_long_inputs(guard)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
