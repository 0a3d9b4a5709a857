"""What `run_training` checks before any work (splits, checkpoint, prompt layout), the trained tokenizer's recipe, and
the final evaluation that is not repeated."""

import json
import os
from pathlib import Path

import pytest

from soulchat.training.model_loading import TOKENIZER_RECIPE, load_tokenizer
from soulchat.training.sft_config import TrainingConfigError, load_sft_config
from soulchat.training.workflow import run_training
from tests.training.conftest import TINY_YAML, log_history, tiny_train_args


def _config(data: Path, tokenizer: Path, output: Path, **overrides):
    values = {"deepspeed": "", **overrides}
    return load_sft_config(TINY_YAML, tiny_train_args(data, tokenizer, output, **values))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"eval_split": "test"}, "eval_split: the dataset {data} has no split 'test' (it has: train)"),
        ({"resume_from_checkpoint": "{out}/checkpoint-99"}, "{out}/checkpoint-99 is not a checkpoint folder"),
        ({"resume_from_checkpoint": "latest"}, "resume_from_checkpoint latest: no checkpoint-N folder in {out}"),
        ({"prompt_format": "chat_template"}, "prompt_format chat_template needs a tokenizer with a chat template"),
        ({"dataset_path": "{out}/nowhere"}, "dataset_path {out}/nowhere does not exist"),
        ({"dataset_path": "{out}"}, "is not a folder written by `soulchat prepare`"),
    ],
)
def test_unusable_inputs_are_refused_before_any_work(tmp_path, eight_samples, tokenizer_dir, overrides, message):
    out = tmp_path / "run"
    out.mkdir()
    (out / "x.json").write_text("[]")
    values = {k: v.format(out=out) for k, v in overrides.items()}
    config = _config(eight_samples, tokenizer_dir, out, **values)
    with pytest.raises(TrainingConfigError) as error:
        run_training(config)
    assert message.format(data=eight_samples, out=out) in str(error.value)
    assert sorted(p.name for p in out.iterdir()) == ["x.json"]  # nothing written


def test_a_trained_tokenizer_is_retrained_when_the_recipe_changes(tmp_path, eight_samples):
    texts = [json.loads(line)["response"] for line in eight_samples.read_text().splitlines()] * 4
    out = tmp_path / "run"
    folder = out / "tokenizer"

    def load(vocab, data, with_texts=True):
        args = tiny_train_args(eight_samples, tmp_path, out, tokenizer_vocab_size=vocab)
        args[args.index("--tokenizer_name_or_path") : args.index("--tokenizer_name_or_path") + 2] = []
        load_tokenizer(load_sft_config(TINY_YAML, args), texts if with_texts else None, data_fingerprint=data)
        recipe = json.loads((folder / TOKENIZER_RECIPE).read_text())
        return recipe, (folder / "ice_text.model").stat().st_mtime_ns

    recipe, first = load(700, "a")
    assert recipe == {"vocab_size": 700, "seed": 0, "data": "a"}
    assert load(700, "a", with_texts=False) == (recipe, first)  # reused as it is: no texts needed
    recipe, second = load(650, "a")  # another size: trained again
    assert recipe["vocab_size"] == 650 and second != first
    recipe, third = load(650, "b")  # other data: trained again
    assert recipe["data"] == "b" and third != second
    (folder / TOKENIZER_RECIPE).unlink()  # a tokenizer of an older run, with no recipe, is reused as it is
    args = tiny_train_args(eight_samples, tmp_path, out, tokenizer_vocab_size=600)
    args[args.index("--tokenizer_name_or_path") : args.index("--tokenizer_name_or_path") + 2] = []
    load_tokenizer(load_sft_config(TINY_YAML, args), None, data_fingerprint="c")
    assert (folder / "ice_text.model").stat().st_mtime_ns == third


def test_the_final_evaluation_is_not_repeated_at_an_evaluation_step(tmp_path, prepared_corpus, tokenizer_dir):
    out = tmp_path / "run"
    overrides = {"eval_split": "test", "eval_strategy": "steps", "eval_steps": 4, "max_steps": 4,
                 "max_eval_samples": 2, "generation_max_new_tokens": 4, "save_steps": 100}  # fmt: skip
    result = run_training(_config(prepared_corpus, tokenizer_dir, out, **overrides))
    evaluations = [entry for entry in log_history(out) if "eval_loss" in entry]
    assert [entry["step"] for entry in evaluations] == [4]
    assert result.metrics["eval_loss"] == evaluations[0]["eval_loss"] and "eval_bleu-4" in result.metrics
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "model.safetensors").stat().st_mode & 0o777 == 0o666 & ~umask  # not transformers' private 0600


def test_the_train_command_prints_the_check_as_one_line(tmp_path, eight_samples, tokenizer_dir):
    from typer.testing import CliRunner

    from soulchat.cli.main import app

    args = tiny_train_args(eight_samples, tokenizer_dir, tmp_path / "run", deepspeed="", eval_split="test")
    result = CliRunner().invoke(app, ["train", str(TINY_YAML), *args])
    assert result.exit_code == 2 and result.exception is not None
    assert "has no split 'test'" in result.output and "Traceback" not in result.output
