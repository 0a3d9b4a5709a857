"""Loading a checkpoint folder to generate with: ChatGLM-6B (full precision or quantised) or a chat-template causal LM.

Used by the conversation engine (`soulchat chat`, `serve`, `webui`) and the benchmark (`soulchat evaluate`) alike,
with the checks both make before generating ([`check_generation_pair`], [`end_of_reply_ids`]).

ChatGLM-6B folders load through soulchat's Auto-class registration, so the original `THUDM/chatglm-6b` layout, the
folders written by `soulchat train`, and the int8 / int4 / int4-qe quantised ones (`quantization_bit` in
`config.json`) all come back as [`ChatGLMForConditionalGeneration`] without remote code.
"""

import logging
from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

from soulchat.models.chatglm import ChatGLMForConditionalGeneration

logger = logging.getLogger(__name__)


def resolve_device(device: str | None) -> torch.device:
    """The requested device, or `cuda` when available, else `cpu`."""
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def resolve_dtype(dtype: str, device: torch.device, *, quantized: bool = False) -> torch.dtype | str:
    """`auto`: float32 on CPU (half precision is slow there; a quantised ChatGLM then dequantises in fp32, the
    original CPU kernels' arithmetic) and the checkpoint's own dtype elsewhere."""
    if dtype == "auto":
        return torch.float32 if device.type == "cpu" else "auto"
    if not isinstance(getattr(torch, dtype, None), torch.dtype):
        raise ValueError(f"unknown dtype {dtype!r}; use auto, float32, float16 or bfloat16")
    if quantized and dtype == "bfloat16":
        raise ValueError("a quantised ChatGLM checkpoint runs in float16 or float32, not bfloat16")
    return getattr(torch, dtype)


def check_model_path(path: str | Path) -> None:
    """Fails with `FileNotFoundError` when `path` is written as a local path (absolute, `./`, `~`, or more than one
    `/`) but is no folder, rather than letting the Hub client call it an invalid repo id."""
    text = str(path)
    local = Path(text).is_absolute() or text.startswith((".", "~")) or text.count("/") > 1
    if local and not Path(text).expanduser().is_dir():
        raise FileNotFoundError(f"model folder {text} not found")


def load_model_for_generation(path: str | Path, *, device: str | None = None, dtype: str = "auto") -> tuple[Any, Any]:
    """Loads a checkpoint's model (in eval mode, on `device`) and tokenizer.

    Args:
        path (`str` or `Path`):
            A local folder (or hub id) with the weights, `config.json` and the tokenizer files.
        device (`str`, *optional*):
            Defaults to `cuda` when available, else `cpu`.
        dtype (`str`, *optional*, defaults to `"auto"`):
            `auto`, `float32`, `float16` or `bfloat16`.

    Returns:
        `tuple[PreTrainedModel, PreTrainedTokenizerBase]`
    """
    check_model_path(path)
    target = resolve_device(device)
    config = AutoConfig.from_pretrained(str(path))
    bits = getattr(config, "quantization_bit", 0) or 0
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path), dtype=resolve_dtype(dtype, target, quantized=bool(bits)))
    model = model.to(target).eval()
    logger.info(
        "loaded %s (%s, %s%s) on %s", path, type(model).__name__, model.dtype, f", int{bits} weights" if bits else "",
        target,
    )  # fmt: skip
    return model, tokenizer


def check_generation_pair(model: Any, tokenizer: Any, *, purpose: str) -> bool:
    """Checks that `model` can answer SoulChat prompts and readies `tokenizer` for batched generation.

    ChatGLM-6B reads the SoulChat prompt itself; any other causal LM needs a chat template. A tokenizer without a pad
    token pads with its EOS.

    Args:
        model (`PreTrainedModel`):
            The model.
        tokenizer (`PreTrainedTokenizerBase`):
            Its tokenizer (its `pad_token` may be set).
        purpose (`str`):
            What the pair is for, named in the error (e.g. `"to evaluate it"`).

    Returns:
        `bool`: whether the model is ChatGLM-6B.
    """
    is_chatglm = isinstance(model, ChatGLMForConditionalGeneration)
    if not is_chatglm and getattr(tokenizer, "chat_template", None) is None:
        raise ValueError(
            f"{type(model).__name__} is not ChatGLM-6B and its tokenizer has no chat_template; set one "
            f"(tokenizer.chat_template) in the checkpoint {purpose}"
        )
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return is_chatglm


def end_of_reply_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every id that ends a reply, sorted: the model's generation EOS ids and the tokenizer's EOS."""
    configured = getattr(model.generation_config, "eos_token_id", None)
    ids = configured if isinstance(configured, list) else [configured]
    return sorted({int(i) for i in [*ids, tokenizer.eos_token_id] if i is not None})


__all__ = [
    "check_generation_pair",
    "check_model_path",
    "end_of_reply_ids",
    "load_model_for_generation",
    "resolve_device",
    "resolve_dtype",
]
