"""Benchmark: soulchat's BLEU/ROUGE against the reference recipe (jieba + nltk + rouge_chinese), side by side.

Builds N pairs like ``pairs_public.jsonl`` (new texts recombined, with a fixed seed, from the sentences of the public
pairs, so that no text is simply repeated), scores them with the reference recipe of the ChatGLM-6B script and with
``soulchat.metrics.score_pairs``, and prints both times, the speed-up and the largest score differences.

    python benchmarks/bench_metrics.py [--num-pairs 10000] [--seed 0] [--num-proc N] [--pairs PATH]

Needs the test extra (nltk, rouge_chinese). Both sides load jieba's dictionary before the clock starts; soulchat
starts with an empty segmentation memo.
"""

import argparse
import json
import math
import random
import re
import time
from pathlib import Path

import jieba
from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from rouge_chinese import Rouge

from soulchat.metrics import SCORE_KEYS, aggregate_scores, score_pairs
from soulchat.metrics.segmentation import clear_segmentation_cache, get_jieba_tokenizer

DEFAULT_PAIRS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "metrics" / "pairs_public.jsonl"
CUMULATIVE_WEIGHTS = [(1.0,), (1 / 2, 1 / 2), (1 / 3, 1 / 3, 1 / 3), (1 / 4, 1 / 4, 1 / 4, 1 / 4)]
_SENTENCE_END = re.compile(r"(?<=[。！？\n])")


def reference_scores(predictions: list[str], references: list[str]) -> list[dict[str, float]]:
    """The reference recipe: ChatGLM-6B's compute_metrics per pair, with LLaMA-Factory's zero for empty sides."""
    smoothing = SmoothingFunction().method3
    rouge = Rouge()
    results = []
    for pred, ref in zip(predictions, references, strict=True):
        scores = {}
        for key, weights in zip(SCORE_KEYS[:4], CUMULATIVE_WEIGHTS, strict=True):
            scores[key] = sentence_bleu([list(ref)], list(pred), weights=weights, smoothing_function=smoothing)
        try:
            rouge_scores = rouge.get_scores(" ".join(jieba.cut(pred)), " ".join(jieba.cut(ref)))[0]
            scores.update({key: rouge_scores[key]["f"] for key in SCORE_KEYS[4:]})
        except ValueError:
            scores.update(dict.fromkeys(SCORE_KEYS[4:], 0.0))
        results.append(scores)
    return results


def _source_texts(source: Path) -> dict[str, list[str]]:
    """The prediction and reference texts to recombine: the public pairs, or, where that reference data is not next
    to the checkout, the counsellor turns of the bundled sample corpus (alternately as predictions and references)."""
    if source.is_file():
        rows = [json.loads(line) for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
        return {"pred": [row["pred"] for row in rows], "ref": [row["ref"] for row in rows]}
    from soulchat.data.bundled import sample_corpus_path

    print(f"{source} not found: pairs from the counsellor turns of the bundled sample corpus instead")
    records = json.loads(sample_corpus_path().read_text(encoding="utf-8"))
    replies = [m["content"] for r in records for m in r["messages"] if m["role"] == "assistant"]
    return {"pred": replies[0::2], "ref": replies[1::2]}


def make_pairs(source: Path, num_pairs: int, seed: int) -> tuple[list[str], list[str]]:
    """Recombine the sentences of the source texts into ``num_pairs`` new pairs of similar length."""
    rng = random.Random(seed)
    texts = _source_texts(source)
    pools = {
        side: [s for text in side_texts for s in _SENTENCE_END.split(text) if s] for side, side_texts in texts.items()
    }
    sides = {}
    for side in ("pred", "ref"):
        sentence_counts = [len([s for s in _SENTENCE_END.split(text) if s]) for text in texts[side]]
        sides[side] = [
            "".join(rng.choice(pools[side]) for _ in range(max(1, rng.choice(sentence_counts))))
            for _ in range(num_pairs)
        ]
    return sides["pred"], sides["ref"]


def max_differences(ours: list[dict[str, float]], reference: list[dict[str, float]]) -> tuple[float, float]:
    per_sample = max(abs(a[key] - b[key]) for a, b in zip(ours, reference, strict=True) for key in SCORE_KEYS)
    ours_agg, ref_agg = aggregate_scores(ours), aggregate_scores(reference)
    return per_sample, max(abs(ours_agg[key] - ref_agg[key]) for key in SCORE_KEYS)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=Path, default=DEFAULT_PAIRS, help="Source pairs (JSONL with pred, ref).")
    parser.add_argument("--num-pairs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-proc", type=int, default=None, help="soulchat processes (default: all CPUs).")
    args = parser.parse_args(argv)

    predictions, references = make_pairs(args.pairs, args.num_pairs, args.seed)
    jieba.initialize()
    get_jieba_tokenizer()
    clear_segmentation_cache()

    start = time.perf_counter()
    reference = reference_scores(predictions, references)
    reference_s = time.perf_counter() - start
    start = time.perf_counter()
    ours = [s for s in score_pairs(predictions, references, num_proc=args.num_proc) if s is not None]
    ours_s = time.perf_counter() - start

    per_sample, aggregate = max_differences(ours, reference)
    mean_chars = sum(map(len, predictions + references)) / (2 * len(predictions))
    result = {
        "pairs": len(predictions),
        "mean_chars": mean_chars,
        "reference_s": reference_s,
        "soulchat_s": ours_s,
        "speedup": reference_s / ours_s,
        "max_diff_per_sample": per_sample,
        "max_diff_aggregate": aggregate,
    }
    print(f"pairs: {len(predictions)} (mean {mean_chars:.0f} characters per text)")
    print(f"reference recipe (jieba + nltk x4 + rouge_chinese): {reference_s:8.2f} s")
    print(f"soulchat.metrics:                                   {ours_s:8.2f} s")
    print(f"speed-up: {reference_s / ours_s:.1f}x")
    print(f"largest difference: per-sample {per_sample:.3g} (scores in [0, 1]), aggregate {aggregate:.3g} (x100)")
    if not (per_sample <= 1e-6 and aggregate <= 1e-4) or math.isnan(per_sample):
        raise SystemExit("scores differ from the reference beyond the tolerances")
    return result


if __name__ == "__main__":
    main()
