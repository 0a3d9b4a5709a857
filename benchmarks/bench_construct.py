"""Benchmark `soulchat construct`'s pipeline against the fake OpenAI-compatible server with a fixed latency.

The fake server runs in its own process (so that it does not share the client's interpreter) and answers every
request after `--latency` seconds with a valid 10-round dialogue of random Chinese text. The client side is the
real pipeline, in process: template rendering, the aiohttp client, parsing and validation, PII scrubbing, the
paper's content filter, MinHash near-duplicate detection, and the durable output and journal.

With a 200 ms latency and 64 requests in flight the endpoint allows at most 320 records/s; the target is at least
250 records/s on a 2-core machine, i.e. the pipeline must never be the bottleneck.

    python benchmarks/bench_construct.py [--records 3000] [--concurrency 64] [--latency 0.2]
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from soulchat.construction.config import CleaningConfig, ClientConfig, ConstructionConfig
from soulchat.construction.runner import construct_corpus

TARGET_RECORDS_PER_S = 250


def write_inputs(path: Path, n: int) -> None:
    """`n` QA records with distinct keys and a question and an answer of realistic length."""
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            question = f"〔b{i}〕最近工作压力很大，晚上总是睡不着，白天也提不起精神，不知道该怎么调整自己的状态。" * 3
            answer = "你好，能感受到你最近真的很辛苦。压力大的时候，身体和情绪都会发出信号。" * 12
            f.write(
                json.dumps(
                    {"id": f"b{i}", "topic": "职场", "question": question, "answer": answer}, ensure_ascii=False
                )
            )
            f.write("\n")


def start_server(latency: float) -> tuple[subprocess.Popen, str]:
    """The fake server in a child process, and its base URL."""
    command = [sys.executable, "-m", "soulchat.construction.fake_server", "--latency", str(latency)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    base_url = server.stdout.readline().strip()
    if not base_url.startswith("http://"):
        server.kill()
        raise RuntimeError("the fake server did not start")
    return server, base_url


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=3000, help="QA records to construct.")
    parser.add_argument("--concurrency", type=int, default=64, help="Requests in flight.")
    parser.add_argument("--latency", type=float, default=0.2, help="Seconds the fake server takes per request.")
    args = parser.parse_args(argv)
    server, base_url = start_server(args.latency)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            qa, out = Path(tmp) / "qa.jsonl", Path(tmp) / "out.jsonl"
            write_inputs(qa, args.records)
            config = ConstructionConfig(
                input=qa,
                output=out,
                client=ClientConfig(base_url=base_url, model="fake", concurrency=args.concurrency),
                cleaning=CleaningConfig(near_duplicates=True, pii="scrub"),
            )
            t = time.perf_counter()
            report = construct_corpus(config)
            elapsed = time.perf_counter() - t
    finally:
        server.terminate()
        server.wait(timeout=30)
    run = report["run"]
    ceiling = args.concurrency / args.latency if args.latency > 0 else float("inf")
    rate = run["records"] / elapsed
    print(f"records: {run['records']} (done {run['done']}, rejected {run['rejected']}, failed {run['failed']})")
    print(f"wall time: {elapsed:.2f} s; {rate:.1f} records/s; {run['tokens_per_s']:.0f} tokens/s")
    print(
        f"endpoint ceiling at concurrency {args.concurrency} and {args.latency * 1000:.0f} ms: {ceiling:.0f} records/s"
    )
    print(f"target >= {TARGET_RECORDS_PER_S} records/s: {'met' if rate >= TARGET_RECORDS_PER_S else 'NOT met'}")


if __name__ == "__main__":
    main()
