"""Every shipped configuration loads and validates: the DeepSpeed JSONs and `examples/configs/*.yaml`."""

import json
from pathlib import Path

import pytest
import torch
from deepspeed.runtime.config import DeepSpeedConfig
from transformers.integrations.deepspeed import HfTrainerDeepSpeedConfig

from soulchat.training.deepspeed import DEEPSPEED_CONFIGS, deepspeed_config_path, resolve_deepspeed_config
from soulchat.training.sft_config import SoulChatSFTConfig, TrainingConfigError, load_sft_config
from tests.training.conftest import ROOT, TINY_MODEL

EXAMPLE_CONFIGS = sorted((ROOT / "examples" / "configs").glob("*.yaml"))


def _fill(ds_config: dict, args: SoulChatSFTConfig, num_steps: int) -> dict:
    """The trainer's "auto" fill-in, without a distributed group."""
    hf_config = HfTrainerDeepSpeedConfig(ds_config)
    hf_config.trainer_config_process(args)
    model = torch.nn.Linear(2, 2)
    model.config = type("Cfg", (), {"hidden_size": 64})()
    hf_config.trainer_config_finalize(args, model, num_steps)
    return hf_config.config


def _args(tmp_path: Path, **overrides) -> SoulChatSFTConfig:
    values = dict(
        output_dir=str(tmp_path),
        model_name_or_path="unused",
        dataset_path="unused",
        learning_rate=5e-5,
        warmup_steps=10,
        per_device_train_batch_size=4,
        gradient_accumulation_steps=2,
        report_to="none",
    )
    return SoulChatSFTConfig(**{**values, **overrides})


@pytest.mark.parametrize("name", sorted(DEEPSPEED_CONFIGS))
def test_shipped_deepspeed_config_fills_and_validates(name: str, tmp_path: Path):
    raw = json.loads(deepspeed_config_path(name).read_text())
    assert raw["scheduler"]["type"] == "WarmupDecayLR"
    assert raw["optimizer"]["type"] == "AdamW"
    assert set(raw["scheduler"]["params"]) >= {"warmup_max_lr", "warmup_num_steps", "total_num_steps"}
    filled = _fill(resolve_deepspeed_config(name, cpu=True), _args(tmp_path), num_steps=100)
    assert filled["scheduler"]["params"] == {
        "warmup_min_lr": 0,
        "warmup_max_lr": 5e-5,
        "warmup_num_steps": 10,
        "total_num_steps": 100,
        "warmup_type": "log",
    }
    assert filled["train_micro_batch_size_per_gpu"] == 4 and filled["gradient_accumulation_steps"] == 2
    assert filled["train_batch_size"] == 8
    assert filled["optimizer"]["params"]["torch_adam"] is True
    assert "auto" not in json.dumps(filled)
    validated = DeepSpeedConfig(filled)
    assert validated.zero_optimization_stage == (2 if name == "zero2" else 3)
    assert validated.zero_config.offload_optimizer is not None or name != "zero3_offload"


def test_deepspeed_config_left_alone_on_gpu():
    assert "torch_adam" not in resolve_deepspeed_config("zero2", cpu=False)["optimizer"]["params"]


def test_deepspeed_bad_batch_math_is_rejected(tmp_path: Path):
    filled = _fill(resolve_deepspeed_config("zero2", cpu=True), _args(tmp_path), num_steps=10)
    filled["train_batch_size"] = 7
    with pytest.raises(AssertionError):
        DeepSpeedConfig(filled)


@pytest.mark.parametrize("path", EXAMPLE_CONFIGS, ids=lambda p: p.name)
def test_example_config_loads_and_validates(path: Path, tmp_path: Path):
    config = load_sft_config(path, ["--output_dir", str(tmp_path)])
    assert isinstance(config.deepspeed, dict) and config.deepspeed["scheduler"]["type"] == "WarmupDecayLR"
    assert config.max_source_length > 0 and config.max_target_length > 0
    filled = _fill(config.deepspeed, config, num_steps=config.max_steps)
    DeepSpeedConfig(filled)
    assert filled["scheduler"]["params"]["total_num_steps"] == config.max_steps


def test_paper_config_is_the_papers_recipe(tmp_path: Path):
    config = load_sft_config(ROOT / "examples/configs/paper_chatglm6b.yaml", ["--output_dir", str(tmp_path)])
    # Global batch 80 = per-device batch x 8 GPUs x accumulation.
    assert config.per_device_train_batch_size * 8 * config.gradient_accumulation_steps == 80
    assert (config.max_steps, config.warmup_steps, config.learning_rate) == (30000, 1000, 5e-5)
    assert (config.max_source_length, config.max_target_length) == (1536, 512)
    assert config.fp16 and not config.bf16
    assert config.deepspeed["zero_optimization"]["stage"] == 2
    assert config.model_name_or_path == "THUDM/chatglm-6b" and config.prompt_format == "chatglm"
    filled = _fill(config.deepspeed, config, num_steps=config.max_steps)
    assert filled["scheduler"]["params"]["warmup_num_steps"] == 1000
    assert filled["scheduler"]["params"]["warmup_max_lr"] == 5e-5
    assert filled["fp16"]["enabled"] is True


def test_overrides_win_over_the_yaml(tmp_path: Path):
    config = load_sft_config(
        ROOT / "examples/configs/tiny.yaml",
        ["--output_dir", str(tmp_path), "--learning_rate", "1e-4", "--model_init", json.dumps(TINY_MODEL)],
    )
    assert config.learning_rate == 1e-4
    assert config.model_init == TINY_MODEL
    assert config.max_steps == 300  # from the YAML


def test_deepspeed_can_be_switched_off(tmp_path: Path):
    config = load_sft_config(ROOT / "examples/configs/tiny.yaml", ["--output_dir", str(tmp_path), "--deepspeed", ""])
    assert config.deepspeed is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("learning_rat: 1.0\n", "unknown training arguments"),
        ("model_name_or_path: a\nmodel_init: {model_type: chatglm}\ndataset_path: d\n", "exactly one"),
        ("model_init: {hidden_size: 8}\ntokenizer_vocab_size: 10\ndataset_path: d\n", "model_type"),
        ("model_name_or_path: a\n", "dataset_path"),
        ("model_name_or_path: a\ndataset_path: d\nmax_source_length: 8\n", "at least 32"),
        ("model_name_or_path: a\ndataset_path: d\nprompt_format: alpaca\n", "prompt_format"),
    ],
)
def test_invalid_configs_are_rejected(content: str, message: str, tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises((ValueError, SystemExit)) as error:
        load_sft_config(path, ["--output_dir", str(tmp_path)])
    if error.type is ValueError:
        assert message in str(error.value)


def test_train_cli_reports_config_errors(tmp_path: Path):
    from typer.testing import CliRunner

    from soulchat.cli.main import app

    path = tmp_path / "bad.yaml"
    path.write_text("model_name_or_path: a\nmodel_init: {model_type: chatglm}\ndataset_path: d\n")
    result = CliRunner().invoke(app, ["train", str(path), "--output_dir", str(tmp_path)])
    assert result.exit_code == 2 and "exactly one of model_name_or_path and model_init" in result.output
    result = CliRunner().invoke(app, ["train", str(path), "--no_such_option", "1"])
    assert result.exit_code == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("max_steps: 2.7\n", "bad.yaml: max_steps: invalid value 2.7"),
        ("per_device_train_batch_size: [1, 2]\n", "bad.yaml: per_device_train_batch_size takes a single value"),
        ("learning_rate: fast\n", "bad.yaml: learning_rate: invalid value 'fast'"),
        ("use_lora: maybe\n", "bad.yaml: use_lora: invalid value 'maybe'"),
        ("train_sampling_strategy: shuffled\n", "bad.yaml: train_sampling_strategy must be one of"),
        ("run_name: {a: 1}\n", "bad.yaml: run_name takes a single value, not a mapping"),
        ("max_steps: [\n", "bad.yaml is not valid YAML"),
    ],
)
def test_yaml_values_are_typed_like_command_line_values(content: str, message: str, tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text("model_name_or_path: a\ndataset_path: d\n" + content)
    with pytest.raises(TrainingConfigError) as error:
        load_sft_config(path, ["--output_dir", str(tmp_path)])
    assert message in str(error.value)


def test_yaml_scalars_convert_as_on_the_command_line(tmp_path: Path):
    path = tmp_path / "ok.yaml"
    path.write_text(
        "model_name_or_path: a\ndataset_path: d\nlearning_rate: 5e-5\nmax_steps: '12'\nuse_lora: true\n"
        "run_name: 123\nlr_scheduler_type: cosine\n"
    )
    config = load_sft_config(path, ["--output_dir", str(tmp_path)])
    assert (config.learning_rate, config.max_steps, config.use_lora, config.run_name) == (5e-5, 12, True, "123")
    assert config.lr_scheduler_type == "cosine"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (["--max_steps", "abc"], "argument --max_steps/--max-steps: invalid int value: 'abc'"),
        (["--deepspeed", "zero9"], "deepspeed: unknown DeepSpeed configuration 'zero9'"),
        (["--model_init", "[1]"], "model_init must be a JSON object or null"),
        (["--model_init", "{oops"], "model_init must be a JSON object or null"),
    ],
)
def test_bad_overrides_give_one_line_errors(override: list[str], message: str, tmp_path: Path):
    with pytest.raises(TrainingConfigError) as error:
        load_sft_config(ROOT / "examples/configs/tiny.yaml", ["--output_dir", str(tmp_path), *override])
    assert message in str(error.value) and "usage" not in str(error.value)


def test_model_init_empty_on_the_command_line_switches_it_off(tmp_path: Path):
    args = ["--output_dir", str(tmp_path), "--model_init", "", "--model_name_or_path", "some/model"]
    assert load_sft_config(ROOT / "examples/configs/tiny.yaml", args).model_init is None
