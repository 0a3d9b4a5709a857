"""Dynamic padding of tokenised SoulChat samples: right padding for training, left padding for generation."""

from dataclasses import dataclass
from typing import Any

import torch

from soulchat.training.tokenization import IGNORE_INDEX


def _round_up(length: int, multiple: int | None) -> int:
    return length if not multiple else -(-length // multiple) * multiple


def _pad_right(rows: list[list[int]], length: int, value: int) -> torch.Tensor:
    return torch.tensor([row + [value] * (length - len(row)) for row in rows], dtype=torch.long)


@dataclass
class DataCollatorForSoulChat:
    """Pads a list of examples (`input_ids`, `labels`, `prompt_length`) to the longest of the batch.

    Training inputs are right-padded: `input_ids` with the pad id, `labels` with -100 and a padding `attention_mask`
    `[batch, seq]` (1 = token); the model builds its own positions and (for ChatGLM) the bidirectional-context mask
    from it. With `generation=True` the batch also carries the prompts (`input_ids[:prompt_length]`), left-padded
    by the tokenizer (for ChatGLM: the 4D GLM prefix mask and the 2D position ids, as the original evaluation did)
    under `generation_*` keys, and the reference ids (what follows the prompt) as `reference_ids`, -100 padded.

    Args:
        tokenizer (`PreTrainedTokenizerBase`):
            Provides `pad_token_id` and, for `generation=True`, `pad(..., padding_side="left")`.
        pad_to_multiple_of (`int`, *optional*):
            Round every padded length up to a multiple of this (8 suits tensor cores).
        label_pad_token_id (`int`, *optional*, defaults to -100):
            Label id of padding (ignored by the loss).
        generation (`bool`, *optional*, defaults to `False`):
            Also build the left-padded generation inputs and the references.

    Example:

    ```python
    >>> collator = DataCollatorForSoulChat(tokenizer, pad_to_multiple_of=8)
    >>> batch = collator([{"input_ids": [5, 6, 7], "labels": [-100, 6, 7], "prompt_length": 2}])
    >>> batch["input_ids"].shape, batch["attention_mask"][0].tolist()
    (torch.Size([1, 8]), [1, 1, 1, 0, 0, 0, 0, 0])
    ```
    """

    tokenizer: Any
    pad_to_multiple_of: int | None = None
    label_pad_token_id: int = IGNORE_INDEX
    generation: bool = False

    def __call__(self, features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        ids = [list(f["input_ids"]) for f in features]
        labels = [list(f["labels"]) for f in features]
        length = _round_up(max(len(row) for row in ids), self.pad_to_multiple_of)
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        batch = {
            "input_ids": _pad_right(ids, length, pad_id),
            "attention_mask": _pad_right([[1] * len(row) for row in ids], length, 0),
            "labels": _pad_right(labels, length, self.label_pad_token_id),
        }
        if self.generation:
            prompts = [row[: f["prompt_length"]] for row, f in zip(ids, features, strict=True)]
            padded = self.tokenizer.pad(
                {"input_ids": prompts},
                padding="longest",
                pad_to_multiple_of=self.pad_to_multiple_of,
                padding_side="left",
                return_tensors="pt",
            )
            batch.update({f"generation_{key}": value for key, value in padded.items()})
            references = [row[f["prompt_length"] :] for row, f in zip(ids, features, strict=True)]
            batch["reference_ids"] = _pad_right(references, max(map(len, references)), self.label_pad_token_id)
        return batch


__all__ = ["DataCollatorForSoulChat"]
