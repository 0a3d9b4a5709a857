"""Fixtures of the Hub tests: a fake Hub on 127.0.0.1, a prepared dataset, and a run folder as `soulchat train` and
`soulchat evaluate` leave it (a tiny random ChatGLM-6B with a SentencePiece tokenizer trained here)."""

import json
from pathlib import Path

import pytest
import torch

from soulchat.data.bundled import sample_corpus_path
from soulchat.data.pipeline import PipelineOptions
from soulchat.data.prepare import prepare_corpus
from soulchat.models.chatglm import ChatGLMConfig, ChatGLMForConditionalGeneration
from soulchat.training.tokenizer_training import train_chatglm_tokenizer
from tests.hub.fake_hub import FakeHub

# The scores of the run's metrics.json, and how the card must print them (two decimals, as in the paper's Table 1).
SCORES = {
    "bleu-1": 21.3457,
    "bleu-2": 10.0049,
    "bleu-3": 5.5551,
    "bleu-4": 3.1,
    "rouge-1": 27.8812,
    "rouge-2": 7.2049,
    "rouge-l": 20.995,
}
TABLE_ROW = "| tiny-soulchat | 21.35 | 10.00 | 5.56 | 3.10 | 27.88 | 7.20 | 21.00 |"
TRAINING_ARGS = {
    "model_init": {"model_type": "chatglm", "hidden_size": 32, "num_layers": 2},
    "tokenizer_vocab_size": 2000,
    "prompt_format": "chatglm",
    "max_source_length": 64,
    "max_target_length": 32,
    "max_steps": 12,
    "per_device_train_batch_size": 4,
    "gradient_accumulation_steps": 2,
    "learning_rate": 0.005,
    "warmup_steps": 4,
    "seed": 0,
    "report_to": "none",
}
# What a run folder holds besides the model and stays home: training state, logs, intermediate checkpoints, evaluation.
TRAINING_STATE = [
    "training_args.bin",
    "trainer_state.json",
    "optimizer.pt",
    "scheduler.pt",
    "rng_state.pth",
    "generated_samples-12.jsonl",
    "checkpoint-6/model.safetensors",
    "eval/predictions.jsonl",
    "eval/metrics.json",
]


@pytest.fixture
def fake_hub(monkeypatch) -> FakeHub:
    """A fake Hub, and huggingface_hub set to reach it: online (the suite runs with `HF_HUB_OFFLINE=1`) and with Xet
    off, so that large files go through the git-LFS batch API that the fake implements."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with FakeHub() as hub:
        yield hub


@pytest.fixture(scope="session")
def prepared_data(tmp_path_factory) -> Path:
    """`soulchat prepare` of the bundled 60-dialogue corpus, with a test split."""
    folder = tmp_path_factory.mktemp("prepared") / "data"
    prepare_corpus([sample_corpus_path()], folder, options=PipelineOptions(test_fraction=0.2), progress=False)
    return folder


def _corpus_texts() -> list[str]:
    records = json.loads(sample_corpus_path().read_text(encoding="utf-8"))
    return [message["content"] for record in records for message in record["messages"]]


@pytest.fixture(scope="session")
def run_folder(tmp_path_factory, prepared_data: Path) -> Path:
    """A training run's output folder: model, tokenizer and code files, training state, and `eval/metrics.json`."""
    from soulchat.training.sft_config import load_sft_config

    folder = tmp_path_factory.mktemp("run") / "tiny-soulchat"
    tokenizer = train_chatglm_tokenizer(_corpus_texts(), folder, vocab_size=2000)
    config = ChatGLMConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_layers=2, num_attention_heads=2, inner_hidden_size=64,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id, mask_token_id=tokenizer.mask_token_id,
        gmask_token_id=tokenizer.gmask_token_id, pad_token_id=tokenizer.pad_token_id,
    )  # fmt: skip
    torch.manual_seed(0)
    ChatGLMForConditionalGeneration(config).save_pretrained(str(folder))

    overrides = {**TRAINING_ARGS, "dataset_path": str(prepared_data), "output_dir": str(folder)}
    args = [item for key, value in overrides.items() for item in (f"--{key}", _cli_value(value))]
    torch.save(load_sft_config(None, args), folder / "training_args.bin")
    state = {"global_step": 12, "max_steps": 12, "log_history": [{"loss": 6.5, "step": 12}]}
    (folder / "trainer_state.json").write_text(json.dumps(state))
    (folder / "train_results.json").write_text(json.dumps({"train_loss": 6.91234, "epoch": 0.17}))
    for name in ("optimizer.pt", "scheduler.pt", "rng_state.pth"):
        torch.save({"step": 12}, folder / name)
    (folder / "generated_samples-12.jsonl").write_text('{"prompt": "p", "prediction": "r"}\n')
    (folder / "checkpoint-6").mkdir()
    (folder / "checkpoint-6" / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    (folder / "eval").mkdir()
    (folder / "eval" / "predictions.jsonl").write_text("")
    metrics = {
        "scores": SCORES,
        "num_samples": 88,
        "model": str(folder),
        "data": str(prepared_data),
        "split": "test",
        "seed": 42,
        "decoding": {"strategy": "sampling", "top_p": 0.75, "temperature": 0.95, "seed": 42, "max_new_tokens": 512},
    }
    (folder / "eval" / "metrics.json").write_text(json.dumps(metrics))
    return folder


def _cli_value(value) -> str:
    return json.dumps(value) if isinstance(value, dict) else str(value)
