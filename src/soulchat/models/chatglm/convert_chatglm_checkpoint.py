"""Convert an original ChatGLM-6B checkpoint folder (`pytorch_model-*.bin` shards) to a safetensors folder.

The conversion streams one shard at a time, writing each as it is converted (memory stays bounded by the largest
shard), drops what the model never
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


def _source_config(src: Path) -> ChatGLMConfig:
    """The checkpoint's configuration, which must be ChatGLM-6B's."""
    path = src / "config.json"
    if not path.is_file():
        raise ValueError(f"{src} has no config.json: not a ChatGLM-6B checkpoint folder")
    try:
        model_type = json.loads(path.read_text(encoding="utf-8")).get("model_type")
    except (json.JSONDecodeError, AttributeError) as e:
        raise ValueError(f"{path} is not a JSON object: {e}") from None
    if model_type != ChatGLMConfig.model_type:
        raise ValueError(f"{src} is not a ChatGLM-6B checkpoint: its config.json says model_type {model_type!r}")
    return ChatGLMConfig.from_pretrained(src)


def _check_tensors(converted: dict[str, torch.Tensor], config: ChatGLMConfig, shard: Path) -> None:
    """Every tensor is ChatGLM-6B's, and the word embeddings have the configuration's shape."""
    foreign = [name for name in converted if not name.startswith(("transformer.", "lm_head."))]
    if foreign:
        raise ValueError(f"{shard} holds tensors that are not ChatGLM-6B's, e.g. {foreign[:3]}")
    embeddings = converted.get("transformer.word_embeddings.weight")
    expected = (config.vocab_size, config.hidden_size)
    if embeddings is not None and tuple(embeddings.shape) != expected:
        raise ValueError(
            f"{shard}: transformer.word_embeddings.weight is {tuple(embeddings.shape)}, but config.json says "
            f"vocab_size x hidden_size = {expected}"
        )


def _missing_tensors(names: set[str], config: ChatGLMConfig) -> list[str]:
    required = ["transformer.word_embeddings.weight", "transformer.final_layernorm.weight"]
    required += [f"transformer.layers.{i}.attention.query_key_value.weight" for i in range(config.num_layers)]
    return [name for name in required if name not in names]


def convert_checkpoint(src: str | Path, dst: str | Path, *, dtype: torch.dtype | None = None) -> list[Path]:
    """Converts the original checkpoint folder `src` into a safetensors folder `dst`.

    The source is checked first (a ChatGLM-6B `config.json`, ChatGLM-6B tensor names, word embeddings of the
    configured shape, every layer present); nothing is left in `dst` when it fails. Each shard is written as soon
    as it is converted, so memory stays bounded by the largest shard.

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

    Raises:
        `ValueError`: when `src` is not a ChatGLM-6B checkpoint (naming what is wrong).
        `FileNotFoundError`: when it has no `.bin` weights.
    """
    src, dst = Path(src), Path(dst)
    config = _source_config(src)
    shards = _source_shards(src)
    created = not dst.exists()
    parts: list[tuple[Path, dict[str, int]]] = []
    names: set[str] = set()
    try:
        for shard in shards:
            state = torch.load(shard, map_location="cpu", weights_only=True, mmap=True)
            converted = _convert_tensors(state, dtype, config.tie_word_embeddings)
            del state
            if not converted:
                continue
            _check_tensors(converted, config, shard)
            names.update(converted)
            dst.mkdir(parents=True, exist_ok=True)
            part = dst / f".converting-{len(parts) + 1:05d}.safetensors"
            save_file(converted, part, metadata={"format": "pt"})
            parts.append((part, {name: t.numel() * t.element_size() for name, t in converted.items()}))
            logger.info("converted %s (%d tensors)", shard.name, len(converted))
            del converted
        missing = _missing_tensors(names, config)
        if missing:
            raise ValueError(f"{src} lacks ChatGLM-6B tensors, e.g. {missing[:3]}")
    except BaseException:
        for part, _ in parts:
            part.unlink(missing_ok=True)
        if created and dst.is_dir() and not any(dst.iterdir()):
            dst.rmdir()
        raise
    written = _name_shards(dst, parts)
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


def _name_shards(dst: Path, parts: list[tuple[Path, dict[str, int]]]) -> list[Path]:
    """Gives the converted parts their final names: `model.safetensors`, or `model-0000N-of-0000M.safetensors` and
    their index for several."""
    for old in [*dst.glob("model*.safetensors"), dst / "model.safetensors.index.json"]:
        old.unlink(missing_ok=True)
    if len(parts) == 1:
        path = dst / "model.safetensors"
        parts[0][0].replace(path)
        return [path]
    written, weight_map, total_size = [], {}, 0
    for number, (part, sizes) in enumerate(parts, start=1):
        path = dst / f"model-{number:05d}-of-{len(parts):05d}.safetensors"
        part.replace(path)
        written.append(path)
        weight_map.update(dict.fromkeys(sizes, path.name))
        total_size += sum(sizes.values())
    index = {"metadata": {"total_size": total_size}, "weight_map": dict(sorted(weight_map.items()))}
    (dst / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")
    return written


__all__ = ["convert_checkpoint", "quantize_checkpoint"]
