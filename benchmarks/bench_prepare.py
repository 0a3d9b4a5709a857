"""Benchmark `soulchat prepare` on a synthetic SoulChatCorpus of the released size.

The corpus (258,354 dialogues, about 1.5 M messages, about 900 MB, one JSON array) is built by recombining the
bundled sample corpus's utterances, and cached. Then, side by side in one run, each in its own process:

- ours: `soulchat prepare CORPUS -o OUT` end to end (streaming read, validation, expansion, Parquet, card);
- reference: the usual recipe it replaces: `json.load` of the whole file, a Python list of (prompt,
  response) dicts, `datasets.Dataset.from_list(...).to_parquet(...)` (no validation at all).

Prints wall time, dialogues/s, samples/s and peak resident memory of each, and their ratios; the targets for
ours on a 2-core machine are at most 180 s and at most 2 GB peak RSS.

    python benchmarks/bench_prepare.py [--dialogues 258354] [--no-reference] [--cache-dir DIR]
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from soulchat.data.bundled import sample_corpus_path

RELEASE_DIALOGUES = 258_354
RELEASE_MESSAGES = 1_517_344
RELEASE_BYTES = 907_000_000


def build_corpus(path: Path, n_dialogues: int, seed: int = 0) -> None:
    """Write a synthetic corpus whose dialogue count, messages per dialogue and bytes per message match the
    release: rounds drawn from 1..5 (mean 3, as 1,517,344 / 258,354 / 2 = 2.94), each message joining 3 (one time
    in four, 2) same-role utterances of the sample corpus (about 600 bytes a message: 907 MB / 1.5 M messages)."""
    sample = json.loads(sample_corpus_path().read_text(encoding="utf-8"))
    users = [(d["topic"], m["content"]) for d in sample for m in d["messages"] if m["role"] == "user"]
    replies = [m["content"] for d in sample for m in d["messages"] if m["role"] == "assistant"]
    rng = random.Random(seed)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("[\n")
        for i in range(n_dialogues):
            topic = rng.choice(users)[0]
            messages = []
            for _ in range(rng.randint(1, 5)):
                user = "".join(rng.choice(users)[1] for _ in range(rng.choice((2, 3, 3, 3))))
                reply = "".join(rng.choice(replies) for _ in range(rng.choice((2, 3, 3, 3))))
                messages += [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]
            f.write(json.dumps({"id": i, "topic": topic, "messages": messages}, ensure_ascii=False))
            f.write(",\n" if i < n_dialogues - 1 else "\n")
        f.write("]\n")
    os.replace(tmp, path)


REFERENCE = r"""
import json, sys
import datasets
records = json.load(open(sys.argv[1], encoding="utf-8"))
rows = []
for d in records:
    history = ""
    msgs = d["messages"]
    for k in range(0, len(msgs) - 1, 2):
        prompt = history + "用户：" + msgs[k]["content"] + "\n心理咨询师："
        rows.append({"dialogue_id": str(d["id"]), "topic": d["topic"], "prompt": prompt, "response": msgs[k + 1]["content"]})
        history = prompt + msgs[k + 1]["content"] + "\n"
datasets.Dataset.from_list(rows).to_parquet(sys.argv[2])
print(json.dumps({"dialogues": len(records), "samples": len(rows)}))
"""


def run_measured(cmd: list[str]) -> tuple[float, float, str]:
    """Run `cmd` in a child process; its wall time (s), its own peak RSS (GB, from `wait4`) and its stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd[:3]} failed with exit code {proc.returncode}:\n{err.read()[-3000:]}")
        return wall, usage.ru_maxrss / 1024**2, out.read()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dialogues", type=int, default=RELEASE_DIALOGUES)
    parser.add_argument("--cache-dir", type=Path, default=Path(tempfile.gettempdir()) / "soulchat-bench")
    parser.add_argument("--no-reference", action="store_true", help="Skip the json.load + datasets reference.")
    args = parser.parse_args(argv)

    args.cache_dir.mkdir(parents=True, exist_ok=True)
    corpus = args.cache_dir / f"synthetic-{args.dialogues}.json"
    if not corpus.exists():
        t = time.perf_counter()
        build_corpus(corpus, args.dialogues)
        print(f"built {corpus} in {time.perf_counter() - t:.1f} s")
    size = corpus.stat().st_size
    print(
        f"corpus: {args.dialogues:,} dialogues, {size / 1e6:,.0f} MB (release: {RELEASE_DIALOGUES:,}, "
        f"{RELEASE_BYTES / 1e6:,.0f} MB)"
    )

    exe = str(Path(sys.executable).parent / "soulchat")
    out = args.cache_dir / "out"
    wall, peak, stdout = run_measured(
        [exe, "prepare", str(corpus), "-o", str(out), "--overwrite", "--json", "--no-progress"]
    )
    report = json.loads(stdout)
    n_dialogues = sum(report["dialogues"].values())
    n_samples = sum(report["samples"].values())
    print(f"messages: {report['messages']:,} (release: {RELEASE_MESSAGES:,}); samples: {n_samples:,}")
    print(
        f"ours      : {wall:7.1f} s  {n_dialogues / wall:9,.0f} dialogues/s  {n_samples / wall:9,.0f} samples/s  "
        f"peak RSS {peak:.2f} GB"
    )
    print(
        f"targets   : wall {wall / 180:.2f}x of 180 s, peak RSS {peak / 2:.2f}x of 2 GB "
        f"-> {'OK' if wall <= 180 and peak <= 2 else 'MISSED'}"
    )
    if args.no_reference:
        return
    script = args.cache_dir / "reference.py"
    script.write_text(REFERENCE, encoding="utf-8")
    ref_wall, ref_peak, ref_out = run_measured(
        [sys.executable, str(script), str(corpus), str(args.cache_dir / "ref.parquet")]
    )
    ref = json.loads(ref_out.strip().splitlines()[-1])
    print(
        f"reference : {ref_wall:7.1f} s  {ref['dialogues'] / ref_wall:9,.0f} dialogues/s  "
        f"{ref['samples'] / ref_wall:9,.0f} samples/s  peak RSS {ref_peak:.2f} GB"
    )
    print(
        f"ratio     : ours is {ref_wall / wall:.2f}x the reference's speed with {peak / ref_peak:.2f}x its peak memory"
    )


if __name__ == "__main__":
    main()
