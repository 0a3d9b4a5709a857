"""Replies decoded together, a token per step, with the model's KV cache; rows leave and join between steps.

The prompts are left-padded so that every row continues from the last column. ChatGLM-6B gets its 2D position ids
(`get_position_ids` over the padding) and the padding mask, from which the model rebuilds its GLM mask (bidirectional
context, causal reply); other causal LMs get positions counted over the real tokens. After every step each row's
token is handed to its owner ([`DecodingRow.accept`]); a row that is finished or cancelled leaves the batch at once
(its cache rows are dropped), so the remaining rows stop paying for it.

Requests that arrive while a batch runs need not wait for it to end: between two steps, `admit` may hand over new
rows; they are prefilled together, then their cache is merged into the running one (the shorter side is padded on
the left and the padding hidden by the mask), and they continue in the same forward passes as the others. The loop
ends when no row is left and none is waiting.
"""

import logging
from collections.abc import Callable
from typing import Any, Protocol

import torch
from torch.nn import functional as F
from transformers.cache_utils import DynamicCache, DynamicLayer

from soulchat.inference.engine.sampling import DecodingSettings, choose_tokens, fix_invalid_scores
from soulchat.models.chatglm.masking_chatglm import advance_position_ids, get_position_ids

logger = logging.getLogger(__name__)


class DecodingRow(Protocol):
    """What the decoding loop needs from one request."""

    input_ids: list[int]
    settings: DecodingSettings
    generator: torch.Generator | None

    @property
    def cancelled(self) -> bool:
        """Whether the request was cancelled (its client went away)."""

    def accept(self, token_id: int) -> bool:
        """Takes the next generated token; returns whether the row wants more."""


def _left_pad(rows: list[DecodingRow], pad_token_id: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """`input_ids` and the padding mask (1 = token), both `(batch, longest)`, padded on the left."""
    length = max(len(row.input_ids) for row in rows)
    ids = torch.full((len(rows), length), pad_token_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, length - len(row.input_ids) :] = torch.tensor(row.input_ids)
        mask[i, length - len(row.input_ids) :] = 1
    return ids.to(device), mask.to(device)


def _first_positions(model: Any, input_ids: torch.Tensor, mask: torch.Tensor, is_chatglm: bool) -> torch.Tensor:
    """Position ids of the padded prompts: ChatGLM `(batch, 2, seq)`, others `(batch, seq)`."""
    if is_chatglm:
        return get_position_ids(input_ids, mask, model.config)
    return (mask.cumsum(-1) - 1).clamp(min=0)


def _next_positions(positions: torch.Tensor, is_chatglm: bool) -> torch.Tensor:
    """The positions of the next token from those of the last one (ChatGLM: same mask position, block + 1)."""
    if is_chatglm:
        return advance_position_ids(positions[..., -1:], 1)[..., -1:]
    return positions[:, -1:] + 1


class _RunningBatch:
    """The decoding state of the rows in flight: their cache, padding mask, last positions and next-token logits."""

    def __init__(self, model: Any, rows: list[DecodingRow], *, is_chatglm: bool, pad_token_id: int):
        self.model = model
        self.is_chatglm = is_chatglm
        self.rows = rows
        input_ids, self.mask = _left_pad(rows, pad_token_id, model.device)
        positions = _first_positions(model, input_ids, self.mask, is_chatglm)
        self.cache = DynamicCache(config=model.config)
        self.logits = self._forward(input_ids, positions)
        self.positions = positions[..., -1:]

    def _forward(self, input_ids: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        output = self.model(
            input_ids=input_ids, position_ids=positions, attention_mask=self.mask, cache=self.cache, use_cache=True,
            logits_to_keep=1,
        )  # fmt: skip
        return output.logits[:, -1].float()

    def keep(self, indices: list[int]) -> None:
        """Keeps only the rows at `indices` (a finished or cancelled row leaves)."""
        if len(indices) == len(self.rows):
            return
        index = torch.tensor(indices, device=self.mask.device)
        self.cache.batch_select_indices(index)
        self.mask, self.positions, self.logits = self.mask[index], self.positions[index], self.logits[index]
        self.rows = [self.rows[i] for i in indices]

    def step(self, tokens: torch.Tensor) -> None:
        """Feeds every row its next token `(batch,)` and computes the logits after it."""
        self.mask = torch.cat((self.mask, self.mask.new_ones(self.mask.shape[0], 1)), dim=-1)
        self.positions = _next_positions(self.positions, self.is_chatglm)
        self.logits = self._forward(tokens[:, None], self.positions)

    @property
    def can_merge(self) -> bool:
        # Plain full-attention layers only: a sliding-window or other cache layer is not padded safely.
        return all(type(layer) is DynamicLayer for layer in self.cache.layers)

    def merge(self, other: "_RunningBatch") -> None:
        """Appends the rows of `other` (freshly prefilled), padding the shorter cache on the left."""
        length = max(self.mask.shape[1], other.mask.shape[1])
        for mine, theirs in zip(self.cache.layers, other.cache.layers, strict=True):
            for name in ("keys", "values"):
                a, b = getattr(mine, name), getattr(theirs, name)  # (batch, heads, seq, head_dim)
                a = F.pad(a, (0, 0, length - a.shape[-2], 0))
                b = F.pad(b, (0, 0, length - b.shape[-2], 0))
                setattr(mine, name, torch.cat((a, b)))
        masks = [F.pad(m, (length - m.shape[1], 0)) for m in (self.mask, other.mask)]
        self.mask = torch.cat(masks)
        self.positions = torch.cat((self.positions, other.positions))
        self.logits = torch.cat((self.logits, other.logits))
        self.rows = self.rows + other.rows


@torch.inference_mode()
def decode_batch(
    model: Any,
    rows: list[DecodingRow],
    *,
    is_chatglm: bool,
    pad_token_id: int,
    admit: Callable[[int], list[DecodingRow]] | None = None,
    max_rows: int | None = None,
    on_step: Callable[[int], None] | None = None,
) -> int:
    """Decodes `rows` (and the rows `admit` hands over on the way) until every row is finished or cancelled.

    Args:
        model (`PreTrainedModel`):
            ChatGLM-6B or a causal LM taking `cache` and `logits_to_keep`.
        rows (`list[DecodingRow]`):
            The requests to start with; each row's `accept` gets its tokens one at a time.
        is_chatglm (`bool`):
            Whether to build ChatGLM's 2D positions.
        pad_token_id (`int`):
            The id put left of shorter prompts (hidden by the mask).
        admit (`Callable[[int], list[DecodingRow]]`, *optional*):
            Called between steps with the free room (`max_rows` minus the rows in flight); returns rows that join.
        max_rows (`int`, *optional*):
            Most rows in flight (defaults to `len(rows)`).
        on_step (`Callable[[int], None]`, *optional*):
            Called after every forward pass with the number of rows it computed.

    Returns:
        `int`: the number of forward passes.
    """
    max_rows = max_rows or len(rows)
    batch: _RunningBatch | None = None
    pending = [row for row in rows if not row.cancelled]
    steps = 0
    while True:
        if pending:
            fresh = _RunningBatch(model, pending, is_chatglm=is_chatglm, pad_token_id=pad_token_id)
            steps += 1
            if on_step is not None:
                on_step(len(pending))
            if batch is None:
                batch = fresh
            else:
                batch.merge(fresh)
        if batch is None:
            return steps
        scores = fix_invalid_scores(batch.logits) if is_chatglm else batch.logits
        tokens = choose_tokens(scores, [r.settings for r in batch.rows], [r.generator for r in batch.rows])
        accepted = [row.accept(token) for row, token in zip(batch.rows, tokens.tolist(), strict=True)]
        keep = [i for i, more in enumerate(accepted) if more and not batch.rows[i].cancelled]
        if keep:
            batch.keep(keep)
            batch.step(tokens[keep])
            steps += 1
            if on_step is not None:
                on_step(len(keep))
        else:
            batch = None
        room = max_rows - (len(batch.rows) if batch else 0)
        can_join = admit is not None and room > 0 and (batch is None or batch.can_merge)
        pending = [row for row in admit(room) if not row.cancelled] if can_join else []


__all__ = ["DecodingRow", "decode_batch"]
