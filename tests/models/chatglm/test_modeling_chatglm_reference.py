"""The native ChatGLM-6B model against the original implementation's outputs (`../shared/reference/chatglm6b`)."""

import json

import pytest
import torch
from chatglm_helpers import load_reference_model
from safetensors.torch import load_file

from soulchat.models.chatglm import build_chat_prompt
from soulchat.models.chatglm.masking_chatglm import get_attention_visibility, get_position_ids

ATOL = 1e-4
IMPLEMENTATIONS = ["eager", "sdpa"]


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def small_model(request, reference_dir):
    return load_reference_model(reference_dir / "small", attn_implementation=request.param)


def max_diff(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return (actual.float() - expected.float()).abs().max().item()


@pytest.mark.parametrize("case", ["gmask_single", "mask_and_gmask_batch", "long_300", "train_labels"])
def test_masks_and_positions_built_by_the_model(small_model, small_cases, case):
    input_ids = small_cases[f"{case}.input_ids"]
    positions = get_position_ids(input_ids, None, small_model.config)
    visible = get_attention_visibility(input_ids, None, 0, small_model.config)
    assert torch.equal(positions, small_cases[f"{case}.position_ids"])
    assert torch.equal(~visible, small_cases[f"{case}.attention_mask"])


@pytest.mark.parametrize("case", ["gmask_single", "mask_and_gmask_batch", "long_300", "train_labels"])
def test_logits_with_model_built_masks(small_model, small_cases, case):
    with torch.no_grad():
        logits = small_model(small_cases[f"{case}.input_ids"]).logits
    assert logits.shape == small_cases[f"{case}.logits"].shape
    assert max_diff(logits, small_cases[f"{case}.logits"]) < ATOL


def test_hidden_states(small_model, small_cases):
    with torch.no_grad():
        outputs = small_model(small_cases["gmask_single.input_ids"], output_hidden_states=True)
    assert len(outputs.hidden_states) == small_model.config.num_layers + 1
    for i, hidden in enumerate(outputs.hidden_states):
        assert max_diff(hidden, small_cases[f"gmask_single.hidden_states.{i}"]) < ATOL


def test_left_padded_batch_with_tokenizer_mask(small_model, small_cases):
    inputs = {
        name: small_cases[f"left_padded_batch.{name}"] for name in ("input_ids", "attention_mask", "position_ids")
    }
    with torch.no_grad():
        logits = small_model(**inputs).logits
    # Every position, pad rows included (they attend uniformly, as in the original).
    assert max_diff(logits, small_cases["left_padded_batch.logits"]) < ATOL


def test_left_padded_batch_with_padding_mask_only(small_model, small_cases):
    input_ids = small_cases["left_padded_batch.input_ids"]
    padding_mask = (input_ids != small_model.config.pad_token_id).long()
    assert torch.equal(
        get_position_ids(input_ids, padding_mask, small_model.config), small_cases["left_padded_batch.position_ids"]
    )
    with torch.no_grad():
        logits = small_model(input_ids, attention_mask=padding_mask).logits
    assert max_diff(logits, small_cases["left_padded_batch.logits"]) < ATOL


def test_kv_cache_steps(small_model, small_cases):
    with torch.no_grad():
        outputs = small_model(small_cases["kv_cache.input_ids"], use_cache=True)
        assert max_diff(outputs.logits, small_cases["kv_cache.logits"]) < ATOL
        cache = outputs.cache
        for step, token in enumerate(small_cases["kv_cache.step_tokens"]):
            step_outputs = small_model(
                token.view(1, 1), position_ids=small_cases["kv_cache.step_position_ids"][step : step + 1], cache=cache
            )
            assert max_diff(step_outputs.logits[0, -1], small_cases["kv_cache.step_logits"][step]) < ATOL
            cache = step_outputs.cache
        full = small_model(small_cases["kv_cache.full_input_ids"]).logits
    assert max_diff(full, small_cases["kv_cache.full_logits"]) < ATOL
    # The cache holds post-rotary keys, `[batch, heads, seq, head_dim]` here vs the original's `[seq, batch, heads, head_dim]`.
    keys, values = cache.layers[0].keys, cache.layers[0].values
    assert max_diff(keys.permute(2, 0, 1, 3), small_cases["kv_cache.past_key_layer0"]) < ATOL
    assert max_diff(values.permute(2, 0, 1, 3), small_cases["kv_cache.past_value_layer0"]) < ATOL


def test_greedy_generate(small_model, small_cases):
    output_ids = small_model.generate(small_cases["greedy_generate.input_ids"], max_new_tokens=10, do_sample=False)
    assert torch.equal(output_ids, small_cases["greedy_generate.output_ids"])


def test_training_loss_and_gradients(reference_dir, small_cases):
    model = load_reference_model(reference_dir / "small", attn_implementation="sdpa")
    inputs = small_cases["train_labels.input_ids"]
    outputs = model(inputs, labels=small_cases["train_labels.labels"])
    assert max_diff(outputs.logits, small_cases["train_labels.logits"]) < ATOL
    assert outputs.loss.item() == pytest.approx(small_cases["train_labels.loss"].item(), rel=1e-6)
    outputs.loss.backward()
    expected = load_file(reference_dir / "small" / "grads.safetensors")
    parameters = dict(model.named_parameters())
    assert set(expected) == set(parameters)  # the tied head has no entry of its own
    for name, grad in expected.items():
        actual = parameters[name].grad
        assert (actual - grad).abs().max().item() <= 1e-4 * grad.abs().max().item() + 1e-8, name


@pytest.mark.parametrize("attn_implementation", IMPLEMENTATIONS)
def test_ptuning_prefix(reference_dir, small_cases, attn_implementation):
    model = load_reference_model(
        reference_dir / "small", attn_implementation=attn_implementation, pre_seq_len=4, prefix_projection=False
    )
    prefix = load_file(reference_dir / "small" / "prefix_encoder.safetensors")
    model.load_state_dict(prefix, strict=False)
    trainable = {name for name, param in model.named_parameters() if param.requires_grad}
    assert trainable == {"transformer.prefix_encoder.embedding.weight"}
    with torch.no_grad():
        logits = model(small_cases["ptuning.input_ids"]).logits
    assert max_diff(logits, small_cases["ptuning.logits"]) < ATOL


def test_fp16(reference_dir, small_cases):
    model = load_reference_model(reference_dir / "small", attn_implementation="eager").half()
    with torch.no_grad():
        logits = model(small_cases["gmask_single_fp16.input_ids"]).logits
    assert logits.dtype == torch.float16
    assert max_diff(logits, small_cases["gmask_single_fp16.logits"]) < 1e-2


@pytest.fixture(scope="module", params=IMPLEMENTATIONS)
def full_model(request, reference_dir):
    return load_reference_model(reference_dir / "full", attn_implementation=request.param)


def _check_full_logits(logits: torch.Tensor, full_cases: dict, case: str) -> None:
    vocab_idx = full_cases["vocab_idx"]
    assert max_diff(logits[..., vocab_idx], full_cases[f"{case}.logits_sub"]) < ATOL
    assert max_diff(logits[:, -1], full_cases[f"{case}.logits_last"]) < ATOL
    assert max_diff(torch.logsumexp(logits, dim=-1), full_cases[f"{case}.logsumexp"]) < ATOL
    assert torch.equal(logits.argmax(-1), full_cases[f"{case}.argmax"])


def test_full_chat_prompt(full_model, full_cases, ice_tokenizer, reference_dir):
    prompt = json.loads((reference_dir / "full" / "cases.json").read_text())["cases"]["chat_prompt"]["prompt"]
    inputs = ice_tokenizer([prompt], return_tensors="pt")
    assert list(inputs) == ["input_ids"]
    assert torch.equal(inputs["input_ids"], full_cases["chat_prompt.input_ids"])
    assert torch.equal(
        get_position_ids(inputs["input_ids"], None, full_model.config), full_cases["chat_prompt.position_ids"]
    )
    with torch.no_grad():
        logits = full_model(**inputs).logits
    _check_full_logits(logits, full_cases, "chat_prompt")


def test_full_padded_batch(full_model, full_cases, ice_tokenizer, reference_dir):
    texts = json.loads((reference_dir / "full" / "cases.json").read_text())["cases"]["padded_batch"]["texts"]
    inputs = ice_tokenizer(texts, padding=True, return_tensors="pt")
    for name in ("input_ids", "attention_mask", "position_ids"):
        assert torch.equal(inputs[name], full_cases[f"padded_batch.{name}"]), name
    with torch.no_grad():
        logits = full_model(**inputs).logits
    _check_full_logits(logits, full_cases, "padded_batch")


def test_full_greedy_chat(full_model, full_cases, ice_tokenizer, reference_dir):
    case = json.loads((reference_dir / "full" / "cases.json").read_text())["cases"]["chat_greedy"]
    history = [tuple(turn) for turn in case["history"]]
    response, new_history = full_model.chat(ice_tokenizer, case["query"], history=history, **case["kwargs"])
    assert response == case["response"]
    assert new_history == history + [(case["query"], case["response"])]
    inputs = ice_tokenizer([build_chat_prompt(case["query"], history)], return_tensors="pt")
    output_ids = full_model.generate(**inputs, **case["kwargs"])
    assert torch.equal(output_ids, full_cases["chat_greedy.output_ids"])
