"""The memory-saving fused head + cross entropy (`skip_logits=True`) against the plain loss and the reference."""

import contextlib

import pytest
import torch
from chatglm_helpers import load_reference_model, tiny_model
from safetensors.torch import load_file
from torch.nn import functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from soulchat.models.chatglm.loss_chatglm import chunked_lm_head_cross_entropy

# ids of tiny_config: [gMASK] 251, <sop> 254, pad 3; the second row is left-padded, both have ignored targets
IDS = torch.tensor([[12, 13, 14, 15, 16, 251, 254, 21, 22, 23], [3, 3, 10, 11, 251, 254, 20, 30, 31, 32]])
LABELS = torch.tensor(
    [[-100] * 6 + [254, 21, 22, 23], [-100] * 5 + [254, 20, 30, 31, 32]],
)


def _plain_loss(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    targets = F.pad(labels[:, 1:], (0, 1), value=-100).reshape(-1)
    return F.cross_entropy(F.linear(hidden, weight).float().flatten(0, 1), targets)


@pytest.mark.parametrize("chunk_size", [1, 3, 64])
def test_matches_plain_cross_entropy_and_its_gradients(chunk_size):
    generator = torch.Generator().manual_seed(0)
    hidden = torch.randn(2, 10, 16, generator=generator, requires_grad=True)
    weight = torch.randn(50, 16, generator=generator, requires_grad=True)
    labels = torch.randint(0, 50, (2, 10), generator=generator)
    labels[0, :4] = -100
    labels[1, 7] = -100
    expected = _plain_loss(hidden, weight, labels)
    expected_grads = torch.autograd.grad(expected * 0.25, (hidden, weight))
    loss = chunked_lm_head_cross_entropy(hidden, weight, labels, chunk_size=chunk_size)
    grads = torch.autograd.grad(loss * 0.25, (hidden, weight))  # an outer scale, as gradient accumulation does
    assert loss.dtype == torch.float32 and loss.item() == pytest.approx(expected.item(), rel=1e-6)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        assert torch.allclose(grad, expected_grad, rtol=0, atol=1e-6)
    assert not grads[0][0, :3].any() and not grads[0][:, -1].any()  # ignored targets and the last position


def test_num_items_in_batch_divides_the_sum():
    hidden = torch.randn(1, 6, 8, requires_grad=True)
    weight = torch.randn(20, 8)
    labels = torch.tensor([[-100, 1, 2, 3, -100, 5]])  # 4 kept targets after the shift
    loss = chunked_lm_head_cross_entropy(hidden, weight, labels, chunk_size=2, num_items_in_batch=12)
    assert loss.item() == pytest.approx(_plain_loss(hidden, weight, labels).item() * 4 / 12, rel=1e-6)
    (grad,) = torch.autograd.grad(loss, hidden)
    (expected,) = torch.autograd.grad(_plain_loss(hidden, weight, labels) * 4 / 12, hidden)
    assert torch.allclose(grad, expected, atol=1e-7)


class _CountMatmuls(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += func in (torch.ops.aten.mm.default, torch.ops.aten.addmm_.default)
        return func(*args, **(kwargs or {}))


def test_gradients_are_computed_only_when_needed():
    hidden = torch.randn(1, 9, 8, requires_grad=True)
    weight = torch.randn(20, 8, requires_grad=True)
    labels = torch.arange(9)[None]  # 8 kept targets: 2 chunks of 4
    counts = []
    for context in (contextlib.nullcontext(), torch.no_grad()):
        with context, _CountMatmuls() as mode:
            loss = chunked_lm_head_cross_entropy(hidden, weight, labels, chunk_size=4)
        counts.append(mode.count)
    assert counts == [2 * 3, 2 * 1]  # logits, hidden and weight gradients per chunk; under no_grad the logits only
    assert not loss.requires_grad


def test_frozen_weight_gets_no_gradient_and_backward_runs_once():
    hidden = torch.randn(1, 5, 8, requires_grad=True)
    weight = torch.randn(20, 8)  # frozen, as under P-tuning
    loss = chunked_lm_head_cross_entropy(hidden, weight, torch.tensor([[0, 1, 2, 3, 4]]))
    loss.backward(retain_graph=True)
    assert weight.grad is None and hidden.grad is not None
    with pytest.raises(RuntimeError, match="single backward"):
        loss.backward()
    with pytest.raises(ValueError, match="chunk_size"):
        chunked_lm_head_cross_entropy(hidden, weight, torch.tensor([[0, 1, 2, 3, 4]]), chunk_size=0)


def _loss_and_grads(model, **kwargs) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    outputs = model(IDS, attention_mask=(IDS != 3).long(), labels=LABELS, **kwargs)
    outputs.loss.backward()
    assert (outputs.logits is None) == bool(kwargs.get("skip_logits"))
    return outputs.loss.detach(), {n: p.grad for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
@pytest.mark.parametrize("num_items_in_batch", [None, 11])
def test_skip_logits_gives_the_same_loss_and_gradients(attn_implementation, num_items_in_batch):
    model = tiny_model(attn_implementation).train()
    expected_loss, expected = _loss_and_grads(model, num_items_in_batch=num_items_in_batch)
    loss, grads = _loss_and_grads(model, skip_logits=True, num_items_in_batch=num_items_in_batch)
    assert loss.item() == pytest.approx(expected_loss.item(), rel=1e-6)
    assert set(grads) == set(expected) and "transformer.word_embeddings.weight" in grads
    for name, grad in grads.items():
        assert torch.allclose(grad, expected[name], rtol=0, atol=1e-6 * expected[name].abs().max().item()), name
    if num_items_in_batch:  # 9 kept targets, summed and divided by 11
        mean_loss, _ = _loss_and_grads(model)
        assert expected_loss.item() == pytest.approx(mean_loss.item() * 9 / 11, rel=1e-6)


def test_skip_logits_under_autocast_and_gradient_checkpointing():
    model = tiny_model().train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        expected_loss, expected = _loss_and_grads(model)
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
        loss, grads = _loss_and_grads(model, skip_logits=True)
    assert loss.item() == pytest.approx(expected_loss.item(), rel=1e-5)
    for name, grad in grads.items():
        assert grad.dtype == torch.float32  # the weights' dtype, as with the plain loss
        assert torch.allclose(grad, expected[name], rtol=0, atol=1e-2 * expected[name].abs().max().item()), name


def test_skip_logits_with_a_quantised_head_and_without_labels():
    model = tiny_model().quantize(8, quantize_embeddings=True)
    with torch.no_grad():
        expected = model(IDS, labels=LABELS).loss
        assert model(IDS, labels=LABELS, skip_logits=True).loss.item() == pytest.approx(expected.item(), rel=1e-6)
    with pytest.raises(ValueError, match="labels"):
        model(IDS, skip_logits=True)


@pytest.mark.parametrize("attn_implementation", ["eager", "sdpa"])
def test_skip_logits_against_the_reference_gradients(reference_dir, small_cases, attn_implementation):
    model = load_reference_model(reference_dir / "small", attn_implementation=attn_implementation)
    outputs = model(small_cases["train_labels.input_ids"], labels=small_cases["train_labels.labels"], skip_logits=True)
    assert outputs.logits is None
    assert outputs.loss.item() == pytest.approx(small_cases["train_labels.loss"].item(), rel=1e-6)
    outputs.loss.backward()
    expected = load_file(reference_dir / "small" / "grads.safetensors")
    parameters = dict(model.named_parameters())
    for name, grad in expected.items():
        actual = parameters[name].grad
        assert (actual - grad).abs().max().item() <= 1e-4 * grad.abs().max().item() + 1e-8, name
