"""SoulChat supervised fine-tuning, start to end: data, tokenizer, model, trainer, checkpoints (a linear script)."""

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
from datasets.fingerprint import Hasher
from transformers import TrainerCallback, set_seed
from transformers.integrations import is_deepspeed_zero3_enabled
from transformers.trainer_utils import get_last_checkpoint

from soulchat.data import prompts as prompts_module
from soulchat.models.chatglm import ChatGLMTokenizer
from soulchat.training import tokenization as tokenization_module
from soulchat.training.collator import DataCollatorForSoulChat
from soulchat.training.deepspeed import ensure_single_process_env
from soulchat.training.model_loading import load_model, load_tokenizer, merge_and_save
from soulchat.training.sft_config import TrainingConfigError
from soulchat.training.sft_trainer import SoulChatTrainer
from soulchat.training.tokenization import encode_chat_template, encode_chatglm_table

logger = logging.getLogger(__name__)

# int32 halves what Arrow writes and the cache holds (vocabularies stay far below 2**31).
TOKENIZED_FEATURES = datasets.Features(
    {
        "input_ids": datasets.List(datasets.Value("int32")),
        "labels": datasets.List(datasets.Value("int32")),
        "prompt_length": datasets.Value("int32"),
        "length": datasets.Value("int32"),
    }
)


@dataclass
class TrainingResult:
    """What a run produced.

    Args:
        output_dir (`Path`):
            The run folder (checkpoints, final model, tokenizer, `train_results.json`).
        metrics (`dict[str, float]`):
            The training metrics, and the final evaluation's (prefixed `eval_`) when there is an evaluation split.
        log_history (`list[dict]`):
            The trainer's log (loss and learning rate per logging step, evaluations).
        merged_dir (`Path`, *optional*):
            The merged LoRA model, when LoRA was merged.
    """

    output_dir: Path
    metrics: dict[str, float] = field(default_factory=dict)
    log_history: list[dict] = field(default_factory=list)
    merged_dir: Path | None = None


def load_samples(config: Any) -> datasets.DatasetDict:
    """The sample splits of `config.dataset_path`: a `soulchat prepare` folder or a JSON/JSON Lines file; the
    train and evaluation splits asked for must be there.

    Raises:
        [`TrainingConfigError`]: when the path does not exist, is not a prepared folder, or lacks a split.
    """
    path = Path(config.dataset_path)
    if not path.exists():
        raise TrainingConfigError(f"dataset_path {path} does not exist")
    if path.is_dir():
        try:
            splits = datasets.load_dataset(str(path), "samples")
        except ValueError as e:
            raise TrainingConfigError(
                f"dataset_path {path} is not a folder written by `soulchat prepare` (no 'samples' configuration): {e}"
            ) from None
    else:
        splits = datasets.load_dataset("json", data_files={config.train_split: str(path)})
    for option in ("train_split", "eval_split"):
        split = getattr(config, option)
        if split and split not in splits:
            hint = "; set --eval_split '' to train without evaluation" if option == "eval_split" else ""
            if option == "eval_split" and not path.is_dir():
                hint += " (a JSON file is one split; `soulchat prepare --test-fraction` makes a test split)"
            raise TrainingConfigError(
                f"{option}: the dataset {path} has no split {split!r} (it has: {', '.join(splits)}){hint}"
            )
    return splits


def resolve_resume(config: Any) -> str | None:
    """The checkpoint folder to resume from: `resume_from_checkpoint` as given, or the newest `checkpoint-N` of
    `output_dir` for `true` / `latest`; `None` when not resuming.

    Raises:
        [`TrainingConfigError`]: when there is no such checkpoint.
    """
    value = config.resume_from_checkpoint
    if value is None or str(value).strip().lower() in ("", "false", "none"):
        return None
    if str(value).strip().lower() in ("true", "latest"):
        last = get_last_checkpoint(config.output_dir) if Path(config.output_dir).is_dir() else None
        if last is None:
            raise TrainingConfigError(f"resume_from_checkpoint {value}: no checkpoint-N folder in {config.output_dir}")
        return last
    if not (Path(value) / "trainer_state.json").is_file():
        raise TrainingConfigError(
            f"resume_from_checkpoint: {value} is not a checkpoint folder (no trainer_state.json)"
        )
    return str(value)


def resolve_prompt_format(config: Any, tokenizer: Any) -> str:
    """`chatglm` or `chat_template`, resolving `auto` from the tokenizer's class.

    Raises:
        [`TrainingConfigError`]: for `chatglm` with a tokenizer that has no ChatGLM-6B special tokens, or
        `chat_template` with a tokenizer that has no chat template.
    """
    name = config.prompt_format
    if name == "auto":
        name = "chatglm" if isinstance(tokenizer, ChatGLMTokenizer) else "chat_template"
    if name == "chatglm" and getattr(tokenizer, "gmask_token_id", None) is None:
        raise TrainingConfigError(
            f"prompt_format chatglm needs a ChatGLM-6B tokenizer, got {type(tokenizer).__name__}; use chat_template"
        )
    if name == "chat_template" and not getattr(tokenizer, "chat_template", None):
        raise TrainingConfigError(
            f"prompt_format chat_template needs a tokenizer with a chat template; {type(tokenizer).__name__} has none"
        )
    return name


def _tokenizer_identity(tokenizer: Any) -> Any:
    """What determines a tokenizer's ids: for ChatGLM its SentencePiece model, added tokens and text options (hashing
    those bytes takes milliseconds, where `datasets` pickles the whole tokenizer object to hash it)."""
    if isinstance(tokenizer, ChatGLMTokenizer):
        model = hashlib.sha256(tokenizer.sp_model.serialized_model_proto()).hexdigest()
        options = (tokenizer.num_image_tokens, tokenizer.remove_space, tokenizer.do_lower_case)
        return type(tokenizer).__name__, model, options, sorted(tokenizer.added_tokens_encoder.items())
    return Hasher.hash(tokenizer)


def tokenization_fingerprint(dataset: datasets.Dataset, tokenizer: Any, prompt_format: str, options: dict) -> str:
    """The cache key of a tokenised split: the split's fingerprint, the tokenizer, the layout and its options, the
    output features, and the source of the modules that build the ids (so a code change never reads a stale cache).
    """
    hasher = Hasher()
    for module in (tokenization_module, prompts_module):
        hasher.update(Path(module.__file__).read_bytes())
    options = {key: value for key, value in options.items() if key != "tokenizer"}
    for part in (dataset._fingerprint, _tokenizer_identity(tokenizer), prompt_format, sorted(options.items())):
        hasher.update(part)
    hasher.update(TOKENIZED_FEATURES.to_dict())
    return hasher.hexdigest()


def tokenize_split(
    dataset: datasets.Dataset, tokenizer: Any, config: Any, *, prompt_format: str, limit: int | None = None
) -> datasets.Dataset:
    """Batched, cached tokenisation of one split into the columns of `TOKENIZED_COLUMNS`.

    `datasets.map(batched=True, num_proc=config.preprocessing_num_workers)`; the result is cached in the dataset's
    cache folder under [`tokenization_fingerprint`], so a second run skips it.
    """
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    kwargs: dict[str, Any] = {
        "tokenizer": tokenizer,
        "max_source_length": config.max_source_length,
        "max_target_length": config.max_target_length,
    }
    if prompt_format == "chatglm":
        encode = encode_chatglm_table
    else:
        encode, kwargs["system_prompt"] = encode_chat_template, config.system_prompt

    def encode_batch(batch: dict[str, list]) -> Any:
        return encode(batch["prompt"], batch["response"], **kwargs)

    return dataset.map(
        encode_batch,
        new_fingerprint=tokenization_fingerprint(dataset, tokenizer, prompt_format, kwargs),
        batched=True,
        batch_size=1000,
        features=TOKENIZED_FEATURES,
        num_proc=config.preprocessing_num_workers,
        remove_columns=dataset.column_names,
        desc=f"tokenize ({prompt_format})",
    )


def _save_outputs(trainer: SoulChatTrainer, tokenizer: Any, config: Any, metrics: dict) -> Path | None:
    """Final model, tokenizer and metrics in `output_dir`; the merged LoRA model in `output_dir/merged`."""
    trainer.save_model()
    trainer.save_state()
    merged = None
    if trainer.is_world_process_zero():
        _usual_file_modes(Path(config.output_dir))
        tokenizer.save_pretrained(config.output_dir)
        (Path(config.output_dir) / "train_results.json").write_text(json.dumps(metrics, indent=2), "utf-8")
        if config.use_lora and config.merge_lora:
            if is_deepspeed_zero3_enabled():
                logger.warning(
                    "LoRA adapters are not merged under ZeRO-3 (the base weights are sharded): %s holds the adapter; "
                    "merge it with peft (PeftModel.from_pretrained(base, adapter).merge_and_unload())",
                    config.output_dir,
                )
            else:
                merged = merge_and_save(trainer.model, tokenizer, Path(config.output_dir) / "merged")
    return merged


def _whole_run_loss(metrics: dict, state: Any) -> None:
    """After a resume, the Trainer's `train_loss` averages only the steps run since; when the logged losses cover every
    step (each the mean since the previous log), it is replaced by the mean over the whole run, as an uninterrupted
    run reports it."""
    logged = [(entry["step"], entry["loss"]) for entry in state.log_history if "loss" in entry and "step" in entry]
    if not logged or logged[-1][0] != state.global_step:
        return
    total, previous = 0.0, 0
    for step, loss in logged:
        total += loss * (step - previous)
        previous = step
    metrics["train_loss"] = total / state.global_step


def _usual_file_modes(folder: Path) -> None:
    """transformers writes the weights through a private temporary file (mode 0600); give them the mode every other
    file of the folder has (0644 under the usual umask), so that the other users of a shared machine can read them."""
    umask = os.umask(0)
    os.umask(umask)
    for path in folder.glob("*.safetensors"):
        path.chmod(0o666 & ~umask)


def _final_evaluation(trainer: SoulChatTrainer) -> dict[str, float]:
    """The evaluation at the last step: the one the trainer just logged there, or a new one."""
    for entry in reversed(trainer.state.log_history):
        if any(key.startswith("eval_") for key in entry):
            if entry.get("step") == trainer.state.global_step:
                return {key: value for key, value in entry.items() if key.startswith("eval_")}
            break
    return trainer.evaluate()


def run_training(config: Any, *, callbacks: list[TrainerCallback] | None = None) -> TrainingResult:
    """Fine-tunes the model of `config` on its dataset and saves the result in `config.output_dir`.

    With DeepSpeed and no launcher, the distributed variables of a one-process run are set first (see
    [`ensure_single_process_env`]); under `deepspeed`, `torchrun` or `accelerate launch` they are the launcher's.

    Args:
        config ([`SoulChatSFTConfig`]):
            The validated configuration (see [`load_sft_config`]).
        callbacks (`list[TrainerCallback]`, *optional*):
            Extra trainer callbacks.

    Returns:
        [`TrainingResult`]: the output folder, metrics and log history.
    """
    if config.deepspeed:
        ensure_single_process_env()
    set_seed(config.seed)
    splits = load_samples(config)
    resume = resolve_resume(config)
    train_split = splits[config.train_split]
    tokenizer = load_tokenizer(
        config,
        (t for row in train_split for t in (row["prompt"], row["response"])),
        data_fingerprint=train_split._fingerprint,
    )
    prompt_format = resolve_prompt_format(config, tokenizer)
    with config.main_process_first(desc="tokenization"):
        train_dataset = tokenize_split(
            train_split, tokenizer, config, prompt_format=prompt_format, limit=config.max_train_samples
        )
        eval_dataset = None
        if config.eval_split:
            eval_dataset = tokenize_split(
                splits[config.eval_split],
                tokenizer,
                config,
                prompt_format=prompt_format,
                limit=config.max_eval_samples,
            )
    model = load_model(config, tokenizer)
    trainer = SoulChatTrainer(
        model=model,
        args=config,
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        data_collator=DataCollatorForSoulChat(tokenizer, pad_to_multiple_of=config.pad_to_multiple_of),
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    output = trainer.train(resume_from_checkpoint=resume)
    metrics = dict(output.metrics)
    if resume is not None:
        _whole_run_loss(metrics, trainer.state)
    if eval_dataset is not None:
        metrics.update(_final_evaluation(trainer))
    merged = _save_outputs(trainer, tokenizer, config, metrics)
    return TrainingResult(Path(config.output_dir), metrics, list(trainer.state.log_history), merged)


__all__ = [
    "TOKENIZED_FEATURES",
    "TrainingResult",
    "load_samples",
    "resolve_prompt_format",
    "resolve_resume",
    "run_training",
    "tokenization_fingerprint",
    "tokenize_split",
]
