"""The language-model loss of ChatGLM-6B: the original one, and a memory-saving one fusing the head and the cross
entropy, chunked over tokens.

The plain loss materialises the `[tokens, vocab]` logits, their fp32 copy, the log-softmax kept for backward and the
gradient of each: with ChatGLM's 130528-token vocabulary that is about 0.5 GB per 1k tokens and tensor in fp32, the
largest activations of a training step. [`chunked_lm_head_cross_entropy`] computes, chunk by chunk of at most
`chunk_size` target tokens, the logits, the loss *and* the gradients of the hidden states and of the head weight, and
frees the chunk's logits at once; backward only scales the stored gradients. Tokens whose label is ignored (-100:
padding, the prompt in SFT) are skipped altogether. Nothing is computed twice, so it is no slower than the plain loss.

The arithmetic is that of the plain path (`lm_head(h).float()`, log-softmax in fp32, mean over the kept tokens), under
autocast too; only the order of the sums differs. This file depends only on torch, so it can be copied next to a
checkpoint with the modeling file and loaded as remote code.
"""

import torch
from torch.nn import functional as F

IGNORE_INDEX = -100


def _shifted_targets(labels: torch.LongTensor, device: torch.device) -> torch.LongTensor:
    """`[batch * seq]` targets: each position predicts the next label; the last position predicts nothing (-100)."""
    # Shifting the labels (not the logits) avoids copying the `[batch, seq, vocab]` logits.
    return F.pad(labels[:, 1:].to(device), (0, 1), value=IGNORE_INDEX).reshape(-1)


def lm_cross_entropy(
    logits: torch.Tensor, labels: torch.LongTensor, *, num_items_in_batch: int | torch.Tensor | None = None
) -> torch.Tensor:
    """The original ChatGLM-6B loss on materialised `logits` `[batch, seq, vocab]`: fp32 cross entropy against the
    shifted `labels` `[batch, seq]`, -100 ignored; the mean over the kept targets, or their sum divided by
    `num_items_in_batch` when given."""
    targets = _shifted_targets(labels, logits.device)
    flat_logits = logits.float().view(-1, logits.shape[-1])
    if num_items_in_batch is None:
        return F.cross_entropy(flat_logits, targets)
    return F.cross_entropy(flat_logits, targets, reduction="sum") / num_items_in_batch


def _compute_dtype(weight: torch.Tensor) -> torch.dtype:
    """The dtype `F.linear` gives the logits here: autocast's when enabled on the weight's device, else the weight's."""
    device_type = weight.device.type
    if torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return weight.dtype


class _FusedLMHeadCrossEntropy(torch.autograd.Function):
    """`sum(cross_entropy(hidden @ weight.T, targets)) / divisor` whose gradients are computed in the forward pass."""

    @staticmethod
    def forward(
        ctx,
        hidden: torch.Tensor,
        weight: torch.Tensor,
        targets: torch.LongTensor,
        divisor: torch.Tensor,
        chunk_size: int,
        grad_enabled: bool,
    ) -> torch.Tensor:
        """`hidden` `[tokens, hidden]` (kept tokens only), `weight` `[vocab, hidden]`, `targets` `[tokens]` (all kept).
        `grad_enabled` is the caller's grad mode (`needs_input_grad` ignores `torch.no_grad`)."""
        dtype = _compute_dtype(weight)
        need_hidden, need_weight = grad_enabled and ctx.needs_input_grad[0], grad_enabled and ctx.needs_input_grad[1]
        # Autocast is applied by hand (same casts as the plain path) so that in-place accumulation stays possible.
        with torch.autocast(weight.device.type, enabled=False):
            weight_c = weight.to(dtype)
            grad_hidden = torch.empty_like(hidden) if need_hidden else None
            grad_weight = torch.zeros_like(weight) if need_weight else None
            loss = torch.zeros((), dtype=torch.float32, device=hidden.device)
            for start in range(0, hidden.shape[0], chunk_size):
                hidden_c = hidden[start : start + chunk_size].to(dtype)
                target_c = targets[start : start + chunk_size, None]
                logits = F.linear(hidden_c, weight_c).float()  # [chunk, vocab]
                logsumexp = torch.logsumexp(logits, dim=-1, keepdim=True)
                loss += (logsumexp - logits.gather(1, target_c)).sum()
                if not (need_hidden or need_weight):
                    continue
                # d(loss)/d(logits) = (softmax - one_hot) / divisor, built in place of the logits.
                grad_logits = logits.sub_(logsumexp).exp_()
                grad_logits.scatter_add_(1, target_c, grad_logits.new_full(target_c.shape, -1.0))
                grad_logits = grad_logits.div_(divisor).to(dtype)
                if need_hidden:
                    grad_hidden[start : start + chunk_size] = grad_logits @ weight_c
                if need_weight and grad_weight.dtype == dtype:
                    grad_weight.addmm_(grad_logits.T, hidden_c)
                elif need_weight:  # autocast: low-precision product, accumulated in the weight's dtype
                    grad_weight += grad_logits.T @ hidden_c
        ctx.grads = (grad_hidden, grad_weight)
        return loss / divisor

    @staticmethod
    def backward(ctx, grad_loss: torch.Tensor):
        if ctx.grads is None:
            raise RuntimeError("the chunked ChatGLM loss supports a single backward pass (no `retain_graph`)")
        grad_hidden, grad_weight = ctx.grads
        ctx.grads = None
        if bool(grad_loss != 1):  # e.g. the loss divided by the gradient accumulation steps
            grad_hidden = grad_hidden * grad_loss if grad_hidden is not None else None
            grad_weight = grad_weight.mul_(grad_loss) if grad_weight is not None else None
        return grad_hidden, grad_weight, None, None, None, None


def chunked_lm_head_cross_entropy(
    hidden_states: torch.Tensor,
    weight: torch.Tensor,
    labels: torch.LongTensor,
    *,
    chunk_size: int = 256,
    num_items_in_batch: int | torch.Tensor | None = None,
) -> torch.Tensor:
    r"""
    The causal LM loss of `hidden_states @ weight.T` against `labels` without materialising the logits.

    Equals `F.cross_entropy(F.linear(hidden_states, weight).float().flatten(0, 1), shifted_labels)` (labels shifted
    left by one, -100 ignored, mean over the kept tokens), and so do its gradients, with at most `chunk_size` rows of
    logits alive at a time.

    Args:
        hidden_states (`torch.Tensor` of shape `(batch_size, seq_len, hidden_size)`):
            Final hidden states (after the last LayerNorm).
        weight (`torch.Tensor` of shape `(vocab_size, hidden_size)`):
            The weight of the bias-free language-model head (tied to the word embeddings in ChatGLM).
        labels (`torch.LongTensor` of shape `(batch_size, seq_len)`):
            Targets aligned with the inputs (shifted inside); -100 is ignored.
        chunk_size (`int`, *optional*, defaults to 256):
            Number of target tokens whose logits are computed at once (memory: `chunk_size * vocab_size` fp32 values).
        num_items_in_batch (`int` or `torch.Tensor`, *optional*):
            Divide the summed loss by this count (the kept tokens of a whole gradient-accumulation step, as the
            transformers `Trainer` passes it) instead of by this batch's kept tokens.

    Returns:
        `torch.Tensor`: the scalar fp32 loss; its backward pass can run once.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be positive, got {chunk_size}")
    targets = _shifted_targets(labels, hidden_states.device)
    kept = (targets != IGNORE_INDEX).nonzero()[:, 0]
    divisor = num_items_in_batch if num_items_in_batch is not None else kept.numel()
    divisor = torch.as_tensor(divisor, dtype=torch.float32, device=hidden_states.device)
    hidden = hidden_states.reshape(-1, hidden_states.shape[-1]).index_select(0, kept)
    grad_enabled = torch.is_grad_enabled()
    return _FusedLMHeadCrossEntropy.apply(hidden, weight, targets[kept], divisor, chunk_size, grad_enabled)


__all__ = ["chunked_lm_head_cross_entropy", "lm_cross_entropy"]
