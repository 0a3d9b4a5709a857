"""Helpers of the ChatGLM tests: tiny random models and the reference models of `../shared`."""

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from soulchat.models.chatglm import ChatGLMConfig, ChatGLMForConditionalGeneration

TINY_SPECIAL = {
    "mask_token_id": 250,
    "gmask_token_id": 251,
    "bos_token_id": 254,
    "eos_token_id": 255,
    "pad_token_id": 3,
}


def tiny_config(**overrides) -> ChatGLMConfig:
    """A 2-layer, 64-wide config with the small oracle's special ids (vocab 256)."""
    values = dict(
        vocab_size=256, hidden_size=64, num_layers=2, num_attention_heads=4, inner_hidden_size=128, use_cache=True
    )
    values.update(TINY_SPECIAL)
    values.update(overrides)
    return ChatGLMConfig(**values)


def tiny_model(attn_implementation: str = "sdpa", **overrides) -> ChatGLMForConditionalGeneration:
    torch.manual_seed(0)
    model = ChatGLMForConditionalGeneration(tiny_config(attn_implementation=attn_implementation, **overrides))
    return model.eval()


def load_reference_model(
    folder: Path, attn_implementation: str = "eager", **overrides
) -> ChatGLMForConditionalGeneration:
    """Builds the model of a reference folder (`small/` or `full/`) in fp32 from its `model.safetensors`."""
    values = json.loads((folder / "cases.json").read_text())["config"]
    values.update(overrides)
    config = ChatGLMConfig(**values, attn_implementation=attn_implementation)
    model = ChatGLMForConditionalGeneration(config)
    state = {k: v.float() for k, v in load_file(folder / "model.safetensors").items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight", "transformer.prefix_encoder.embedding.weight"}
    model.tie_weights()
    return model.eval()


def tiny_config_for(tokenizer, **overrides) -> ChatGLMConfig:
    """A tiny config whose vocabulary and special ids are those of `tokenizer`."""
    special = dict(
        vocab_size=tokenizer.vocab_size,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        mask_token_id=tokenizer.mask_token_id,
        gmask_token_id=tokenizer.gmask_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    return tiny_config(**{**special, **overrides})


ORIGINAL_TOKENIZER_CONFIG = {
    "name_or_path": "THUDM/chatglm-6b",
    "bos_token": "<sop>",
    "eos_token": "<eop>",
    "end_token": "</s>",
    "gmask_token": "[gMASK]",
    "mask_token": "[MASK]",
    "pad_token": "<pad>",
    "unk_token": "<unk>",
    "remove_space": False,
    "do_lower_case": False,
    "tokenizer_class": "ChatGLMTokenizer",
    "num_image_tokens": 0,
    "auto_map": {"AutoTokenizer": ["tokenization_chatglm.ChatGLMTokenizer", None]},
}

ORIGINAL_CONFIG = {
    "_name_or_path": "THUDM/chatglm-6b",
    "architectures": ["ChatGLMModel"],
    "auto_map": {
        "AutoConfig": "configuration_chatglm.ChatGLMConfig",
        "AutoModel": "modeling_chatglm.ChatGLMForConditionalGeneration",
        "AutoModelForSeq2SeqLM": "modeling_chatglm.ChatGLMForConditionalGeneration",
    },
    "layernorm_epsilon": 1e-05,
    "max_sequence_length": 2048,
    "model_type": "chatglm",
    "position_encoding_2d": True,
    "torch_dtype": "float16",
    "transformers_version": "4.23.1",
    "use_cache": True,
}


def write_original_checkpoint(
    folder: Path, config: ChatGLMConfig, state_dict: dict[str, torch.Tensor], vocab_file: Path
) -> None:
    """Writes a folder in the layout of `THUDM/chatglm-6b`: original `config.json` and `tokenizer_config.json`,
    `ice_text.model`, fp16 `pytorch_model-0000N-of-00003.bin` shards (fp32 LayerNorms, rotary `inv_freq` buffers,
    `lm_head.weight` alone in the last shard) and their index. No Python files."""
    import shutil

    state = {k: v.float() if "layernorm" in k else v.half() for k, v in state_dict.items()}
    head_dim = config.hidden_size // config.num_attention_heads
    for i in range(config.num_layers):
        inv_freq = 1.0 / 10000 ** (torch.arange(0, head_dim // 2, 2).float() / (head_dim // 2))
        state[f"transformer.layers.{i}.attention.rotary_emb.inv_freq"] = inv_freq.half()
    half = config.num_layers // 2
    shards = [
        [k for k in state if "word_embeddings" in k or any(f".layers.{i}." in k for i in range(half))],
        [
            k
            for k in state
            if "final_layernorm" in k or any(f".layers.{i}." in k for i in range(half, config.num_layers))
        ],
        ["lm_head.weight"],
    ]
    weight_map = {}
    for number, keys in enumerate(shards, start=1):
        name = f"pytorch_model-{number:05d}-of-{len(shards):05d}.bin"
        torch.save({k: state[k] for k in keys}, folder / name)
        weight_map.update(dict.fromkeys(keys, name))
    total_size = sum(t.numel() * t.element_size() for t in state.values())
    index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
    (folder / "pytorch_model.bin.index.json").write_text(json.dumps(index, indent=2))
    fields = ("vocab_size", "hidden_size", "num_layers", "num_attention_heads", "inner_hidden_size")
    ids = ("bos_token_id", "eos_token_id", "mask_token_id", "gmask_token_id", "pad_token_id")
    original = {**ORIGINAL_CONFIG, **{name: getattr(config, name) for name in fields + ids}}
    (folder / "config.json").write_text(json.dumps(original, indent=2))
    (folder / "tokenizer_config.json").write_text(json.dumps(ORIGINAL_TOKENIZER_CONFIG, indent=2))
    shutil.copyfile(vocab_file, folder / "ice_text.model")
