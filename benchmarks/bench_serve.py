"""Load benchmark of `soulchat serve`: N concurrent streaming clients against a small random ChatGLM-6B on CPU.

The server runs in this process on 127.0.0.1 (a free port) with the real app and engine; every client is a thread
with the official `openai` client, sending streaming requests one after the other (a one-round conversation from the
bundled sample corpus, sampled with the paper's settings and a per-request seed, a fixed `max_tokens`). Each cell
(N clients, batching on or off) is bounded in requests per client and in seconds. For N = 1, 4 and 16 it prints
requests/s, generated tokens/s, the time to first token (p50 / p95) and the per-token latency after the first token
(p50 / p95), with batching (`--max-batch-size`, default 16) and without (max batch size 1), and the ratio of
throughput with batching to without.

    python benchmarks/bench_serve.py [--clients 1 4 16] [--requests 4] [--seconds 60] [--max-tokens 32]
"""

import argparse
import json
import logging
import statistics
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import openai
import torch

from soulchat.data.bundled import sample_corpus_path
from soulchat.inference.engine import ChatEngine, DecodingSettings
from soulchat.inference.server import BackgroundServer, create_app
from soulchat.models.chatglm import ChatGLMConfig, ChatGLMForConditionalGeneration
from soulchat.training.tokenizer_training import train_chatglm_tokenizer

MODEL = "soulchat-bench"


@dataclass
class Cell:
    """The measurements of one (clients, batching) run."""

    requests: int = 0
    tokens: int = 0
    errors: int = 0
    seconds: float = 0.0
    first_token: list[float] = field(default_factory=list)
    per_token: list[float] = field(default_factory=list)

    def add(self, other: "Cell") -> None:
        self.requests += other.requests
        self.tokens += other.tokens
        self.errors += other.errors
        self.first_token += other.first_token
        self.per_token += other.per_token


def build_model(hidden: int, layers: int) -> tuple[ChatGLMForConditionalGeneration, object, list[tuple]]:
    """A random ChatGLM-6B (ChatGLM's layout, `hidden` wide) with a tokenizer trained on the sample corpus."""
    records = json.loads(sample_corpus_path().read_text(encoding="utf-8"))
    texts = [m["content"] for r in records for m in r["messages"]]
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = train_chatglm_tokenizer(texts, Path(folder))
    config = ChatGLMConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=hidden, num_layers=layers, num_attention_heads=hidden // 64,
        inner_hidden_size=4 * hidden, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        mask_token_id=tokenizer.mask_token_id, gmask_token_id=tokenizer.gmask_token_id,
        pad_token_id=tokenizer.pad_token_id, max_sequence_length=2048,
    )  # fmt: skip
    torch.manual_seed(0)
    model = ChatGLMForConditionalGeneration(config).eval()
    prompts = [(r["messages"][0]["content"]) for r in records]
    return model, tokenizer, prompts


def client_loop(url: str, prompts: list[str], index: int, args: argparse.Namespace, cell: Cell, stop: float) -> None:
    """One client: streaming requests one after the other until its quota or the deadline."""
    client = openai.OpenAI(base_url=url, api_key="-", max_retries=0, timeout=args.seconds + 60)
    for number in range(args.requests):
        if time.perf_counter() > stop:
            return
        prompt = prompts[(index * args.requests + number) % len(prompts)]
        messages = [{"role": "user", "content": "你好"}, {"role": "assistant", "content": "你好，请说。"}]
        start = time.perf_counter()
        stamps: list[float] = []
        try:
            stream = client.chat.completions.create(
                model=MODEL, messages=[*messages, {"role": "user", "content": prompt}], stream=True,
                max_tokens=args.max_tokens, seed=index * 1000 + number, stream_options={"include_usage": True},
            )  # fmt: skip
            tokens = 0
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    stamps.append(time.perf_counter())
                if chunk.usage is not None:
                    tokens = chunk.usage.completion_tokens
        except openai.APIError:
            cell.errors += 1
            continue
        cell.requests += 1
        cell.tokens += tokens
        if stamps:
            cell.first_token.append(stamps[0] - start)
            if tokens > 1:
                cell.per_token.append((stamps[-1] - stamps[0]) / (tokens - 1))


def run_cell(model, tokenizer, prompts: list[str], clients: int, batch_size: int, args: argparse.Namespace) -> Cell:
    """Serves the model with `batch_size` and drives it with `clients` concurrent streaming clients."""
    settings = DecodingSettings(max_new_tokens=args.max_tokens)
    cell, per_client = Cell(), [Cell() for _ in range(clients)]
    engine = ChatEngine(model, tokenizer, defaults=settings, max_batch_size=batch_size, max_queue=64)
    with engine, BackgroundServer(create_app(engine, model_name=MODEL)) as server:
        start = time.perf_counter()
        stop = start + args.seconds
        threads = [
            threading.Thread(target=client_loop, args=(server.url + "/v1", prompts, i, args, per_client[i], stop))
            for i in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        cell.seconds = time.perf_counter() - start
    for part in per_client:  # each client thread wrote only its own cell
        cell.add(part)
    return cell


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16], help="Concurrent clients per cell.")
    parser.add_argument("--requests", type=int, default=4, help="Most requests per client and cell.")
    parser.add_argument("--seconds", type=float, default=60.0, help="Most seconds per cell (no request starts later).")
    parser.add_argument("--max-tokens", type=int, default=32, help="max_tokens of every request.")
    parser.add_argument("--max-batch-size", type=int, default=16, help="The batched server's max batch size.")
    parser.add_argument("--hidden", type=int, default=256, help="Hidden size of the random model.")
    parser.add_argument("--layers", type=int, default=4, help="Layers of the random model.")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (0: torch's default).")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, tokenizer, prompts = build_model(args.hidden, args.layers)
    parameters = sum(p.numel() for p in model.parameters()) / 1e6
    print(
        f"random ChatGLM-6B layout: hidden {args.hidden}, {args.layers} layers, {parameters:.1f} M parameters, "
        f"vocab {tokenizer.vocab_size}; CPU, {torch.get_num_threads()} torch threads; max_tokens {args.max_tokens}, "
        f"<= {args.requests} requests per client, <= {args.seconds:.0f} s per cell"
    )
    header = f"{'clients':>7} {'batch':>5} {'reqs':>5} {'err':>4} {'req/s':>7} {'tok/s':>7} "
    header += f"{'TTFT p50':>9} {'TTFT p95':>9} {'tok p50':>8} {'tok p95':>8}"
    print(header)
    throughput: dict[tuple[int, int], float] = {}
    for clients in args.clients:
        for batch_size in (args.max_batch_size, 1):
            cell = run_cell(model, tokenizer, prompts, clients, batch_size, args)
            throughput[clients, batch_size] = cell.tokens / cell.seconds
            print(
                f"{clients:>7} {batch_size:>5} {cell.requests:>5} {cell.errors:>4} {cell.requests / cell.seconds:>7.2f} "
                f"{cell.tokens / cell.seconds:>7.1f} {percentile(cell.first_token, 50) * 1e3:>7.0f}ms "
                f"{percentile(cell.first_token, 95) * 1e3:>7.0f}ms {percentile(cell.per_token, 50) * 1e3:>6.1f}ms "
                f"{percentile(cell.per_token, 95) * 1e3:>6.1f}ms",
                flush=True,
            )
    print("throughput (generated tokens/s) with batching / without:")
    for clients in args.clients:
        ratio = throughput[clients, args.max_batch_size] / throughput[clients, 1]
        print(f"  {clients:>3} clients: {ratio:.2f}x")


if __name__ == "__main__":
    main()
