"""benchmarks/bench_metrics.py runs and finds no difference on a small sample (the timing itself is not tested)."""

import importlib.util
import json
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_metrics.py"


def test_bench_metrics_small_run(shared_dir, capsys):
    spec = importlib.util.spec_from_file_location("bench_metrics", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    pairs = shared_dir / "reference" / "metrics" / "pairs_public.jsonl"
    result = bench.main(["--pairs", str(pairs), "--num-pairs", "200", "--seed", "1", "--num-proc", "2"])
    assert result["pairs"] == 200
    assert result["max_diff_per_sample"] == 0.0 and result["max_diff_aggregate"] == 0.0
    assert "speed-up" in capsys.readouterr().out


def test_make_pairs_is_seeded(shared_dir):
    spec = importlib.util.spec_from_file_location("bench_metrics", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    pairs = shared_dir / "reference" / "metrics" / "pairs_public.jsonl"
    first = bench.make_pairs(pairs, 50, seed=3)
    assert first == bench.make_pairs(pairs, 50, seed=3)
    assert first != bench.make_pairs(pairs, 50, seed=4)
    # Recombined sentences: 48 distinct predictions, of which only 5 happen to equal a source prediction.
    sources = {json.loads(line)["pred"] for line in pairs.read_text(encoding="utf-8").splitlines()}
    assert len(set(first[0])) == 48
    assert sum(text in sources for text in first[0]) == 5
