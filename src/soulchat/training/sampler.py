"""A length-grouped sampler with larger mega-batches than Hugging Face's default, so batches carry little padding."""

import torch
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices


class SoulChatLengthGroupedSampler(LengthGroupedSampler):
    """Shuffles, cuts the indices into mega-batches of `megabatch_batches` batches, and sorts each by length.

    [`~transformers.trainer_pt_utils.LengthGroupedSampler`] uses at most 50 batches per mega-batch; on SoulChat-like
    lengths (20,000 samples, batch 8, padded to a multiple of 8) that leaves 5.4% padding, 100 batches 2.9% and 200
    batches 2.1% (see `benchmarks/bench_training_data.py`), while batches stay random across mega-batches.

    Args:
        batch_size (`int`):
            Samples per (per-process, accumulated) batch.
        lengths (`list[int]`):
            The length of every sample.
        megabatch_batches (`int`, *optional*, defaults to 100):
            Batches per mega-batch (capped so that there are at least 4 mega-batches).
        generator (`torch.Generator`, *optional*):
            Source of randomness; the global torch generator by default (which the trainer seeds and checkpoints).

    Example:

    ```python
    >>> sampler = SoulChatLengthGroupedSampler(2, lengths=[5, 1, 4, 2, 3, 6, 7, 8], megabatch_batches=2)
    >>> sorted(sampler) == list(range(8))
    True
    ```
    """

    def __init__(
        self,
        batch_size: int,
        lengths: list[int],
        *,
        megabatch_batches: int = 100,
        generator: torch.Generator | None = None,
    ):
        super().__init__(batch_size, lengths=lengths, generator=generator)
        self.megabatch_batches = max(1, min(megabatch_batches, len(lengths) // (batch_size * 4)))

    def __iter__(self):
        return iter(
            get_length_grouped_indices(
                self.lengths, self.batch_size, mega_batch_mult=self.megabatch_batches, generator=self.generator
            )
        )


__all__ = ["SoulChatLengthGroupedSampler"]
