"""`soulchat convert-checkpoint --quantize`: an original fp16 checkpoint to the original int8 / int4-qe layouts."""

import json

import pytest
import torch
from chatglm_helpers import write_original_checkpoint
from safetensors.torch import load_file
from transformers import AutoModel
from typer.testing import CliRunner

from soulchat.cli.main import app
from soulchat.models.chatglm import ChatGLMConfig


@pytest.fixture(scope="module")
def small_original_folder(tmp_path_factory, reference_dir, tiny_sp_model):
    """The small reference model written as an original `THUDM/chatglm-6b` folder (fp16 `.bin` shards)."""
    folder = tmp_path_factory.mktemp("small-original")
    config = ChatGLMConfig.from_pretrained(reference_dir / "small")
    state = load_file(reference_dir / "small" / "model.safetensors")
    write_original_checkpoint(folder, config, state, tiny_sp_model)
    return folder


@pytest.mark.parametrize(("variant", "options"), [("int8", ["8"]), ("int4_qe", ["4", "--quantize-embeddings"])])
def test_convert_and_quantize_reproduces_the_reference(
    variant, options, tmp_path, small_original_folder, reference_dir
):
    out = tmp_path / variant
    result = CliRunner().invoke(
        app, ["convert-checkpoint", str(small_original_folder), str(out), "--quantize", *options]
    )
    assert result.exit_code == 0, result.output
    assert "int" in result.output and not list(out.glob("model-0000*"))
    config = json.loads((out / "config.json").read_text())
    assert (config["quantization_bit"], config["quantization_embeddings"]) == (int(options[0]), len(options) == 2)
    saved = load_file(out / "model.safetensors")
    stored = load_file(reference_dir / "quantized" / variant / "model.safetensors")
    assert set(stored) - set(saved) <= {"lm_head.weight", "lm_head.weight_scale"}
    for key, tensor in saved.items():
        assert tensor.dtype == stored[key].dtype and torch.equal(tensor, stored[key]), key
    assert (out / "quantization_chatglm.py").is_file() and (out / "ice_text.model").is_file()
    model = AutoModel.from_pretrained(out, dtype=torch.float32).eval()
    assert model.transformer.layers[0].attention.query_key_value.weight.dtype == torch.int8


def test_bad_quantize_options(tmp_path, small_original_folder):
    runner = CliRunner()
    bad_bits = runner.invoke(
        app, ["convert-checkpoint", str(small_original_folder), str(tmp_path / "a"), "--quantize", "3"]
    )
    assert bad_bits.exit_code != 0
    no_bits = runner.invoke(
        app, ["convert-checkpoint", str(small_original_folder), str(tmp_path / "b"), "--quantize-embeddings"]
    )
    assert no_bits.exit_code != 0
