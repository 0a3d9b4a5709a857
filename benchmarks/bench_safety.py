"""Benchmark the crisis screen of the safety layer on the project's labelled evaluation sets.

For the dev set (the rules were tuned on it and the n-gram scorer trained on it) and the held-out test set, prints
recall and precision overall and per category, the confusion counts (gold category x predicted category) and the
misses and false alarms of the default screen (the rules); one line each for the opt-in screen (rules, then the
experimental n-gram scorer when no rule fires) and the scorer alone. Then an independent false-alarm check on the
user turns and replies of the bundled sample corpus (ordinary counselling dialogues written by someone else, no
crisis among them), and the throughput of `SafetyGuard.screen_message` in messages per second on one CPU core.
Target: recall >= 0.95 at precision >= 0.9.

    python benchmarks/bench_safety.py [--repeat 20] [--no-errors]
"""

import argparse
import json
import logging
import statistics
import sys
import time

from soulchat.data.bundled import sample_corpus_path
from soulchat.inference.safety import SafetyConfig, SafetyGuard, default_scorer, evaluate_screen, load_crisis_eval
from soulchat.inference.safety.evaluation import NONE, CrisisEvaluation, CrisisExample
from soulchat.inference.safety.rules import MESSAGE_CATEGORIES

TARGET_RECALL, TARGET_PRECISION = 0.95, 0.9
LABELS = (*MESSAGE_CATEGORIES, NONE)


def print_report(name: str, evaluation: CrisisEvaluation, *, show_errors: bool) -> bool:
    """Print the metrics of one split; whether it meets the target."""
    n = sum(evaluation.confusion.values())
    ok = evaluation.recall >= TARGET_RECALL and evaluation.precision >= TARGET_PRECISION
    print(f"\n== {name}: {n} messages ==")
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
    return ok


def print_opt_in(with_scorer: SafetyGuard, examples: list[CrisisExample]) -> None:
    """One line each for the rules with the opt-in scorer, and for the scorer alone."""
    both = evaluate_screen(with_scorer, examples)
    scorer = default_scorer()
    flagged = [scorer(e.text).flagged for e in examples]
    tp = sum(f and e.label for f, e in zip(flagged, examples, strict=True))
    recall, precision = tp / max(sum(e.label for e in examples), 1), tp / max(sum(flagged), 1)
    print(f"opt-in: rules + scorer  recall {both.recall:.3f}  precision {both.precision:.3f}")
    print(f"        scorer alone    recall {recall:.3f}  precision {precision:.3f}")


def print_corpus_check(rules: SafetyGuard, with_scorer: SafetyGuard) -> None:
    """False alarms on the bundled sample corpus, whose dialogues hold no crisis."""
    dialogues = json.loads(sample_corpus_path().read_text(encoding="utf-8"))
    users = [m["content"] for d in dialogues for m in d["messages"] if m["role"] == "user"]
    replies = [m["content"] for d in dialogues for m in d["messages"] if m["role"] == "assistant"]
    print(f"\n== independent check: bundled sample corpus ({len(users)} user turns, {len(replies)} replies) ==")
    for name, guard in (("rules (default)", rules), ("rules + scorer", with_scorer)):
        flagged = sum(guard.screen_message(t).flagged for t in users)
        print(f"user turns flagged, {name:<16}{flagged:>4} / {len(users)}  ({flagged / len(users):.1%})")
    blocked = sum(rules.screen_reply(t).flagged for t in replies)
    print(f"replies blocked by the reply screen   {blocked:>4} / {len(replies)}")


def measure_throughput(guard: SafetyGuard, texts: list[str], repeat: int) -> tuple[float, float]:
    """Messages per second of `guard.screen_message` over `texts`, median and best of `repeat` passes."""
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        for text in texts:
            guard.screen_message(text, conversation_id="bench")
        rates.append(len(texts) / (time.perf_counter() - start))
    return statistics.median(rates), max(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=20, help="Timed passes over the messages.")
    parser.add_argument("--no-errors", action="store_true", help="Do not list misses and false alarms.")
    args = parser.parse_args(argv)
    # Flagged messages log a warning each; the report above is the output here, and logging would skew timing.
    logging.getLogger("soulchat.inference.safety").setLevel(logging.ERROR)

    start = time.perf_counter()
    guard = SafetyGuard()
    load_s = time.perf_counter() - start
    with_scorer = SafetyGuard(SafetyConfig(use_scorer=True))
    rules, scorer = guard.message_rules.rules, with_scorer.scorer
    print(f"default: {len(rules)} message rules, {len(guard.reply_rules.rules)} reply rules, loaded in ", end="")
    print(f"{load_s * 1000:.0f} ms; opt-in scorer: {len(scorer.weights)} n-gram weights, threshold {scorer.threshold}")

    all_ok, texts = True, []
    for split, name in (("dev", "dev (rules tuned and scorer trained on it)"), ("test", "test (held out)")):
        examples = load_crisis_eval(split)
        texts += [e.text for e in examples]
        all_ok &= print_report(name, evaluate_screen(guard, examples), show_errors=not args.no_errors)
        print_opt_in(with_scorer, examples)
    print_corpus_check(guard, with_scorer)

    mean_chars = sum(map(len, texts)) / len(texts)
    print(f"\nthroughput over {len(texts)} messages ({mean_chars:.1f} characters on average, {args.repeat} passes):")
    for name, screen in (("rules (default)", guard), ("rules + scorer", with_scorer)):
        median, best = measure_throughput(screen, texts, args.repeat)
        print(f"  {name:<16}{median:>10,.0f} messages/s median, {best:,.0f} best")
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
