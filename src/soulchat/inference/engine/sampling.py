"""Decoding settings and the choice of the next token, row by row, for a batch of conversations.

Every row of a batch carries its own settings (one client may ask for greedy decoding while another samples), so
the warping is vectorised over per-row temperature, top-k and top-p in the order `generate()` applies them
(temperature, then top-k, then top-p). The defaults are the SoulChat paper's: top-p 0.75, temperature 0.95, with the
top-k 50 that ChatGLM-6B's `chat()` used alongside them (the transformers default).
"""

from dataclasses import dataclass

import torch

# ChatGLM-6B's `chat()` ran `generate()` with the transformers default top-k next to its top-p.
DEFAULT_TOP_K = 50


@dataclass(frozen=True)
class DecodingSettings:
    """How one reply is decoded.

    Args:
        temperature (`float`, *optional*, defaults to 0.95):
            Softmax temperature when sampling, in (0, 2].
        top_p (`float`, *optional*, defaults to 0.75):
            Nucleus mass when sampling, in (0, 1].
        top_k (`int`, *optional*, defaults to 50):
            Most candidate tokens when sampling (0 = no limit).
        greedy (`bool`, *optional*, defaults to `False`):
            Pick the most likely token instead of sampling (temperature, top-p and top-k are then unused).
        max_new_tokens (`int`, *optional*, defaults to 512):
            Most generated tokens.
        seed (`int`, *optional*):
            Seeds this reply's own random generator, so that a sampled reply can be reproduced.

    Example:

    ```python
    >>> DecodingSettings().top_p, DecodingSettings(greedy=True).greedy
    (0.75, True)
    ```
    """

    temperature: float = 0.95
    top_p: float = 0.75
    top_k: int = DEFAULT_TOP_K
    greedy: bool = False
    max_new_tokens: int = 512
    seed: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 < self.temperature <= 2.0:
            raise ValueError(f"temperature must be in (0, 2], got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0, got {self.top_k}")
        if self.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")


def fix_invalid_scores(scores: torch.Tensor) -> torch.Tensor:
    """Rows of `scores` `(batch, vocab)` with a NaN or infinite score become all 0 with 5e4 at token 5.

    This is ChatGLM-6B's `InvalidScoreLogitsProcessor`, applied per row so that one broken row does not reset the
    others of the batch.
    """
    invalid = ~torch.isfinite(scores).all(dim=-1)
    if not bool(invalid.any()):
        return scores
    replacement = torch.zeros_like(scores[0])
    replacement[5] = 5e4
    return torch.where(invalid[:, None], replacement, scores)


def warp_scores(scores: torch.Tensor, settings: list[DecodingSettings]) -> torch.Tensor:
    """Applies each row's temperature, top-k and top-p to `scores` `(batch, vocab)`; removed tokens get `-inf`.

    Top-p keeps the smallest set of most likely tokens whose mass reaches `top_p` (at least one token), as
    transformers' `TopPLogitsWarper` does.
    """
    device = scores.device
    temperature = torch.tensor([s.temperature for s in settings], device=device, dtype=scores.dtype)
    top_p = torch.tensor([s.top_p for s in settings], device=device, dtype=scores.dtype)
    vocab = scores.shape[-1]
    top_k = torch.tensor([min(s.top_k, vocab) if s.top_k else vocab for s in settings], device=device)
    sorted_scores, order = (scores / temperature[:, None]).sort(dim=-1, descending=True)
    rank = torch.arange(vocab, device=device)[None]
    sorted_scores = sorted_scores.masked_fill(rank >= top_k[:, None], float("-inf"))
    probs = sorted_scores.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # the mass of the strictly more likely tokens
    sorted_scores = sorted_scores.masked_fill((mass_before >= top_p[:, None]) & (rank > 0), float("-inf"))
    return torch.full_like(scores, float("-inf")).scatter(-1, order, sorted_scores)


def choose_tokens(
    scores: torch.Tensor, settings: list[DecodingSettings], generators: list[torch.Generator | None]
) -> torch.LongTensor:
    """The next token of every row: the argmax for greedy rows, a sample of the warped distribution otherwise.

    Args:
        scores (`torch.Tensor` of shape `(batch, vocab)`):
            The last position's logits, in float32.
        settings (`list[DecodingSettings]`):
            One per row.
        generators (`list[torch.Generator | None]`):
            One per row: the row's seeded generator, or `None` for torch's global one.

    Returns:
        `torch.LongTensor` of shape `(batch,)`.
    """
    tokens = scores.argmax(dim=-1)
    sampled = [i for i, s in enumerate(settings) if not s.greedy]
    if sampled:
        probs = warp_scores(scores[sampled], [settings[i] for i in sampled]).softmax(dim=-1)
        for row, i in enumerate(sampled):
            tokens[i] = torch.multinomial(probs[row], num_samples=1, generator=generators[i])[0]
    return tokens


__all__ = ["DEFAULT_TOP_K", "DecodingSettings", "choose_tokens", "fix_invalid_scores", "warp_scores"]
