"""The original int8 / int4 / int4-qe checkpoint folders: loading, logits, `save_pretrained` and remote code."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel

from soulchat.models.chatglm import ChatGLMForConditionalGeneration
from soulchat.models.chatglm.quantization_chatglm import ChatGLMQuantizedLinear

VARIANTS = ("int8", "int4", "int4_qe")


@pytest.fixture(scope="module")
def quantized_dir(reference_dir):
    return reference_dir / "quantized"


@pytest.fixture(scope="module")
def quantized_cases(quantized_dir) -> dict[str, torch.Tensor]:
    return load_file(quantized_dir / "cases.safetensors")


def _logits(model, input_ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids).logits.float()


@pytest.mark.parametrize("variant", VARIANTS)
def test_original_folder_loads_without_remote_code(variant, quantized_dir):
    model = AutoModel.from_pretrained(quantized_dir / variant).eval()
    assert type(model) is ChatGLMForConditionalGeneration and model.dtype == torch.float16
    assert isinstance(model.transformer.layers[1].mlp.dense_4h_to_h, ChatGLMQuantizedLinear)
    assert model.lm_head.weight is model.transformer.word_embeddings.weight
    stored = load_file(quantized_dir / variant / "model.safetensors")
    state = model.state_dict()
    assert set(state) == set(stored)
    for key, expected in stored.items():
        assert state[key].dtype == expected.dtype and torch.equal(state[key], expected), key


def test_fp32_scales_and_layernorms_load(tmp_path, quantized_dir):
    """The dev code writes fp32 scales when quantising on the CPU; the original fp16 checkpoint has fp32 LayerNorms."""
    stored = load_file(quantized_dir / "int4" / "model.safetensors")
    widened = {k: v.float() if k.endswith("_scale") or "layernorm" in k else v for k, v in stored.items()}
    save_file(widened, tmp_path / "model.safetensors", metadata={"format": "pt"})
    shutil.copyfile(quantized_dir / "int4" / "config.json", tmp_path / "config.json")
    for dtype in (torch.float16, torch.float32):
        state = AutoModel.from_pretrained(tmp_path, dtype=dtype).state_dict()
        scale = state["transformer.layers.1.mlp.dense_h_to_4h.weight_scale"]
        assert scale.dtype == dtype and torch.equal(
            scale.half(), stored["transformer.layers.1.mlp.dense_h_to_4h.weight_scale"]
        )
        assert torch.equal(
            state["transformer.layers.1.mlp.dense_h_to_4h.weight"],
            stored["transformer.layers.1.mlp.dense_h_to_4h.weight"],
        )


@pytest.mark.parametrize("variant", VARIANTS)
def test_fp32_logits_match_the_original_cpu_kernels(variant, quantized_dir, quantized_cases):
    model = AutoModel.from_pretrained(quantized_dir / variant, dtype=torch.float32).eval()
    assert model.transformer.layers[0].attention.dense.weight.dtype == torch.int8
    logits = _logits(model, quantized_cases["gmask_single.input_ids"])
    # Same convention (exact fp32 q * scale): the original dev code's CPU kernels.
    cpu_kernel = quantized_cases[f"{variant}.gmask_single.logits_cpu_kernel"]
    assert (logits - cpu_kernel).abs().max() < 1e-4
    # Across conventions (fp16-rounded dequantised weights, the CUDA kernel's).
    assert (logits - quantized_cases[f"{variant}.gmask_single.logits_dequant_fp32"]).abs().max() < 1e-2
    assert torch.equal(logits.argmax(-1), cpu_kernel.argmax(-1))


@pytest.mark.parametrize("variant", VARIANTS)
def test_fp16_rounded_weights_match_the_cuda_kernel_convention(variant, quantized_dir, quantized_cases):
    """The fp16 dequantised weights in an fp32 model: the convention of `logits_dequant_fp32`."""
    model = AutoModel.from_pretrained(quantized_dir / variant, dtype=torch.float32).eval()
    for name, module in list(model.named_modules()):
        if isinstance(module, ChatGLMQuantizedLinear) and name != "lm_head":
            module.forward = lambda x, m=module: torch.nn.functional.linear(
                x, m.dequantized_weight(torch.float16).float(), m.bias
            )
    if variant == "int4_qe":
        table = model.transformer.word_embeddings.dequantized_weight(torch.float16).float()
        model.transformer.word_embeddings.forward = lambda ids: table[ids]
        model.lm_head.forward = lambda x: x @ table.t()
    logits = _logits(model, quantized_cases["gmask_single.input_ids"])
    assert (logits - quantized_cases[f"{variant}.gmask_single.logits_dequant_fp32"]).abs().max() < 1e-4


@pytest.mark.parametrize("variant", VARIANTS)
def test_fp16_forward(variant, quantized_dir, quantized_cases):
    model = AutoModel.from_pretrained(quantized_dir / variant).eval()
    logits = _logits(model, quantized_cases["gmask_single.input_ids"])
    assert (logits - quantized_cases[f"{variant}.gmask_single.logits_dequant_fp16"]).abs().max() < 2e-2


@pytest.mark.parametrize("variant", ("int8", "int4_qe"))
def test_save_pretrained_writes_the_original_layout(variant, tmp_path, quantized_dir, quantized_cases):
    model = AutoModel.from_pretrained(quantized_dir / variant).eval()
    model.save_pretrained(tmp_path)
    assert "quantization_chatglm.py" in os.listdir(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["quantization_bit"] == (8 if variant == "int8" else 4)
    assert config["quantization_embeddings"] == (variant == "int4_qe")
    saved = load_file(tmp_path / "model.safetensors")
    stored = load_file(quantized_dir / variant / "model.safetensors")
    # The tied head (and, for -qe, its scales) is not written; everything else is the original tensor.
    assert set(stored) - set(saved) == ({"lm_head.weight", "lm_head.weight_scale"} & set(stored))
    for key, tensor in saved.items():
        assert tensor.dtype == stored[key].dtype and torch.equal(tensor, stored[key]), key

    reloaded = AutoModel.from_pretrained(tmp_path).eval()
    assert torch.equal(reloaded.transformer.word_embeddings.weight, stored["transformer.word_embeddings.weight"])
    assert reloaded.lm_head.weight is reloaded.transformer.word_embeddings.weight
    input_ids = quantized_cases["gmask_single.input_ids"]
    assert torch.equal(_logits(reloaded, input_ids), _logits(model, input_ids))


def test_generate_with_a_quantized_checkpoint(quantized_dir):
    model = AutoModel.from_pretrained(quantized_dir / "int4_qe", dtype=torch.float32).eval()
    input_ids = torch.tensor([[5, 6, 7, 251, 254]])
    out = model.generate(input_ids, max_new_tokens=4, do_sample=False)
    cached = out[0, 5:].tolist()
    # Step by step without a cache gives the same greedy tokens.
    ids = input_ids
    for _ in range(4):
        ids = torch.cat((ids, _logits(model, ids)[:, -1:].argmax(-1)), dim=1)
    assert ids[0, 5:].tolist() == cached


_REMOTE_SCRIPT = textwrap.dedent(
    """
    import importlib.util, json, sys
    from pathlib import Path
    sys.path = [p for p in sys.path if not (Path(p or ".") / "soulchat").exists()]
    assert importlib.util.find_spec("soulchat") is None, "soulchat is visible"
    import torch
    from transformers import AutoModel
    model = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True, dtype=torch.float32).eval()
    assert "soulchat" not in sys.modules
    with torch.no_grad():
        logits = model(torch.tensor([[5, 6, 7, 251, 254]])).logits
    print(json.dumps({"module": type(model).__module__, "logits": logits.flatten().tolist()}))
    """
)


@pytest.mark.slow
def test_saved_quantized_folder_loads_as_remote_code(tmp_path, quantized_dir):
    model = AutoModel.from_pretrained(quantized_dir / "int4_qe", dtype=torch.float32).eval()
    model.save_pretrained(tmp_path / "model")
    shutil.rmtree(tmp_path / "modules", ignore_errors=True)
    env = {**os.environ, "HF_MODULES_CACHE": str(tmp_path / "modules"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    result = subprocess.run(
        [sys.executable, "-c", _REMOTE_SCRIPT, str(tmp_path / "model")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    remote = json.loads(result.stdout.strip().splitlines()[-1])
    assert remote["module"].startswith("transformers_modules")
    assert remote["logits"] == _logits(model, torch.tensor([[5, 6, 7, 251, 254]])).flatten().tolist()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("variant", VARIANTS)
def test_fp16_forward_on_gpu(variant, quantized_dir, quantized_cases):
    """The plain-torch path on GPU: fp16 weights `fp16(q * scale)` (the CUDA kernel's), fp16 compute."""
    model = AutoModel.from_pretrained(quantized_dir / variant, dtype=torch.float16).cuda().eval()
    linear = model.transformer.layers[0].attention.query_key_value
    expected = load_file(quantized_dir / variant / "dequantized.safetensors")
    assert torch.equal(
        linear.dequantized_weight(torch.float16).cpu(),
        expected["transformer.layers.0.attention.query_key_value.weight"],
    )
    logits = _logits(model, quantized_cases["gmask_single.input_ids"].cuda()).cpu()
    assert (logits - quantized_cases[f"{variant}.gmask_single.logits_dequant_fp16"]).abs().max() < 2e-2
