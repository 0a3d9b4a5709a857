"""A `soulchat evaluate` process killed with SIGKILL mid-run resumes without repeating or losing a sample."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from soulchat.evaluation import EvaluationConfig, ReplyGenerator, read_predictions, run_evaluation
from tests.evaluation.conftest import RecordingGenerator

NUM_SAMPLES = 40
TIMEOUT_S = 60


def _complete_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.is_file() else 0


def _kill_after_some_lines(args: list[str], predictions: Path, lines: int) -> None:
    """Runs the CLI in a subprocess and SIGKILLs it once `predictions` holds at least `lines` lines."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "soulchat.cli.main", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while _complete_lines(predictions) < lines:
            if process.poll() is not None:
                pytest.fail(f"evaluate exited early ({process.returncode}): {process.stdout.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail("evaluate wrote no predictions in time")
            time.sleep(0.005)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    assert process.returncode == -signal.SIGKILL


def test_sigkill_then_resume(chatglm_checkpoint: Path, prepared_folder: Path, tmp_path: Path):
    output = tmp_path / "run"
    predictions = output / "predictions.jsonl"
    settings = dict(split="train", num_samples=NUM_SAMPLES, greedy=True, max_new_tokens=16, batch_size=1)
    args = ["evaluate", "--model", str(chatglm_checkpoint), "--data", str(prepared_folder), "--output", str(output)]
    args += ["--split", "train", "--num-samples", str(NUM_SAMPLES), "--greedy", "--max-new-tokens", "16"]
    _kill_after_some_lines([*args, "--batch-size", "1", "--no-progress"], predictions, lines=3)

    survived = read_predictions(predictions, repair=False)
    assert 3 <= len(survived) < NUM_SAMPLES, "the run was not interrupted mid-way"
    assert not (output / "metrics.json").exists()
    before = predictions.read_bytes()
    complete = before[: before.rfind(b"\n") + 1]  # without a line the kill may have cut

    config = EvaluationConfig(
        model=str(chatglm_checkpoint), data=str(prepared_folder), output=str(output), progress=False, **settings
    )
    recorder = RecordingGenerator(
        ReplyGenerator.from_pretrained(str(chatglm_checkpoint), greedy=True, max_new_tokens=16)
    )
    metrics = run_evaluation(config, generator=recorder)

    ids = [json.loads(line)["id"] for line in predictions.read_text(encoding="utf-8").splitlines()]
    assert len(ids) == NUM_SAMPLES == len(set(ids))  # every sampled id exactly once
    assert predictions.read_bytes().startswith(complete)  # what survived the kill was kept as it was
    records = read_predictions(predictions)
    missing_prompts = sorted(records[key]["prompt"] for key in ids if key not in survived)
    assert sorted(recorder.prompts) == missing_prompts  # the resumed run generated only the missing samples
    assert metrics["resumed"] == len(survived) and metrics["generated"] == NUM_SAMPLES - len(survived)
