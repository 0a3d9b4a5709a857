"""Weight-only int8 / int4 / int4-qe quantisation: the format bit for bit, against the reference of `../shared`."""

import copy
import json

import pytest
import torch
from chatglm_helpers import tiny_config, tiny_config_for
from safetensors.torch import load_file

from soulchat.models.chatglm import ChatGLMConfig, ChatGLMForConditionalGeneration
from soulchat.models.chatglm.quantization_chatglm import (
    ChatGLMQuantizedEmbedding,
    ChatGLMQuantizedLinear,
    dequantize_weight,
    pack_int4,
    quantize_weight,
    unpack_int4,
)

VARIANTS = {"int8": 8, "int4": 4, "int4_qe": 4}


@pytest.fixture(scope="module")
def quantized_dir(reference_dir):
    return reference_dir / "quantized"


@pytest.fixture(scope="module")
def small_fp16(reference_dir) -> dict[str, torch.Tensor]:
    """The small reference model's weights in fp16, as the original quantises them (`model.half().quantize(bits)`)."""
    return {k: v.half() for k, v in load_file(reference_dir / "small" / "model.safetensors").items()}


def test_quantize_weight_arithmetic():
    weight = torch.tensor(
        [[1.0, -0.5, 0.25, 0.0], [0.0, 0.0, 0.0, 0.0], [3.5, 2.5, -1.5, 0.5], [-7.0, 7.0, 1.0, -1.0]],
        dtype=torch.float16,
    )
    values, scale = quantize_weight(weight, 8)
    assert scale.dtype == torch.float16
    assert scale.tolist() == [
        torch.tensor(1 / 127, dtype=torch.float16).item(),
        0.0,
        0.027557373046875,
        0.05511474609375,
    ]
    assert values.tolist() == [[127, -64, 32, 0], [0, 0, 0, 0], [127, 91, -54, 18], [-127, 127, 18, -18]]
    values, scale = quantize_weight(weight, 4)
    assert scale.tolist() == [0.142822265625, 0.0, 0.5, 1.0]
    # 3.5 / 0.5 = 7, 2.5 / 0.5 = 5, 0.5 / 0.5 = 1; 0.25 / 0.1428 = 1.75 -> 2; half to even: -0.5 / 0.1428 = -3.5 -> -4
    assert values.tolist() == [[7, -4, 2, 0], [0, 0, 0, 0], [7, 5, -3, 1], [-7, 7, 1, -1]]


def test_round_half_to_even_on_the_fp16_quotient():
    # amax 7 -> scale 1 (int4): the quotients are the weights themselves, so .5 values round to even.
    weight = torch.tensor([[7.0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5]], dtype=torch.float16)
    values, _ = quantize_weight(weight, 4)
    assert values.tolist() == [[7, 0, 2, 2, 0, -2, -2, 4]]
    # fp32 weights are rounded to fp16 first: 0.50001 is 0.5 in fp16, hence 0 and not 1.
    values, _ = quantize_weight(torch.tensor([[7.0, 0.50001]]), 4)
    assert values.tolist() == [[7, 0]]


def test_int4_packing_layout():
    values = torch.tensor([[-8, 7, -7, 6, 0, -1, 1, 0], [0, 0, 7, 7, -8, -8, -1, -1]], dtype=torch.int8)
    packed = pack_int4(values)
    assert [[f"{b & 0xFF:02x}" for b in row] for row in packed.tolist()] == [
        ["87", "96", "0f", "10"],
        ["00", "77", "88", "ff"],
    ]
    assert packed.dtype == torch.int8 and torch.equal(unpack_int4(packed), values)
    every_byte = torch.arange(-128, 128, dtype=torch.int8)[None]
    assert torch.equal(pack_int4(unpack_int4(every_byte)), every_byte)
    with pytest.raises(ValueError, match="even"):
        pack_int4(torch.zeros(1, 3, dtype=torch.int8))


def test_layout_example(quantized_dir):
    example = json.loads((quantized_dir / "layout_example.json").read_text())
    values = torch.tensor(example["q"], dtype=torch.int8)
    packed = torch.tensor(example["packed_int8"], dtype=torch.int8)
    assert torch.equal(pack_int4(values), packed)
    assert torch.equal(unpack_int4(packed), values)
    assert torch.equal(dequantize_weight(packed, torch.ones(2), 4), values.float())


@pytest.mark.parametrize("variant", VARIANTS)
def test_reference_tensors_bit_for_bit(variant, quantized_dir, small_fp16):
    bits = VARIANTS[variant]
    stored = load_file(quantized_dir / variant / "model.safetensors")
    dequantized = load_file(quantized_dir / variant / "dequantized.safetensors")
    unpacked = load_file(quantized_dir / variant / "unpacked.safetensors") if bits == 4 else {}
    assert len(dequantized) == (9 if variant == "int4_qe" else 8)
    for key, expected in dequantized.items():
        values, scale = quantize_weight(small_fp16[key], bits)
        assert torch.equal(pack_int4(values) if bits == 4 else values, stored[key]), key
        assert torch.equal(scale, stored[key + "_scale"]), key
        assert torch.equal(dequantize_weight(stored[key], stored[key + "_scale"], bits, torch.float16), expected), key
        if bits == 4:
            assert torch.equal(values, unpacked[key]) and torch.equal(unpack_int4(stored[key]), unpacked[key]), key
        assert int(values.abs().max()) == 2 ** (bits - 1) - 1


def _fp16_reference_model(reference_dir, small_fp16) -> ChatGLMForConditionalGeneration:
    config = ChatGLMConfig.from_pretrained(reference_dir / "small", dtype=torch.float16)
    model = ChatGLMForConditionalGeneration(config).half().eval()
    model.load_state_dict(small_fp16)
    return model


@pytest.mark.parametrize("variant", VARIANTS)
def test_model_quantize_reproduces_the_reference_checkpoint(variant, reference_dir, quantized_dir, small_fp16):
    model = _fp16_reference_model(reference_dir, small_fp16)
    model.quantize(VARIANTS[variant], quantize_embeddings=variant == "int4_qe")
    assert model.config.quantization_bit == VARIANTS[variant]
    assert model.config.quantization_embeddings == (variant == "int4_qe")
    state = model.state_dict()
    stored = load_file(quantized_dir / variant / "model.safetensors")
    assert set(state) == set(stored)
    for key, expected in stored.items():
        assert state[key].dtype == expected.dtype and torch.equal(state[key], expected), key
    assert model.lm_head.weight is model.transformer.word_embeddings.weight
    if variant == "int4_qe":
        assert model.lm_head.weight_scale is model.transformer.word_embeddings.weight_scale
        assert model.lm_head.bias is None


def test_quantize_twice_and_bad_bits(reference_dir, small_fp16):
    model = _fp16_reference_model(reference_dir, small_fp16).quantize(8)
    before = model.transformer.layers[0].attention.dense.weight
    model.quantize(4)  # already quantised: nothing changes
    assert model.config.quantization_bit == 8 and model.transformer.layers[0].attention.dense.weight is before
    assert model.quantize(0) is model
    with pytest.raises(ValueError, match="4 or 8"):
        ChatGLMForConditionalGeneration(tiny_config()).quantize(3)
    with pytest.raises(ValueError, match="0, 4 or 8"):
        tiny_config(quantization_bit=2)


def test_all_zero_row_gives_zero_values():
    values, scale = quantize_weight(torch.zeros(2, 4), 8)
    assert values.tolist() == [[0] * 4] * 2 and scale.tolist() == [0.0, 0.0]


def test_quantized_modules_forward_in_the_activation_dtype():
    torch.manual_seed(0)
    linear = torch.nn.Linear(8, 3).half()
    quantized = ChatGLMQuantizedLinear.from_linear(linear, 4)
    assert quantized.weight.shape == (3, 4) and quantized.weight_scale.dtype == torch.float16
    x = torch.randn(2, 5, 8)
    exact = quantized.dequantized_weight(torch.float32)
    assert torch.equal(quantized(x), torch.nn.functional.linear(x, exact, linear.bias.float()))
    assert quantized(x.half()).dtype == torch.float16
    assert torch.equal(quantized.dequantized_weight(torch.float16), exact.half())  # one rounding of the exact product

    embedding = ChatGLMQuantizedEmbedding.from_embedding(torch.nn.Embedding(10, 8), 8)
    ids = torch.tensor([[3, 0, 9]])
    assert embedding.weight_scale.dtype == torch.float32  # the output dtype follows the embedding's dtype
    assert torch.equal(embedding(ids), embedding.dequantized_weight(torch.float32)[ids])
    assert torch.equal(embedding.half()(ids), embedding.dequantized_weight(torch.float16)[ids])


def test_fresh_quantized_model_is_initialised():
    model = ChatGLMForConditionalGeneration(tiny_config(quantization_bit=4, quantization_embeddings=True)).eval()
    assert model.lm_head.weight is model.transformer.word_embeddings.weight
    assert model.lm_head.weight_scale is model.transformer.word_embeddings.weight_scale
    dense = model.transformer.layers[0].mlp.dense_h_to_4h
    assert dense.weight.dtype == torch.int8 and dense.weight.shape == (128, 32)
    assert bool((dense.weight_scale > 0).all()) and int(unpack_int4(dense.weight).abs().max()) == 7
    ids = torch.tensor([[5, 6, 7, 251, 254]])
    with torch.no_grad():
        logits = model(ids).logits
    assert logits.shape == (1, 5, 256) and bool(torch.isfinite(logits).all())


@torch.no_grad()
def test_chat_equals_the_model_with_dequantized_weights(tiny_tokenizer):
    torch.manual_seed(0)
    plain = ChatGLMForConditionalGeneration(tiny_config_for(tiny_tokenizer)).eval()
    quantized = copy.deepcopy(plain).quantize(4, quantize_embeddings=True)
    for name, module in quantized.named_modules():
        if isinstance(module, ChatGLMQuantizedLinear) and name != "lm_head":
            plain.get_submodule(name).weight.copy_(module.dequantized_weight(torch.float32))
    plain.transformer.word_embeddings.weight.copy_(quantized.transformer.word_embeddings.dequantized_weight())
    inputs = tiny_tokenizer(["你好", "hello world"], padding=True, return_tensors="pt")
    assert (quantized(**inputs).logits - plain(**inputs).logits).abs().max() < 1e-5
    reply, history = quantized.chat(tiny_tokenizer, "你好", max_length=32, do_sample=False)
    assert history == [("你好", reply)]
    assert reply == plain.chat(tiny_tokenizer, "你好", max_length=32, do_sample=False)[0]


def test_prefix_tuning_on_a_quantized_model():
    """P-tuning v2 on int4 (the original's low-memory fine-tuning): only the prefix encoder gets gradients."""
    torch.manual_seed(0)
    model = ChatGLMForConditionalGeneration(tiny_config(pre_seq_len=4, quantization_bit=4)).train()
    assert [n for n, p in model.named_parameters() if p.requires_grad] == [
        "transformer.prefix_encoder.embedding.weight"
    ]
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": True})
    ids = torch.tensor([[5, 6, 7, 251, 254, 9]])
    model(ids, labels=ids, use_cache=False).loss.backward()
    assert model.transformer.prefix_encoder.embedding.weight.grad.abs().sum() > 0
    assert model.transformer.layers[0].attention.query_key_value.weight.grad is None


def test_quantised_embeddings_need_a_tied_head():
    untied = ChatGLMForConditionalGeneration(tiny_config(tie_word_embeddings=False))
    with pytest.raises(ValueError, match="head is untied"):
        untied.quantize(4, quantize_embeddings=True)
    assert untied.config.quantization_bit == 0  # refused before anything changed
    ChatGLMForConditionalGeneration(tiny_config()).quantize(4, quantize_embeddings=True)  # tied: the int4-qe layout
