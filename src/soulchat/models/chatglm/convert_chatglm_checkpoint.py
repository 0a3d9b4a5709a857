"""Convert an original ChatGLM-6B checkpoint folder (`pytorch_model-*.bin` shards) to a safetensors folder.

The conversion streams one shard at a time (memory stays bounded by the largest shard), drops what the model never
loads (the rotary `inv_freq` buffers and `lm_head.weight`, which is tied to the word embeddings), optionally casts
the floating-point weights, and writes the native configuration, tokenizer and modeling files next to the weights, so
that the result loads with soulchat, or with plain transformers and `trust_remote_code=True`.
"""

import json
import logging
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers.dynamic_module_utils import get_relative_import_files

from soulchat.models.chatglm import modeling_chatglm, tokenization_chatglm
from soulchat.models.chatglm.configuration_chatglm import ChatGLMConfig
from soulchat.models.chatglm.tokenization_chatglm import ChatGLMTokenizer

logger = logging.getLogger(__name__)

_DROPPED = ("rotary_emb.inv_freq",)
_AUTO_MAP = {
    "AutoConfig": "configuration_chatglm.ChatGLMConfig",
    "AutoModel": "modeling_chatglm.ChatGLMForConditionalGeneration",
    "AutoModelForCausalLM": "modeling_chatglm.ChatGLMForConditionalGeneration",
    "AutoModelForSeq2SeqLM": "modeling_chatglm.ChatGLMForConditionalGeneration",
}


def _source_shards(src: Path) -> list[Path]:
    index = src / "pytorch_model.bin.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        return [src / name for name in sorted(set(weight_map.values()))]
    single = src / "pytorch_model.bin"
    if single.is_file():
        return [single]
    raise FileNotFoundError(f"no pytorch_model.bin or pytorch_model.bin.index.json in {src}")


def _convert_tensors(state: dict[str, torch.Tensor], dtype: torch.dtype | None, tied: bool) -> dict[str, torch.Tensor]:
    converted = {}
    for name, tensor in state.items():
        if name.endswith(_DROPPED) or (tied and name == "lm_head.weight"):
            continue
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        # Clone: safetensors refuses tensors that share storage (as the tied head and embeddings of a .bin do).
        converted[name] = tensor.contiguous().clone()
    return converted


def convert_checkpoint(src: str | Path, dst: str | Path, *, dtype: torch.dtype | None = None) -> list[Path]:
    """Converts the original checkpoint folder `src` into a safetensors folder `dst`.

    Args:
        src (`str` or `Path`):
            Folder with `config.json`, `pytorch_model.bin` or sharded `pytorch_model-0000N-of-0000M.bin` plus their
            index, and optionally the tokenizer files (`tokenizer_config.json`, `ice_text.model`).
        dst (`str` or `Path`):
            Output folder (created; existing files with the same names are replaced).
        dtype (`torch.dtype`, *optional*):
            Cast every floating-point weight to this dtype; by default the stored dtypes (fp16 weights, fp32
            LayerNorms) are kept.

    Returns:
        `list[Path]`: the safetensors files written.
    """
    src, dst = Path(src), Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    config = ChatGLMConfig.from_pretrained(src)
    shards = _source_shards(src)
    converted_shards: list[dict[str, torch.Tensor]] = []
    for shard in shards:
        state = torch.load(shard, map_location="cpu", weights_only=True, mmap=True)
        converted = _convert_tensors(state, dtype, config.tie_word_embeddings)
        if converted:
            converted_shards.append(converted)
            logger.info("converted %s (%d tensors)", shard.name, len(converted))
        del state
    written = _write_shards(dst, converted_shards)
    if dtype is not None:
        config.dtype = dtype
    config.auto_map = {**(getattr(config, "auto_map", None) or {}), **_AUTO_MAP}
    config.save_pretrained(dst)
    for module_file in [modeling_chatglm.__file__, *get_relative_import_files(modeling_chatglm.__file__)]:
        shutil.copyfile(module_file, dst / Path(module_file).name)
    if (src / "tokenizer_config.json").is_file():
        ChatGLMTokenizer.from_pretrained(src).save_pretrained(dst)
    else:
        shutil.copyfile(tokenization_chatglm.__file__, dst / "tokenization_chatglm.py")
    return written


def quantize_checkpoint(
    folder: str | Path, bits: int, *, quantize_embeddings: bool = False, dtype: torch.dtype | None = None
) -> list[Path]:
    """Quantises the safetensors checkpoint in `folder` in place (the layout of `THUDM/chatglm-6b-int8` / `-int4`).

    The model is loaded (in `dtype`, or the checkpoint's dtype), quantised with
    [`~ChatGLMForConditionalGeneration.quantize`] (bit-exact with the original `model.half().quantize(bits)`) and
    saved back over the full-precision weights; the tokenizer files are kept.

    Args:
        folder (`str` or `Path`):
            A folder written by [`convert_checkpoint`] (or by `save_pretrained`).
        bits (`int`):
            4 or 8.
        quantize_embeddings (`bool`, *optional*, defaults to `False`):
            Also quantise the word embeddings and the tied head (`-int4-qe`).
        dtype (`torch.dtype`, *optional*):
            Dtype of the weights that stay in full precision (LayerNorms, biases, unquantised embeddings).

    Returns:
        `list[Path]`: the safetensors files written.
    """
    from soulchat.models.chatglm.modeling_chatglm import ChatGLMForConditionalGeneration

    folder = Path(folder)
    model = ChatGLMForConditionalGeneration.from_pretrained(folder, dtype=dtype or "auto")
    model.quantize(bits, quantize_embeddings=quantize_embeddings)
    for old in [*folder.glob("model*.safetensors"), folder / "model.safetensors.index.json"]:
        old.unlink(missing_ok=True)
    model.save_pretrained(folder)
    written = sorted(folder.glob("model*.safetensors"))
    logger.info("quantised %s to int%d (%d safetensors file(s))", folder, bits, len(written))
    return written


def _write_shards(dst: Path, shards: list[dict[str, torch.Tensor]]) -> list[Path]:
    """Writes `model.safetensors`, or `model-0000N-of-0000M.safetensors` and their index for several shards."""
    if len(shards) == 1:
        path = dst / "model.safetensors"
        save_file(shards[0], path, metadata={"format": "pt"})
        return [path]
    written, weight_map, total_size = [], {}, 0
    for number, shard in enumerate(shards, start=1):
        path = dst / f"model-{number:05d}-of-{len(shards):05d}.safetensors"
        save_file(shard, path, metadata={"format": "pt"})
        written.append(path)
        weight_map.update(dict.fromkeys(shard, path.name))
        total_size += sum(t.numel() * t.element_size() for t in shard.values())
    index = {"metadata": {"total_size": total_size}, "weight_map": dict(sorted(weight_map.items()))}
    (dst / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return written


__all__ = ["convert_checkpoint", "quantize_checkpoint"]
