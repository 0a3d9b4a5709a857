"""Benchmark the training data path: tokenisation speed and padding, original recipe versus ours.

On N synthetic samples (default 20,000; about 600 characters each, recombined from the bundled sample corpus, 1% of
them long dialogues that exceed the 1536-token source budget) with the real-size ChatGLM-6B tokenizer
(`../shared/reference/chatglm6b/tokenizer/ice_text.model` when present, loaded through `ChatGLMTokenizer`; else a
tokenizer trained on the sample corpus), it reports:

- tokenisation samples/s of (a) the original `ptuning/main.py` recipe (one `encode` per prompt and per response)
  and (b) ours (`encode_chatglm` through `datasets.map(batched=True)`, 1 and 2 processes, cache off), checking that
  (b) gives exactly the ids of `encode_chatglm` called one sample at a time;
- the fraction of padding tokens per batch of 8 for (a) padding every example to 2048 and (b) dynamic padding to a
  multiple of 8, with random batches and with the length-grouped sampler;
- training tokens/s of the tiny ChatGLM on CPU, with and without DeepSpeed (`soulchat train`, one process each).

Targets on 2 cores: at most 5% padding at batch size 8 and at least 20,000 samples/s of tokenisation.

    python benchmarks/bench_training_data.py [--samples 20000] [--no-training]
"""

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import datasets
import torch
from transformers.trainer_pt_utils import LengthGroupedSampler

from soulchat.data.bundled import sample_corpus_path
from soulchat.data.expansion import render_prompt
from soulchat.models.chatglm import ChatGLMTokenizer
from soulchat.training.sampler import SoulChatLengthGroupedSampler
from soulchat.training.tokenization import encode_chatglm
from soulchat.training.workflow import TOKENIZED_FEATURES

REFERENCE_TOKENIZER = Path(__file__).resolve().parents[2] / "shared/reference/chatglm6b/tokenizer/ice_text.model"
SOURCE, TARGET, BATCH = 1536, 512, 8


def build_samples(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Prompts of 0-6 earlier rounds (1% with 40) of recombined sample-corpus utterances, and a reply."""
    corpus = json.loads(sample_corpus_path().read_text(encoding="utf-8"))
    users = [m["content"] for d in corpus for m in d["messages"] if m["role"] == "user"]
    replies = [m["content"] for d in corpus for m in d["messages"] if m["role"] == "assistant"]
    rng = random.Random(seed)
    samples = []
    for _ in range(n):
        rounds = 40 if rng.random() < 0.01 else rng.randint(0, 6)
        history = [(rng.choice(users), rng.choice(replies)) for _ in range(rounds)]
        samples.append({"prompt": render_prompt(history, rng.choice(users)), "response": rng.choice(replies)})
    return samples


def load_tokenizer(scratch: Path) -> ChatGLMTokenizer:
    if REFERENCE_TOKENIZER.is_file():
        return ChatGLMTokenizer(vocab_file=str(REFERENCE_TOKENIZER), num_image_tokens=0)
    from soulchat.training.tokenizer_training import train_chatglm_tokenizer

    corpus = json.loads(sample_corpus_path().read_text(encoding="utf-8"))
    texts = [m["content"] for d in corpus for m in d["messages"]]
    print(f"{REFERENCE_TOKENIZER} not found: using a tokenizer trained on the sample corpus")
    return train_chatglm_tokenizer(texts, scratch / "tokenizer", vocab_size=4000)


def original_recipe(samples: list[dict], tokenizer: ChatGLMTokenizer) -> list[list[int]]:
    """`ptuning/main.py`'s preprocess_function_train: first S-1 prompt ids, first T-2 response ids."""
    head, eop = [tokenizer.gmask_token_id, tokenizer.bos_token_id], tokenizer.eos_token_id
    rows = []
    for sample in samples:
        a = tokenizer.encode(sample["prompt"], add_special_tokens=False)[: SOURCE - 1]
        b = tokenizer.encode(sample["response"], add_special_tokens=False)[: TARGET - 2]
        rows.append(a + head + b + [eop])
    return rows


def time_ours(
    samples: list[dict], tokenizer: ChatGLMTokenizer, num_proc: int | None
) -> tuple[float, datasets.Dataset]:
    dataset = datasets.Dataset.from_list(samples)

    def encode(batch):
        return encode_chatglm(batch["prompt"], batch["response"], tokenizer)

    start = time.perf_counter()
    out = dataset.map(
        encode, batched=True, batch_size=1000, num_proc=num_proc, remove_columns=dataset.column_names, features=TOKENIZED_FEATURES,
        load_from_cache_file=False, desc=f"ours, num_proc={num_proc}",
    )  # fmt: skip
    return time.perf_counter() - start, out


def padding_fraction(lengths: list[int], order: list[int], pad_to: int | None, multiple: int | None) -> float:
    """Share of pad tokens over all batch tokens, batching `order` by 8."""
    real = padded = 0
    for i in range(0, len(order), BATCH):
        batch = [lengths[j] for j in order[i : i + BATCH]]
        width = pad_to or max(batch)
        if multiple:
            width = -(-width // multiple) * multiple
        real, padded = real + sum(batch), padded + width * len(batch)
    return 1 - real / padded


def report_padding(lengths: list[int]) -> None:
    generator = torch.Generator().manual_seed(0)
    shuffled = torch.randperm(len(lengths), generator=generator).tolist()
    hf_grouped = list(LengthGroupedSampler(BATCH, lengths=lengths, generator=torch.Generator().manual_seed(0)))
    grouped = list(SoulChatLengthGroupedSampler(BATCH, lengths, generator=torch.Generator().manual_seed(0)))
    rows = [
        (f"(a) original, every example padded to {SOURCE + TARGET}", shuffled, SOURCE + TARGET, None),
        ("(b) ours, random batches, dynamic to a multiple of 8", shuffled, None, 8),
        ("(b) Hugging Face's length grouping (50 batches), multiple of 8", hf_grouped, None, 8),
        ("(b) ours, length-grouped (100 batches), multiple of 8", grouped, None, 8),
        ("(b) ours, length-grouped (100 batches), no rounding", grouped, None, None),
    ]
    print(f"padding per batch of {BATCH} (share of batch tokens that are padding):")
    for label, order, pad_to, multiple in rows:
        print(f"  {label:64s} {padding_fraction(lengths, order, pad_to, multiple):6.1%}")


def training_speed(scratch: Path, steps: int) -> None:
    """Tiny ChatGLM on the sample corpus, with and without DeepSpeed ZeRO-2, one CPU process each."""
    from soulchat.cli.demo import demo_training_config
    from soulchat.data.pipeline import PipelineOptions
    from soulchat.data.prepare import prepare_corpus

    data = scratch / "data"
    prepare_corpus([sample_corpus_path()], data, options=PipelineOptions(), progress=False)
    for label, deepspeed in (("DeepSpeed ZeRO-2", "zero2"), ("plain Trainer", "")):
        output = scratch / f"run-{deepspeed or 'plain'}"
        config = demo_training_config(data, output, steps=steps)
        config.update(deepspeed=deepspeed or None, eval_split=None, logging_steps=steps, use_cpu=not deepspeed)
        path = scratch / f"{deepspeed or 'plain'}.yaml"
        path.write_text(json.dumps(config), "utf-8")  # JSON is YAML
        command = [sys.executable, "-m", "soulchat.cli.main", "train", str(path), "--disable_tqdm", "true"]
        subprocess.run(command, check=True, capture_output=True)
        metrics = json.loads((output / "train_results.json").read_text())
        tokens = _mean_tokens(output, data)
        rate = metrics["train_samples_per_second"] * tokens
        print(
            f"  {label:18s}: {metrics['train_samples_per_second']:.1f} samples/s x {tokens:.0f} tokens = {rate:,.0f} tokens/s"
        )


def _mean_tokens(model_dir: Path, data: Path) -> float:
    tokenizer = ChatGLMTokenizer.from_pretrained(str(model_dir))
    rows = datasets.load_dataset(str(data), "samples")["train"]
    batch = encode_chatglm(rows["prompt"], rows["response"], tokenizer, max_source_length=256, max_target_length=128)
    return sum(batch["length"]) / len(batch["length"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--training-steps", type=int, default=60)
    parser.add_argument("--no-training", action="store_true", help="Skip the training tokens/s measurement.")
    args = parser.parse_args(argv)
    datasets.disable_progress_bars()
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        tokenizer = load_tokenizer(scratch)
        samples = build_samples(args.samples)
        chars = sum(len(s["prompt"]) + len(s["response"]) for s in samples) / len(samples)
        print(f"{len(samples):,} samples, {chars:.0f} characters each on average; tokenizer vocab {len(tokenizer):,}")

        start = time.perf_counter()
        original = original_recipe(samples, tokenizer)
        print(
            f"tokenisation, (a) original recipe, one by one: {len(samples) / (time.perf_counter() - start):,.0f} samples/s"
        )
        start = time.perf_counter()
        one_by_one = [encode_chatglm([s["prompt"]], [s["response"]], tokenizer)["input_ids"][0] for s in samples]
        print(
            f"tokenisation, ours one by one (reference):     {len(samples) / (time.perf_counter() - start):,.0f} samples/s"
        )
        for num_proc in (None, 2):
            elapsed, dataset = time_ours(samples, tokenizer, num_proc)
            identical = dataset["input_ids"] == one_by_one
            print(
                f"tokenisation, (b) ours, datasets.map num_proc={num_proc or 1}: {len(samples) / elapsed:,.0f} samples/s "
                f"(ids identical to one by one: {identical})"
            )
        truncated = sum(len(a) != len(b) or a != b for a, b in zip(original, one_by_one, strict=True))
        print(f"samples whose ids differ from the original recipe (over-long prompts cut by rounds): {truncated}")
        report_padding(dataset["length"])
        if not args.no_training:
            print(f"training tokens/s, tiny ChatGLM on CPU ({args.training_steps} steps, batch {BATCH}):")
            training_speed(scratch, args.training_steps)


if __name__ == "__main__":
    main()
