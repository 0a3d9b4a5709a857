"""`SoulChatSFTConfig`: the training arguments of `soulchat train`, parsed from a YAML file plus command-line overrides."""

import json
from argparse import ArgumentTypeError
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from transformers import HfArgumentParser, Seq2SeqTrainingArguments

from soulchat.training.deepspeed import resolve_deepspeed_config

PROMPT_FORMATS = ("auto", "chatglm", "chat_template")


class TrainingConfigError(ValueError):
    """A training configuration, or what it names (dataset splits, a checkpoint), that cannot be used; raised before
    any work is done, with the field at fault."""


@dataclass
class SoulChatSFTConfig(Seq2SeqTrainingArguments):
    r"""
    [`~transformers.Seq2SeqTrainingArguments`] plus the model, data and LoRA options of SoulChat fine-tuning.

    Only the fields below are new; every Hugging Face training argument (`learning_rate`, `max_steps`, `deepspeed`,
    `per_device_train_batch_size`, ...) keeps its meaning. `deepspeed` also accepts the names of the shipped configs
    (`zero2`, `zero3`, `zero3_offload`). Defaults that differ from Hugging Face's: `remove_unused_columns=False` (the
    tokenised dataset holds exactly what the collator needs), `train_sampling_strategy="group_by_length"` (batches
    of similar lengths, so little padding), `predict_with_generate=True` and `logging_steps=10`.

    Args:
        model_name_or_path (`str`, *optional*):
            The base model (Hub id or folder), e.g. `THUDM/chatglm-6b` or `Qwen/Qwen2.5-7B-Instruct`.
        model_init (`dict` or `str`, *optional*):
            Instead of a base model, build a randomly initialised one from this configuration (a dict, or a JSON
            string on the command line) with a `model_type` key; the vocabulary size and special ids come from the
            tokenizer. For tiny CPU runs.
        tokenizer_name_or_path (`str`, *optional*):
            The tokenizer, when it is not in `model_name_or_path`.
        tokenizer_vocab_size (`int`, *optional*):
            With neither `tokenizer_name_or_path` nor `model_name_or_path`, train a ChatGLM SentencePiece tokenizer of
            this size on the training texts (saved under `output_dir/tokenizer`).
        dataset_path (`str`):
            Required. A folder written by `soulchat prepare` (its `samples` configuration is used) or a JSON/JSON Lines
            file of samples with `prompt` and `response`.
        train_split (`str`, *optional*, defaults to `"train"`):
            The training split.
        eval_split (`str`, *optional*):
            The evaluation split (`"test"` for a prepared folder with a test split); none by default.
        max_train_samples (`int`, *optional*):
            Keep only the first samples of the training split.
        max_eval_samples (`int`, *optional*):
            Keep only the first samples of the evaluation split.
        max_source_length (`int`, *optional*, defaults to 1536):
            Source budget in tokens (see `soulchat.training.tokenization` for what counts).
        max_target_length (`int`, *optional*, defaults to 512):
            Target budget in tokens.
        prompt_format (`str`, *optional*, defaults to `"auto"`):
            `chatglm` (the original ChatGLM-6B layout), `chat_template` (the tokenizer's chat template) or `auto`
            (`chatglm` for a ChatGLM-6B tokenizer, else `chat_template`).
        system_prompt (`str`, *optional*):
            A system message for the chat-template format.
        pad_to_multiple_of (`int`, *optional*, defaults to 8):
            Round padded batch lengths up to this multiple.
        length_group_megabatch (`int`, *optional*, defaults to 100):
            With `train_sampling_strategy="group_by_length"`, batches per length-sorted mega-batch (more: less
            padding, less randomness; Hugging Face's sampler uses 50).
        preprocessing_num_workers (`int`, *optional*):
            Processes for the batched tokenisation (`datasets.map(num_proc=...)`).
        use_lora (`bool`, *optional*, defaults to `False`):
            Train LoRA adapters (peft) instead of all weights.
        lora_r (`int`, *optional*, defaults to 8):
            LoRA rank.
        lora_alpha (`int`, *optional*, defaults to 32):
            LoRA scaling numerator.
        lora_dropout (`float`, *optional*, defaults to 0.1):
            Dropout on the LoRA input.
        lora_target_modules (`str`, *optional*):
            Comma-separated module names to adapt; defaults to `query_key_value` for ChatGLM-6B, else `all-linear`.
        merge_lora (`bool`, *optional*, defaults to `True`):
            After training, merge the adapters into the base weights and save the merged model in `output_dir/merged`.
        log_samples (`int`, *optional*, defaults to 2):
            Generated evaluation samples (prompt, prediction, reference) logged and written per evaluation.
        generation_max_new_tokens (`int`, *optional*):
            New tokens generated per evaluation sample; defaults to `max_target_length`.
        skip_logits (`bool`, *optional*, defaults to `True`):
            Training steps ask the model for the loss only: ChatGLM-6B then computes the head and the cross entropy
            in chunks, without the `[batch, seq, vocab]` logits (models without `skip_logits` ignore it).
    """

    model_name_or_path: str | None = field(default=None, metadata={"help": "The base model (Hub id or folder)."})
    model_init: dict | str | None = field(
        default=None,
        metadata={"help": "Config (dict or JSON) of a randomly initialised model, with model_type; for tiny runs."},
    )
    tokenizer_name_or_path: str | None = field(
        default=None, metadata={"help": "The tokenizer, when it is not in model_name_or_path."}
    )
    tokenizer_vocab_size: int | None = field(
        default=None,
        metadata={"help": "Without a tokenizer, train a ChatGLM SentencePiece tokenizer of this size on the data."},
    )
    dataset_path: str | None = field(
        default=None, metadata={"help": "A `soulchat prepare` folder, or a JSON/JSONL file of prompt/response."}
    )
    train_split: str = field(default="train", metadata={"help": "The training split."})
    eval_split: str | None = field(default=None, metadata={"help": "The evaluation split, if any."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Keep only this many training samples."})
    max_eval_samples: int | None = field(default=None, metadata={"help": "Keep only this many evaluation samples."})
    max_source_length: int = field(default=1536, metadata={"help": "Source budget in tokens."})
    max_target_length: int = field(default=512, metadata={"help": "Target budget in tokens."})
    prompt_format: str = field(
        default="auto", metadata={"help": "chatglm, chat_template or auto.", "choices": list(PROMPT_FORMATS)}
    )
    system_prompt: str | None = field(default=None, metadata={"help": "System message of the chat-template format."})
    pad_to_multiple_of: int | None = field(default=8, metadata={"help": "Round padded lengths up to this multiple."})
    length_group_megabatch: int = field(
        default=100, metadata={"help": "Batches per length-sorted mega-batch of the group_by_length sampler."}
    )
    preprocessing_num_workers: int | None = field(default=None, metadata={"help": "Processes for tokenisation."})
    use_lora: bool = field(default=False, metadata={"help": "Train LoRA adapters (peft) instead of all weights."})
    lora_r: int = field(default=8, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator."})
    lora_dropout: float = field(default=0.1, metadata={"help": "Dropout on the LoRA input."})
    lora_target_modules: str | None = field(
        default=None, metadata={"help": "Comma-separated modules to adapt (default: per model)."}
    )
    merge_lora: bool = field(default=True, metadata={"help": "Merge the adapters and save output_dir/merged."})
    log_samples: int = field(default=2, metadata={"help": "Generated evaluation samples to log per evaluation."})
    generation_max_new_tokens: int | None = field(
        default=None, metadata={"help": "New tokens per evaluation sample (default: max_target_length)."}
    )
    skip_logits: bool = field(
        default=True,
        metadata={
            "help": "Training steps ask the model for the loss only (`skip_logits=True`): ChatGLM then computes the head "
            "and cross entropy in chunks without materialising the [batch, seq, vocab] logits. Ignored by models "
            "whose forward has no `skip_logits`."
        },
    )
    # Hugging Face defaults changed for SoulChat fine-tuning.
    remove_unused_columns: bool = field(default=False, metadata={"help": "Drop dataset columns the model ignores."})
    train_sampling_strategy: str = field(
        default="group_by_length",
        metadata={
            "help": "Sampler: random, sequential, group_by_length or batch_rebalance.",
            "choices": ["random", "sequential", "group_by_length", "batch_rebalance"],
        },
    )
    predict_with_generate: bool = field(default=True, metadata={"help": "Evaluate by generating the replies."})
    logging_steps: float = field(default=10, metadata={"help": "Log every this many steps."})

    def __post_init__(self):
        if isinstance(self.model_init, str):
            text = self.model_init.strip()
            try:
                self.model_init = json.loads(text) if text and text != "null" else None
            except json.JSONDecodeError as e:
                raise TrainingConfigError(f"model_init must be a JSON object or null: {e}") from None
            if self.model_init is not None and not isinstance(self.model_init, dict):
                raise TrainingConfigError(f"model_init must be a JSON object or null, got {text!r}")
        self._validate_soulchat_fields()
        # `--deepspeed ""` on the command line switches off a YAML file's DeepSpeed.
        try:
            self.deepspeed = resolve_deepspeed_config(self.deepspeed) if self.deepspeed else None
        except ValueError as e:
            raise TrainingConfigError(f"deepspeed: {e}") from None
        super().__post_init__()

    def _validate_soulchat_fields(self) -> None:
        if (self.model_name_or_path is None) == (self.model_init is None):
            raise TrainingConfigError("set exactly one of model_name_or_path and model_init")
        if self.model_init is not None and "model_type" not in self.model_init:
            raise TrainingConfigError("model_init needs a model_type (e.g. chatglm)")
        if self.model_name_or_path is None and self.tokenizer_name_or_path is None and not self.tokenizer_vocab_size:
            raise TrainingConfigError("with model_init, set tokenizer_name_or_path or tokenizer_vocab_size")
        if self.dataset_path is None:
            raise TrainingConfigError("dataset_path is required")
        if self.max_source_length < 32 or self.max_target_length < 4:
            raise TrainingConfigError("max_source_length must be at least 32 and max_target_length at least 4")
        if self.prompt_format not in PROMPT_FORMATS:
            raise TrainingConfigError(f"prompt_format must be one of {PROMPT_FORMATS}, got {self.prompt_format!r}")
        if self.pad_to_multiple_of is not None and self.pad_to_multiple_of < 1:
            raise TrainingConfigError("pad_to_multiple_of must be positive")
        if self.length_group_megabatch < 1:
            raise TrainingConfigError("length_group_megabatch must be positive")
        if self.use_lora and (self.lora_r < 1 or not 0 <= self.lora_dropout < 1):
            raise TrainingConfigError("lora_r must be positive and lora_dropout in [0, 1)")


def load_sft_config(path: str | Path | None, overrides: list[str] | None = None) -> SoulChatSFTConfig:
    """Builds a [`SoulChatSFTConfig`] from a YAML file and `--key value` overrides (which win).

    Args:
        path (`str`, `Path` or `None`):
            A YAML mapping of field names to values; unknown names are an error. `None`: the overrides alone.
        overrides (`list[str]`, *optional*):
            Command-line style overrides, e.g. `["--learning_rate", "1e-4", "--max_steps", "10"]`.

    Returns:
        [`SoulChatSFTConfig`]: the validated configuration.

    Example:

    ```python
    >>> config = load_sft_config("examples/configs/tiny.yaml", ["--max_steps", "5", "--output_dir", "/tmp/run"])
    >>> config.max_steps
    5
    ```
    """
    values: dict[str, Any] = {}
    if path is not None:
        try:
            values = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as e:
            raise TrainingConfigError(f"{path} is not valid YAML: {e}") from None
        if not isinstance(values, dict):
            raise TrainingConfigError(f"{path} must hold a YAML mapping of training arguments")
        known = {f.name for f in fields(SoulChatSFTConfig)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise TrainingConfigError(f"{path}: unknown training arguments {unknown}")
    parser = HfArgumentParser(SoulChatSFTConfig)
    parser.error = _raise_config_error  # a one-line error, not the usage of every training argument
    options = {option: action for action in parser._actions for option in action.option_strings}
    parser.set_defaults(**{k: _yaml_value(path, k, v, options[f"--{k}"]) for k, v in values.items()})
    try:
        (config,) = parser.parse_args_into_dataclasses(args=list(overrides or []), look_for_args_file=False)
    except TrainingConfigError:
        raise
    except ValueError as error:  # arguments no field takes
        raise TrainingConfigError(str(error)) from None
    return config


def _raise_config_error(message: str) -> None:
    raise TrainingConfigError(message)


def _yaml_value(path: str | Path | None, name: str, value: Any, action: Any) -> Any:
    """A YAML value converted by its field's type as a command-line string would be, so that a wrong type fails
    here, naming the file and the field, rather than deep inside training."""
    if value is None:
        return None
    if isinstance(value, dict):
        if name not in ("model_init", "deepspeed"):
            raise TrainingConfigError(f"{path}: {name} takes a single value, not a mapping")
        return json.dumps(value)
    if isinstance(value, list):
        if action.nargs not in ("+", "*"):
            raise TrainingConfigError(f"{path}: {name} takes a single value, not a list")
        return [_convert(path, name, item, action) for item in value]
    return _convert(path, name, value, action)


def _convert(path: str | Path | None, name: str, value: Any, action: Any) -> Any:
    if isinstance(value, (list, dict)):
        raise TrainingConfigError(f"{path}: {name} holds a nested {type(value).__name__}")
    if action.type is None:
        return value
    text = str(value).lower() if isinstance(value, bool) else str(value)
    try:
        converted = action.type(text)
    except (TypeError, ValueError, ArgumentTypeError) as e:
        raise TrainingConfigError(f"{path}: {name}: invalid value {value!r} ({e})") from None
    if action.choices is not None and converted not in action.choices:
        choices = ", ".join(str(c) for c in action.choices)
        raise TrainingConfigError(f"{path}: {name} must be one of {choices}, got {value!r}")
    return converted


__all__ = ["PROMPT_FORMATS", "SoulChatSFTConfig", "TrainingConfigError", "load_sft_config"]
