"""`soulchat convert-checkpoint`: original `.bin` shards to a safetensors folder that loads everywhere."""

import json

import pytest
import torch
from chatglm_helpers import tiny_config_for, write_original_checkpoint
from safetensors import safe_open
from transformers import AutoModel, AutoTokenizer
from typer.testing import CliRunner

from soulchat.cli.main import app
from soulchat.models.chatglm import ChatGLMForConditionalGeneration

PROMPTS = ["你好", "hello world, how are you today?"]


@pytest.fixture(scope="module")
def original_folder(tmp_path_factory, tiny_tokenizer, tiny_sp_model):
    torch.manual_seed(0)
    model = ChatGLMForConditionalGeneration(tiny_config_for(tiny_tokenizer)).eval()
    folder = tmp_path_factory.mktemp("original")
    write_original_checkpoint(folder, model.config, model.state_dict(), tiny_sp_model)
    return folder


def _logits(folder, dtype=torch.float32) -> torch.Tensor:
    model = AutoModel.from_pretrained(folder, dtype=dtype).eval()
    inputs = AutoTokenizer.from_pretrained(folder)(PROMPTS, padding=True, return_tensors="pt")
    with torch.no_grad():
        return model(**inputs).logits


def test_convert_keeps_dtypes_and_logits(tmp_path, original_folder):
    result = CliRunner().invoke(app, ["convert-checkpoint", str(original_folder), str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert sorted(set(index["weight_map"].values())) == [
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
    ]
    assert "lm_head.weight" not in index["weight_map"] and not any("inv_freq" in k for k in index["weight_map"])
    with safe_open(out / "model-00001-of-00002.safetensors", "pt") as handle:
        assert handle.get_tensor("transformer.word_embeddings.weight").dtype == torch.float16
        assert handle.get_tensor("transformer.layers.0.input_layernorm.weight").dtype == torch.float32
    assert {
        "modeling_chatglm.py",
        "configuration_chatglm.py",
        "masking_chatglm.py",
        "chat_chatglm.py",
        "tokenization_chatglm.py",
        "ice_text.model",
    } <= {p.name for p in out.iterdir()}
    assert json.loads((out / "config.json").read_text())["auto_map"]["AutoModel"] == (
        "modeling_chatglm.ChatGLMForConditionalGeneration"
    )
    assert torch.equal(_logits(out), _logits(original_folder))


def test_convert_with_dtype(tmp_path, original_folder):
    result = CliRunner().invoke(
        app, ["convert-checkpoint", str(original_folder), str(tmp_path / "bf16"), "--dtype", "bfloat16"]
    )
    assert result.exit_code == 0, result.output
    model = AutoModel.from_pretrained(tmp_path / "bf16").eval()
    assert model.dtype == torch.bfloat16 and model.transformer.final_layernorm.weight.dtype == torch.bfloat16
    bad = CliRunner().invoke(app, ["convert-checkpoint", str(original_folder), str(tmp_path / "x"), "--dtype", "int8"])
    assert bad.exit_code != 0


def test_convert_single_bin_with_shared_storage(tmp_path, original_folder):
    from soulchat.models.chatglm.convert_chatglm_checkpoint import convert_checkpoint

    single = tmp_path / "single"
    single.mkdir()
    state = {}
    for shard in sorted(original_folder.glob("pytorch_model-*.bin")):
        state.update(torch.load(shard, weights_only=True))
    state["lm_head.weight"] = state["transformer.word_embeddings.weight"]  # tied: one storage, as torch.save keeps it
    torch.save(state, single / "pytorch_model.bin")
    for name in ("config.json", "tokenizer_config.json", "ice_text.model"):
        (single / name).write_bytes((original_folder / name).read_bytes())
    written = convert_checkpoint(single, tmp_path / "out", dtype=torch.float32)
    assert [path.name for path in written] == ["model.safetensors"]
    with safe_open(written[0], "pt") as handle:
        assert handle.get_tensor("transformer.word_embeddings.weight").dtype == torch.float32
    assert torch.equal(_logits(tmp_path / "out"), _logits(original_folder))


def _copy_folder(src, dst, **replace_config):
    dst.mkdir()
    for path in src.iterdir():
        (dst / path.name).write_bytes(path.read_bytes())
    if replace_config:
        config = json.loads((src / "config.json").read_text())
        (dst / "config.json").write_text(json.dumps({**config, **replace_config}))
    return dst


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no_config", "has no config.json: not a ChatGLM-6B checkpoint folder"),
        ("gpt2", "is not a ChatGLM-6B checkpoint: its config.json says model_type 'gpt2'"),
        ("vocab", "transformer.word_embeddings.weight is"),
        ("foreign", "holds tensors that are not ChatGLM-6B's"),
        ("no_bin", "no pytorch_model.bin"),
    ],
)
def test_convert_refuses_what_is_not_a_chatglm_checkpoint(tmp_path, original_folder, change, message):
    src = _copy_folder(original_folder, tmp_path / "src")
    if change == "no_config":
        (src / "config.json").unlink()
    elif change == "gpt2":
        (src / "config.json").write_text(json.dumps({"model_type": "gpt2", "n_embd": 8}))
    elif change == "vocab":
        config = json.loads((src / "config.json").read_text())
        (src / "config.json").write_text(json.dumps({**config, "vocab_size": config["vocab_size"] + 1}))
    elif change == "foreign":
        shard = sorted(src.glob("pytorch_model-*.bin"))[-1]
        torch.save({"h.0.attn.c_attn.weight": torch.zeros(2, 2)}, shard)
    else:
        for shard in [*src.glob("pytorch_model*.bin"), src / "pytorch_model.bin.index.json"]:
            shard.unlink(missing_ok=True)
    result = CliRunner().invoke(app, ["convert-checkpoint", str(src), str(tmp_path / "out")])
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert not (tmp_path / "out").exists()  # nothing left behind
