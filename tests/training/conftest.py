"""Fixtures of the training tests: the bundled sample corpus prepared once, and a tokenizer trained on it."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from soulchat.data.bundled import sample_corpus_path
from soulchat.data.pipeline import PipelineOptions
from soulchat.data.prepare import prepare_corpus
from soulchat.models.chatglm import ChatGLMTokenizer
from soulchat.training.tokenizer_training import train_chatglm_tokenizer

ROOT = Path(__file__).resolve().parents[2]
TINY_YAML = ROOT / "examples" / "configs" / "tiny.yaml"
TINY_MODEL = {
    "model_type": "chatglm",
    "hidden_size": 32,
    "num_layers": 2,
    "num_attention_heads": 2,
    "inner_hidden_size": 64,
}


@pytest.fixture(scope="session")
def prepared_corpus(tmp_path_factory) -> Path:
    """`soulchat prepare` of the bundled sample corpus, with a test split."""
    folder = tmp_path_factory.mktemp("corpus") / "data"
    prepare_corpus([sample_corpus_path()], folder, options=PipelineOptions(test_fraction=0.1), progress=False)
    return folder


@pytest.fixture(scope="session")
def sample_rows(prepared_corpus: Path) -> list[dict]:
    import datasets

    return datasets.load_dataset(str(prepared_corpus), "samples")["train"].to_list()


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory, sample_rows: list[dict]) -> Path:
    folder = tmp_path_factory.mktemp("tokenizer")
    train_chatglm_tokenizer(
        (t for row in sample_rows for t in (row["prompt"], row["response"])), folder, vocab_size=800
    )
    return folder


@pytest.fixture(scope="session")
def glm_tokenizer(tokenizer_dir: Path) -> ChatGLMTokenizer:
    return ChatGLMTokenizer.from_pretrained(str(tokenizer_dir))


@pytest.fixture(scope="session")
def eight_samples(tmp_path_factory, sample_rows: list[dict]) -> Path:
    """A JSON Lines file of 8 short training samples (the first turns of 8 dialogues)."""
    path = tmp_path_factory.mktemp("eight") / "samples.jsonl"
    rows = [r for r in sample_rows if r["turn"] == 1][:8]
    path.write_text("".join(json.dumps({"prompt": r["prompt"], "response": r["response"]}) + "\n" for r in rows))
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tiny_train_args(data: Path, tokenizer: Path, output: Path, **overrides) -> list[str]:
    """Overrides of `examples/configs/tiny.yaml` for a smaller ChatGLM run on `data`, logging every step."""
    values = {
        "model_init": json.dumps(TINY_MODEL),
        "tokenizer_name_or_path": str(tokenizer),
        "dataset_path": str(data),
        "output_dir": str(output),
        "max_source_length": 64,
        "max_target_length": 32,
        "per_device_train_batch_size": 4,
        "learning_rate": 5e-3,
        "warmup_steps": 4,
        "max_steps": 12,
        "logging_steps": 1,
        "save_steps": 6,
        "save_total_limit": 5,
        "report_to": "none",
        "disable_tqdm": "true",
        "seed": 0,
        "eval_split": "",
        **overrides,
    }
    return [item for key, value in values.items() for item in (f"--{key}", str(value))]


def run_cli(
    args: list[str],
    *,
    launcher: list[str] | None = None,
    program: list[str] | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    """Runs `soulchat train examples/configs/tiny.yaml ARGS` in a fresh process (so DeepSpeed and torch.distributed
    state never leak into pytest)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
    }
    env["PYTHONPATH"] = str(ROOT / "src")
    program = program or ["-m", "soulchat.cli.main", "train", str(TINY_YAML)]
    command = [*(launcher or [sys.executable]), *program, *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    return result


def log_history(output: Path) -> list[dict]:
    return json.loads((output / "trainer_state.json").read_text())["log_history"]


def losses(output: Path) -> dict[int, float]:
    return {entry["step"]: entry["loss"] for entry in log_history(output) if "loss" in entry}
