"""Weight memory and per-token decode latency of the quantised ChatGLM-6B formats (issue 9).

One random mid-size model (default: hidden 1024, 16 heads, 4 layers, vocab 130528, as `bench_chatglm.py`) is
quantised with `model.quantize(bits)` to int8, int4 and int4-qe (embeddings too) and compared with the full-precision
model: fp32 on CPU, fp16 on GPU (the quantised models compute in the same dtype).

* Weight memory: bytes of the distinct parameter and buffer storages (a tied head counts once), in total and for the
  block linears alone.
* Decode latency: median seconds of a one-token forward inside `generate()` with the KV cache (the prefill is left
  out), after a `--prompt-len` prompt, over `--new-tokens` tokens. The quantised linears dequantise their weight on
  every call (plain torch), so on CPU they trade speed for memory.

Run `python benchmarks/bench_quantized.py --quick` for a small smoke run.
"""

import argparse
import copy
import json
import statistics
import time
from pathlib import Path

import torch

from bench_chatglm import build_model as build_chatglm  # the script's folder is on sys.path


def build_model(args: argparse.Namespace):
    """The mid-size random ChatGLM of `bench_chatglm.py` (same config and seed), in eval mode."""
    return build_chatglm(args, "sdpa").eval()


def weight_bytes(model: torch.nn.Module) -> dict[str, int]:
    """Bytes of the distinct storages of all parameters and buffers, and of the block linears alone."""
    seen: set[int] = set()
    total = linears = 0
    for name, tensor in [*model.named_parameters(remove_duplicate=False), *model.named_buffers()]:
        pointer = tensor.untyped_storage().data_ptr()
        if pointer in seen:
            continue
        seen.add(pointer)
        size = tensor.numel() * tensor.element_size()
        total += size
        if ".layers." in name and (".attention." in name or ".mlp." in name):
            linears += size
    return {"total": total, "linears": linears}


def measure_decode(model: torch.nn.Module, args: argparse.Namespace) -> float:
    """Median seconds of a one-token decode step of greedy `generate()` with the cache."""
    generator = torch.Generator().manual_seed(0)
    text = torch.randint(10, args.vocab - 10, (1, args.prompt_len - 2), generator=generator)
    ids = torch.cat([text, torch.tensor([[args.vocab - 5, args.vocab - 4]])], dim=1).to(args.device)
    starts: list[float] = []
    steps: list[float] = []

    def before(module, args_, kwargs):
        starts.append(time.perf_counter())

    def after(module, args_, kwargs, output):
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        if kwargs["input_ids"].shape[1] == 1:
            steps.append(time.perf_counter() - starts[-1])

    handles = [
        model.register_forward_pre_hook(before, with_kwargs=True),
        model.register_forward_hook(after, with_kwargs=True),
    ]
    try:
        with torch.no_grad():
            for _ in range(args.repeats):
                model.generate(ids, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False)
    finally:
        for handle in handles:
            handle.remove()
    return statistics.median(steps)


def variants(base: torch.nn.Module, dtype: torch.dtype):
    """Yields (name, model): the full-precision model, then int8, int4 and int4-qe copies of it."""
    yield ("fp16" if dtype == torch.float16 else "fp32"), base
    for name, bits, embeddings in (("int8", 8, False), ("int4", 4, False), ("int4-qe", 4, True)):
        quantized = copy.deepcopy(base).quantize(bits, quantize_embeddings=embeddings)
        yield name, quantized.to(dtype)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocab", type=int, default=130528)
    parser.add_argument("--prompt-len", type=int, default=128)
    parser.add_argument("--new-tokens", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true", help="A small smoke run (hidden 256, 2 layers, vocab 8192).")
    parser.add_argument("--json", type=Path, help="Also write the results to this JSON file.")
    args = parser.parse_args(argv)
    if args.quick:
        args.hidden, args.heads, args.layers, args.vocab = 256, 4, 2, 8192
        args.new_tokens, args.repeats = 8, 1
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    dtype = torch.float16 if args.device.startswith("cuda") else torch.float32
    print(
        f"device {args.device} ({dtype}), hidden {args.hidden}, heads {args.heads}, layers {args.layers}, "
        f"vocab {args.vocab}, threads {torch.get_num_threads()}"
    )
    results: dict = {"args": {k: str(v) for k, v in vars(args).items()}, "variants": {}}
    base = build_model(args).to(dtype)
    reference = None
    for name, model in variants(base, dtype):
        model = model.to(args.device)
        memory = weight_bytes(model)
        seconds = measure_decode(model, args)
        reference = reference or {"memory": memory, "seconds": seconds}
        row = results["variants"][name] = {
            "weight_mb": memory["total"] / 2**20,
            "linear_mb": memory["linears"] / 2**20,
            "ms_per_token": 1000 * seconds,
            "memory_ratio": memory["total"] / reference["memory"]["total"],
            "linear_ratio": memory["linears"] / reference["memory"]["linears"],
            "latency_ratio": seconds / reference["seconds"],
        }
        print(
            f"{name:8s} weights {row['weight_mb']:8.1f} MB ({row['memory_ratio']:.2f}x), block linears "
            f"{row['linear_mb']:7.1f} MB ({row['linear_ratio']:.2f}x) | decode {row['ms_per_token']:7.2f} ms/token "
            f"({row['latency_ratio']:.2f}x)"
        )
        model.to("cpu")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
