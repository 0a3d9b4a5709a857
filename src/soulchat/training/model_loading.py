"""The tokenizer and model a [`SoulChatSFTConfig`] asks for: pretrained, or tiny and random; with LoRA if asked."""

import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from soulchat.models.chatglm import ChatGLMTokenizer
from soulchat.training.tokenizer_training import train_chatglm_tokenizer

logger = logging.getLogger(__name__)


TOKENIZER_RECIPE = "soulchat_tokenizer.json"


def load_tokenizer(config: Any, texts: Iterable[str] | None = None, *, data_fingerprint: str | None = None) -> Any:
    """The tokenizer of `config`: `tokenizer_name_or_path`, the base model's, or one trained on `texts`.

    Args:
        config ([`SoulChatSFTConfig`]):
            The training configuration.
        texts (`Iterable[str]`, *optional*):
            Training texts, needed when the tokenizer is to be trained (`tokenizer_vocab_size`); it is saved to and
            loaded from `output_dir/tokenizer` (so that every process of a distributed run, and a resumed run, gets
            the same one).
        data_fingerprint (`str`, *optional*):
            What identifies the training texts (the split's fingerprint). With the vocabulary size and seed it is
            written beside a trained tokenizer, and a saved tokenizer trained for other data or another size is
            trained again rather than reused.
    """
    name = config.tokenizer_name_or_path or config.model_name_or_path
    if name is not None:
        return AutoTokenizer.from_pretrained(name)
    folder = Path(config.output_dir) / "tokenizer"
    recipe = {"vocab_size": config.tokenizer_vocab_size, "seed": config.seed, "data": data_fingerprint}
    with config.main_process_first(desc="tokenizer training"):
        if (folder / "ice_text.model").is_file():
            saved = _saved_recipe(folder)
            if saved is None or saved == recipe:
                if saved is None:
                    logger.warning("reusing the tokenizer in %s, which does not record what it was trained on", folder)
                return ChatGLMTokenizer.from_pretrained(str(folder))
            logger.warning("the tokenizer in %s was trained for %s, not %s: training it again", folder, saved, recipe)
        if texts is None:
            raise ValueError("training a tokenizer needs the training texts")
        logger.info("training a %d-piece ChatGLM SentencePiece tokenizer into %s", config.tokenizer_vocab_size, folder)
        tokenizer = train_chatglm_tokenizer(texts, folder, vocab_size=config.tokenizer_vocab_size, seed=config.seed)
        (folder / TOKENIZER_RECIPE).write_text(json.dumps(recipe, indent=2), encoding="utf-8")
        return tokenizer


def _saved_recipe(folder: Path) -> dict | None:
    path = folder / TOKENIZER_RECIPE
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except json.JSONDecodeError:
        return {"unreadable": str(path)}


def _special_ids(tokenizer: Any) -> dict[str, int]:
    """Vocabulary size and special ids of a random model, taken from its tokenizer."""
    ids = {"vocab_size": len(tokenizer), "pad_token_id": tokenizer.pad_token_id}
    if isinstance(tokenizer, ChatGLMTokenizer):
        ids.update(
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            mask_token_id=tokenizer.mask_token_id,
            gmask_token_id=tokenizer.gmask_token_id,
        )
    else:
        ids.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    return {k: v for k, v in ids.items() if v is not None}


def load_model(config: Any, tokenizer: Any) -> PreTrainedModel:
    """The model of `config`: `model_name_or_path` in fp32 (mixed precision is the trainer's job), or a random one
    built from `model_init` with the tokenizer's vocabulary and special ids; then LoRA adapters when `use_lora`."""
    if config.model_name_or_path is not None:
        model = AutoModelForCausalLM.from_pretrained(config.model_name_or_path, dtype="float32")
    else:
        values = dict(config.model_init)
        model_config = AutoConfig.for_model(values.pop("model_type"), **{**values, **_special_ids(tokenizer)})
        model = AutoModelForCausalLM.from_config(model_config)
    if config.activation_checkpointing:
        model.config.use_cache = False
    if config.use_lora:
        model = add_lora(model, config)
    return model


def default_lora_targets(model: PreTrainedModel) -> str | list[str]:
    """`query_key_value` for ChatGLM-6B (as MeChat and the original LoRA recipes), `all-linear` otherwise."""
    return ["query_key_value"] if model.config.model_type == "chatglm" else "all-linear"


def add_lora(model: PreTrainedModel, config: Any) -> PreTrainedModel:
    """Wraps `model` with peft LoRA adapters (rank `lora_r`, `lora_alpha`, `lora_dropout`); base weights frozen."""
    from peft import LoraConfig, TaskType, get_peft_model

    targets = config.lora_target_modules
    target_modules = [t.strip() for t in targets.split(",")] if targets else default_lora_targets(model)
    lora = LoraConfig(
        task_type=TaskType.CAUSAL_LM,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=target_modules,
    )
    model = get_peft_model(model, lora)
    trainable, total = model.get_nb_trainable_parameters()
    logger.info("LoRA on %s: %d of %d parameters trainable", target_modules, trainable, total)
    return model


def merge_and_save(model: Any, tokenizer: Any, output_dir: str | Path) -> Path:
    """Merges LoRA adapters into the base weights and saves a plain model (and the tokenizer) to `output_dir`.

    The folder loads with `AutoModel.from_pretrained` / `AutoModelForCausalLM.from_pretrained`, without peft.
    Not possible under ZeRO-3 (the weights are sharded); merge the saved adapter afterwards instead.

    Returns:
        `Path`: `output_dir`.
    """
    output_dir = Path(output_dir)
    merged = model.merge_and_unload()
    merged.save_pretrained(str(output_dir))
    if tokenizer is not None:
        tokenizer.save_pretrained(str(output_dir))
    return output_dir


__all__ = ["add_lora", "default_lora_targets", "load_model", "load_tokenizer", "merge_and_save"]
