"""Speed and memory of the native ChatGLM-6B implementation (issue 3), side by side in one run.

1. Forward + backward time and peak memory of the `sdpa` and `eager` (the original's arithmetic) attention at several
   sequence lengths, on a mid-size random config (default: hidden 1024, 16 heads, 4 layers, vocab 130528).
   Targets at the longest length: sdpa >= 1.3x faster and <= 0.7x the peak memory of eager. The step is the one
   training runs: a padding `attention_mask` as the collator builds it, `labels` and `skip_logits=True` (the fused,
   chunked head + cross entropy that never materialises the logits); `--loss full` (or `both`) measures the plain
   loss on the full `[seq, vocab]` logits as well. `--targets all` (default) makes every position a target, the most
   the loss can cost; `--targets sft` labels only the last quarter, the paper's layout (1536 source tokens with label
   -100, 512 target tokens at 2048), which the chunked loss skips.
2. Per-token decode latency of `generate()` with the KV cache over `--new-tokens` tokens at two prompt lengths
   (median one-token step; target: the long prompt within 1.5x of the short one).
3. The tokenizer: one batched call on `--tokenizer-samples` texts against a loop of single `encode` calls (target:
   >= 5x faster, identical ids). Needs `ice_text.model` (`--vocab-file`, default `../shared/reference/...`).

Each memory measurement runs in a fresh subprocess: on CUDA the peak is `torch.cuda.max_memory_allocated`, on CPU the
growth of the peak resident set size over the model's baseline. Run `python benchmarks/bench_chatglm.py --quick` for
a small smoke run.
"""

import argparse
import json
import multiprocessing
import random
import resource
import statistics
import time
from pathlib import Path

import torch

DEFAULT_VOCAB_FILE = Path(__file__).resolve().parents[2] / "shared/reference/chatglm6b/tokenizer/ice_text.model"


def build_model(args: argparse.Namespace, attn_implementation: str):
    from soulchat.models.chatglm import ChatGLMConfig, ChatGLMForConditionalGeneration

    config = ChatGLMConfig(
        vocab_size=args.vocab,
        hidden_size=args.hidden,
        num_layers=args.layers,
        num_attention_heads=args.heads,
        inner_hidden_size=4 * args.hidden,
        bos_token_id=args.vocab - 4,
        eos_token_id=args.vocab - 3,
        mask_token_id=args.vocab - 6,
        gmask_token_id=args.vocab - 5,
        pad_token_id=3,
        use_cache=True,
        attn_implementation=attn_implementation,
    )
    torch.manual_seed(0)
    return ChatGLMForConditionalGeneration(config).to(args.device)


def prompt_ids(args: argparse.Namespace, length: int) -> torch.LongTensor:
    """`length - 2` random text ids followed by `[gMASK] <sop>`."""
    generator = torch.Generator().manual_seed(length)
    text = torch.randint(10, args.vocab - 10, (1, length - 2), generator=generator)
    return torch.cat([text, torch.tensor([[args.vocab - 5, args.vocab - 4]])], dim=1).to(args.device)


def _peak_bytes(device: str) -> int:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _train_step_worker(
    args: argparse.Namespace, attn_implementation: str, seq_len: int, skip_logits: bool, queue
) -> None:
    model = build_model(args, attn_implementation).train()
    ids = prompt_ids(args, seq_len)
    # `all`: every position is a target (the most the loss can cost); `sft`: the source's labels are -100 (1536 of
    # 2048 in the paper's layout), which the chunked loss skips.
    labels = ids.clone()
    if args.targets == "sft":
        labels[:, : seq_len * 3 // 4] = -100
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": labels}
    if skip_logits:
        inputs["skip_logits"] = True
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    baseline = _peak_bytes(args.device) if args.device.startswith("cuda") else _peak_bytes("cpu")
    times = []
    for _ in range(args.repeats + 1):  # the first run warms up
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        model(**inputs).loss.backward()
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    queue.put({"seconds": statistics.median(times[1:]), "peak_mb": (_peak_bytes(args.device) - baseline) / 2**20})


def measure_train_step(
    args: argparse.Namespace, attn_implementation: str, seq_len: int, *, skip_logits: bool = True
) -> dict:
    """Median forward+backward seconds and peak memory above the model's baseline, in a fresh subprocess."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_train_step_worker, args=(args, attn_implementation, seq_len, skip_logits, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def measure_decode(args: argparse.Namespace, prompt_lengths: list[int]) -> dict[int, float]:
    """Median seconds per decode step of `generate()` with the cache, per prompt length.

    Each one-token forward is timed by hooks (the prefill is left out) and the prompt lengths alternate, so that a
    load change on a shared machine hits them alike.
    """
    model = build_model(args, "sdpa").eval()
    starts: list[float] = []
    steps: dict[int, list[float]] = {length: [] for length in prompt_lengths}
    current: list[int] = []

    def before(module, args, kwargs):
        starts.append(time.perf_counter())

    def after(module, args, kwargs, output):
        if kwargs["input_ids"].shape[1] == 1:
            steps[current[-1]].append(time.perf_counter() - starts[-1])

    handles = [
        model.register_forward_pre_hook(before, with_kwargs=True),
        model.register_forward_hook(after, with_kwargs=True),
    ]
    try:
        for _ in range(args.repeats):
            for length in prompt_lengths:
                current.append(length)
                ids = prompt_ids(args, length)
                model.generate(ids, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False)
    finally:
        for handle in handles:
            handle.remove()
    return {length: statistics.median(times) for length, times in steps.items()}


def tokenizer_texts(count: int) -> list[str]:
    rng = random.Random(0)
    words = [
        "我",
        "最近",
        "总是",
        "觉得",
        "很",
        "焦虑",
        "晚上",
        "睡不着",
        "工作",
        "压力",
        "大",
        "家人",
        "朋友",
        "不",
        "理解",
        "我",
        "该",
        "怎么办",
        "今天",
        "心情",
    ]
    english = ["I", "feel", "anxious", "about", "work", "and", "cannot", "sleep", "well", "at", "night"]
    return [
        "".join(rng.choice(words) for _ in range(rng.randint(5, 40))) + " " + " ".join(rng.sample(english, 4))
        for _ in range(count)
    ]


def measure_tokenizer(args: argparse.Namespace) -> dict:
    from soulchat.models.chatglm import ChatGLMTokenizer

    tokenizer = ChatGLMTokenizer(vocab_file=str(args.vocab_file), num_image_tokens=0)
    texts = tokenizer_texts(args.tokenizer_samples)
    start = time.perf_counter()
    looped = [tokenizer.encode(text) for text in texts]
    loop_seconds = time.perf_counter() - start
    start = time.perf_counter()
    batched = tokenizer(texts)["input_ids"]
    batch_seconds = time.perf_counter() - start
    return {"loop_s": loop_seconds, "batch_s": batch_seconds, "identical": looped == batched}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=130528)
    parser.add_argument("--seq-lens", type=int, nargs="*", default=[512, 1024, 2048], help="Empty: skip fwd+bwd.")
    parser.add_argument(
        "--loss",
        choices=["chunked", "full", "both"],
        default="chunked",
        help="fwd+bwd loss: `skip_logits=True` as in training (chunked), the plain loss on full logits, or both.",
    )
    parser.add_argument(
        "--targets",
        choices=["all", "sft"],
        default="all",
        help="fwd+bwd labels: every position (all) or the last quarter only, the paper's 1536/512 layout (sft).",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=["train", "decode", "tokenizer"],
        default=["train", "decode", "tokenizer"],
        help="Which measurements to run (default: all three).",
    )
    parser.add_argument("--prompt-lens", type=int, nargs=2, default=[128, 1024])
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--tokenizer-samples", type=int, default=10_000)
    parser.add_argument("--vocab-file", type=Path, default=DEFAULT_VOCAB_FILE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument(
        "--quick", action="store_true", help="A small smoke run (hidden 256, 2 layers, short lengths)."
    )
    parser.add_argument("--json", type=Path, help="Also write the results to this JSON file.")
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.heads, args.layers, args.vocab = 256, 4, 2, 8192
        args.seq_lens, args.prompt_lens, args.new_tokens = [256, 512, 1024], [128, 1024], 32
        args.tokenizer_samples, args.repeats = 2000, 2
    return args


def run_train_steps(args: argparse.Namespace) -> list[dict]:
    """Fwd+bwd of eager and sdpa at every `--seq-lens`, for each loss of `--loss`; prints one line per row."""
    rows = []
    for skip_logits in {"chunked": [True], "full": [False], "both": [False, True]}[args.loss]:
        loss = "chunked" if skip_logits else "full"
        for seq_len in args.seq_lens:
            eager = measure_train_step(args, "eager", seq_len, skip_logits=skip_logits)
            sdpa = measure_train_step(args, "sdpa", seq_len, skip_logits=skip_logits)
            row = {"loss": loss, "seq_len": seq_len, "eager": eager, "sdpa": sdpa}
            row["speedup"] = eager["seconds"] / sdpa["seconds"]
            row["memory_ratio"] = sdpa["peak_mb"] / eager["peak_mb"]
            rows.append(row)
            print(
                f"fwd+bwd {loss:7s} loss, {args.targets} targets, seq {seq_len:5d}: eager {eager['seconds']:.3f}s {eager['peak_mb']:.0f}MB | "
                f"sdpa {sdpa['seconds']:.3f}s {sdpa['peak_mb']:.0f}MB | speedup {row['speedup']:.2f}x, "
                f"memory {row['memory_ratio']:.2f}x"
            )
    return rows


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    results: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "train": [], "decode": {}}
    print(f"device {args.device}, hidden {args.hidden}, heads {args.heads}, layers {args.layers}, vocab {args.vocab}")
    if "train" in args.parts:
        results["train"] = run_train_steps(args)
    if "decode" in args.parts:
        results["decode"] = measure_decode(args, args.prompt_lens)
        for prompt_length, seconds in results["decode"].items():
            print(f"decode prompt {prompt_length:5d}: {1000 * seconds:.2f} ms/token")
        short, long = (results["decode"][n] for n in args.prompt_lens)
        print(f"decode ratio long/short: {long / short:.2f}x")
    if "tokenizer" in args.parts and args.vocab_file.is_file():
        tok = results["tokenizer"] = measure_tokenizer(args)
        print(
            f"tokenizer {args.tokenizer_samples} texts: loop {tok['loop_s']:.2f}s, batch {tok['batch_s']:.2f}s, "
            f"{tok['loop_s'] / tok['batch_s']:.1f}x, identical ids: {tok['identical']}"
        )
    elif "tokenizer" in args.parts:
        print(f"tokenizer skipped: {args.vocab_file} not found")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
