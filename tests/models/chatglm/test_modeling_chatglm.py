"""Unit tests of the native ChatGLM model on tiny random configs: masks, positions, backends, dtypes, training."""

import pytest
import torch
from chatglm_helpers import tiny_config, tiny_model

from soulchat.models.chatglm import ChatGLMConfig, ChatGLMForConditionalGeneration, ChatGLMModel
from soulchat.models.chatglm.masking_chatglm import get_attention_visibility, get_position_ids

# ids of tiny_config: [MASK] 250, [gMASK] 251, <sop> 254, <eop> 255, pad 3
BATCH = torch.tensor(
    [
        [3, 3, 3, 10, 11, 251, 254, 20],
        [12, 13, 14, 15, 16, 251, 254, 21],
    ]
)


def test_config_field_names_and_aliases():
    config = tiny_config()
    assert (config.num_hidden_layers, config.intermediate_size, config.max_position_embeddings) == (2, 128, 2048)
    assert ChatGLMConfig().use_cache is False and ChatGLMConfig().tie_word_embeddings is True
    with pytest.raises(ValueError):
        ChatGLMConfig(hidden_size=30, num_attention_heads=4)
    with pytest.raises(NotImplementedError):
        ChatGLMModel(tiny_config(position_encoding_2d=False))


def test_position_ids_skip_left_padding():
    padding_mask = (BATCH != 3).long()
    positions = get_position_ids(BATCH, padding_mask, tiny_config())
    assert positions[0].tolist() == [[0, 0, 0, 0, 1, 2, 2, 2], [0, 0, 0, 0, 0, 0, 1, 2]]
    assert positions[1].tolist() == [[0, 1, 2, 3, 4, 5, 5, 5], [0, 0, 0, 0, 0, 0, 1, 2]]


def test_position_ids_prefer_gmask_and_require_a_mask_token():
    config = tiny_config()
    ids = torch.tensor([[10, 250, 11, 251, 254, 20]])  # [MASK] at 1, [gMASK] at 3: the model uses [gMASK]
    assert get_position_ids(ids, None, config)[0].tolist() == [[0, 1, 2, 3, 3, 3], [0, 0, 0, 0, 1, 2]]
    with pytest.raises(ValueError, match="MASK"):
        get_position_ids(torch.tensor([[10, 11, 254]]), None, config)


def test_visibility_without_and_with_past():
    config = tiny_config()
    visible = get_attention_visibility(BATCH, (BATCH != 3).long(), 0, config)[:, 0]
    assert visible[1].int().tolist()[4] == [1, 1, 1, 1, 1, 1, 0, 0]  # the context is bidirectional
    assert visible[1].int().tolist()[6] == [1, 1, 1, 1, 1, 1, 1, 0]  # <sop> and later are causal
    assert not visible[0, :3].any() and not visible[0, :, :3].any()  # pads see nothing and are not seen
    step = get_attention_visibility(
        torch.tensor([[30], [31]]), torch.cat([(BATCH != 3).long(), torch.ones(2, 1, dtype=torch.long)], 1), 8, config
    )
    assert step[:, 0, 0].int().tolist() == [[0, 0, 0, 1, 1, 1, 1, 1, 1], [1] * 9]


@pytest.mark.parametrize("pre_seq_len", [None, 3])
def test_eager_and_sdpa_agree(pre_seq_len):
    eager = tiny_model("eager", pre_seq_len=pre_seq_len)
    sdpa = tiny_model("sdpa", pre_seq_len=pre_seq_len)
    assert sdpa.config._attn_implementation == "sdpa" and eager.config._attn_implementation == "eager"
    sdpa.load_state_dict(eager.state_dict())
    if pre_seq_len:
        with torch.no_grad():
            for model in (eager, sdpa):
                model.transformer.prefix_encoder.embedding.weight.copy_(torch.linspace(-1, 1, 3 * 256).view(3, 256))
    padding_mask = (BATCH != 3).long()
    with torch.no_grad():
        expected = eager(BATCH, attention_mask=padding_mask).logits
        actual = sdpa(BATCH, attention_mask=padding_mask).logits
    assert (expected - actual).abs().max().item() < 1e-5


def test_return_tuple_and_inputs_embeds():
    model = tiny_model()
    ids = BATCH[1:]
    with torch.no_grad():
        expected = model(ids).logits
        as_tuple = model(ids, return_dict=False, use_cache=False)
        positions = get_position_ids(ids, None, model.config)
        mask = ~get_attention_visibility(ids, None, 0, model.config)
        from_embeds = model(
            inputs_embeds=model.transformer.word_embeddings(ids), position_ids=positions, attention_mask=mask
        )
    assert isinstance(as_tuple, tuple) and torch.equal(as_tuple[0], expected)
    assert torch.allclose(from_embeds.logits, expected, atol=1e-6)
    with pytest.raises(ValueError, match="position_ids"):
        model(inputs_embeds=model.transformer.word_embeddings(ids))


def test_prefix_generation_with_cache_equals_without():
    model = tiny_model(pre_seq_len=2)
    with torch.no_grad():
        model.transformer.prefix_encoder.embedding.weight.normal_()
    ids = BATCH[1:, :7]
    kwargs = dict(max_new_tokens=5, min_new_tokens=5, do_sample=False)
    assert torch.equal(model.generate(ids, **kwargs), model.generate(ids, use_cache=False, **kwargs))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_forward_and_generate(dtype):
    model = tiny_model()
    ids = BATCH[1:]
    with torch.no_grad():
        expected = model(ids).logits
        half = model.to(dtype)
        logits = half(ids).logits
    assert logits.dtype == dtype
    assert (logits.float() - expected).abs().max().item() < 0.05 * expected.abs().max().item()
    assert half.generate(ids[:, :7], max_new_tokens=3, do_sample=False).shape == (1, 10)


def _loss_and_grads(model: ChatGLMForConditionalGeneration, ids: torch.Tensor, labels: torch.Tensor):
    model.zero_grad()
    loss = model(ids, labels=labels).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("use_reentrant", [False, True])
@pytest.mark.parametrize("pre_seq_len", [None, 2])
def test_gradient_checkpointing_matches(use_reentrant, pre_seq_len):
    model = tiny_model(pre_seq_len=pre_seq_len).train()
    if pre_seq_len:
        model.transformer.prefix_dropout.p = 0.0
    ids = BATCH[1:]
    labels = torch.full_like(ids, -100)
    labels[:, 6:] = ids[:, 6:]
    expected_loss, expected_grads = _loss_and_grads(model, ids, labels)
    model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": use_reentrant})
    if use_reentrant:
        model.enable_input_require_grads()
    loss, grads = _loss_and_grads(model, ids, labels)
    assert model.is_activation_checkpointing
    assert torch.equal(loss, expected_loss)
    assert set(grads) == set(expected_grads) and grads
    if pre_seq_len:
        assert set(grads) == {"transformer.prefix_encoder.embedding.weight"}
    for name, grad in grads.items():
        assert torch.allclose(grad, expected_grads[name], atol=1e-6), name


def test_from_pretrained_with_prefix_freezes_the_base(tmp_path):
    tiny_model().save_pretrained(tmp_path)
    model = ChatGLMForConditionalGeneration.from_pretrained(tmp_path, pre_seq_len=4)
    trainable = {name for name, param in model.named_parameters() if param.requires_grad}
    assert trainable == {"transformer.prefix_encoder.embedding.weight"}
    assert model.transformer.prefix_encoder.embedding.weight.shape == (4, 2 * 2 * 64)
