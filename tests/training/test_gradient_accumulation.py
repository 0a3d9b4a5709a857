"""Gradient accumulation is exact: 2 micro-batches of 2 train like one batch of 4 (same logged losses and weights).

The trainer passes `num_items_in_batch` (the label tokens of the whole accumulated batch) to models that take
`**kwargs`; ChatGLM divides its summed loss by it, so each micro-batch's loss is a share of the batch mean rather
than a mean of its own, and training steps use the chunked loss (`skip_logits`) on the way.
"""

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.training.conftest import losses, run_cli, tiny_train_args

pytestmark = pytest.mark.slow


def _train(tmp_path: Path, name: str, data: Path, tokenizer: Path, *, batch: int, accumulation: int) -> Path:
    output = tmp_path / name
    args = tiny_train_args(
        data,
        tokenizer,
        output,
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accumulation,
        max_steps=2,
        warmup_steps=0,
        save_steps=2,
        deepspeed="",
        # Plain SGD: Adam's first steps are about lr * sign(gradient), which turns rounding-level differences of
        # near-zero gradients into differences of the order of lr.
        optim="sgd",
        learning_rate=0.5,
    )
    result = run_cli(args)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return output


def test_two_micro_batches_of_two_equal_one_batch_of_four(tmp_path: Path, eight_samples: Path, tokenizer_dir: Path):
    whole = _train(tmp_path, "whole", eight_samples, tokenizer_dir, batch=4, accumulation=1)
    split = _train(tmp_path, "split", eight_samples, tokenizer_dir, batch=2, accumulation=2)
    assert losses(whole).keys() == losses(split).keys() == {1, 2}
    for step, loss in losses(whole).items():
        assert losses(split)[step] == pytest.approx(loss, rel=1e-5)
    weights_whole = load_file(str(whole / "model.safetensors"))
    weights_split = load_file(str(split / "model.safetensors"))
    assert weights_whole.keys() == weights_split.keys()
    for key, value in weights_whole.items():
        torch.testing.assert_close(weights_split[key], value, rtol=1e-4, atol=1e-6, msg=key)
