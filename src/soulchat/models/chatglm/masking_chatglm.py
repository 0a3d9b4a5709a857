"""Position ids and attention masks of ChatGLM-6B (GLM): a bidirectional context, then a causal generated block.

Pure functions shared by the model, its generation methods and the tests. `config` is a [`ChatGLMConfig`] (for its
`bos_token_id`, `mask_token_id` and `gmask_token_id`). This file depends only on torch and the configuration, so it
can be copied next to a checkpoint with the modeling file and loaded as remote code.
"""

import torch

from .configuration_chatglm import ChatGLMConfig


def _first_index(condition: torch.Tensor) -> tuple[torch.LongTensor, torch.BoolTensor]:
    """Index of the first True of each row of `condition` `[batch, seq]` (0 where none) and whether there is one."""
    found = condition.any(-1)
    return condition.int().argmax(-1), found


def _context_length(
    input_ids: torch.LongTensor, keep: torch.BoolTensor, real_index: torch.LongTensor, config: ChatGLMConfig
) -> torch.LongTensor:
    """Number of real tokens before the first `<sop>` of each row (all of them when there is none)."""
    bos_index, has_bos = _first_index((input_ids == config.bos_token_id) & keep)
    return torch.where(has_bos, real_index.gather(1, bos_index[:, None])[:, 0], keep.sum(-1))


def get_position_ids(
    input_ids: torch.LongTensor, padding_mask: torch.Tensor | None, config: ChatGLMConfig
) -> torch.LongTensor:
    """Builds the 2D position ids `[batch, 2, seq]` of prompts, skipping padding.

    Row 0 counts tokens up to the first `<sop>` (the context) and then stays at the mask token's position (`[gMASK]`
    if the row has one, else `[MASK]`); row 1 is 0 over the context and counts 1, 2, ... from `<sop>` on. Pads
    (`padding_mask == 0`) get 0 and the others are counted from the first real token, as the tokenizer does.
    """
    keep = torch.ones_like(input_ids, dtype=torch.bool) if padding_mask is None else padding_mask.bool()
    real_index = keep.long().cumsum(-1) - 1
    context_length = _context_length(input_ids, keep, real_index, config)
    gmask_index, has_gmask = _first_index((input_ids == config.gmask_token_id) & keep)
    mask_index, has_mask = _first_index((input_ids == config.mask_token_id) & keep)
    if not bool((has_gmask | has_mask).all()):
        raise ValueError("every row of `input_ids` must contain [gMASK] or [MASK] to build its position ids")
    mask_position = real_index.gather(1, torch.where(has_gmask, gmask_index, mask_index)[:, None])
    in_context = real_index < context_length[:, None]
    positions = torch.where(in_context, real_index, mask_position)
    block_positions = torch.where(in_context, 0, real_index - context_length[:, None] + 1)
    return torch.stack((positions, block_positions), dim=1).masked_fill(~keep[:, None, :], 0)


def get_attention_visibility(
    input_ids: torch.LongTensor, padding_mask: torch.Tensor | None, past_length: int, config: ChatGLMConfig
) -> torch.BoolTensor:
    """Builds the boolean visibility `[batch, 1, seq, past + seq]` (True = may attend) of the new tokens.

    Without a past, the context (everything before the first `<sop>`) is visible to every token and the rest is
    causal. With a past, the context is assumed to be in it: new tokens see the past and are causal among themselves.
    Pad positions of `padding_mask` (`[batch, past + seq]`, 0 = pad) are hidden, and pad queries see nothing.
    """
    batch_size, seq_length = input_ids.shape
    device = input_ids.device
    total = past_length + seq_length
    keep = (
        torch.ones(batch_size, total, dtype=torch.bool, device=device) if padding_mask is None else padding_mask.bool()
    )
    causal = torch.ones(seq_length, total, dtype=torch.bool, device=device).tril(diagonal=past_length)
    visible = causal[None].expand(batch_size, -1, -1)
    if past_length == 0:
        real_index = keep.long().cumsum(-1) - 1
        context_length = _context_length(input_ids, keep, real_index, config)
        visible = visible | (real_index < context_length[:, None])[:, None, :]
    visible = visible & keep[:, None, :] & keep[:, past_length:, None]
    return visible[:, None]


def padding_mask_from_glm_mask(attention_mask: torch.Tensor) -> torch.LongTensor:
    """Recovers the `[batch, seq]` padding mask (1 = token) encoded in an original `[batch, 1, seq, seq]` mask (True = masked)."""
    return (~attention_mask[:, 0].bool().all(-1)).long()


def advance_position_ids(position_ids: torch.LongTensor, num_new_tokens: int) -> torch.LongTensor:
    """Appends `num_new_tokens` columns to `[batch, 2, seq]` positions: same mask position, block position + 1, + 2, ..."""
    last = position_ids[..., -1:]
    steps = torch.arange(1, num_new_tokens + 1, device=position_ids.device)
    new = torch.stack((last[:, 0].expand(-1, num_new_tokens), last[:, 1] + steps), dim=1)
    return torch.cat((position_ids, new), dim=-1)


__all__ = ["advance_position_ids", "get_attention_visibility", "get_position_ids", "padding_mask_from_glm_mask"]
