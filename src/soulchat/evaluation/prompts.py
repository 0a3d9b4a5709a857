"""Prompts of non-ChatGLM models: the SoulChat dialogue as chat messages rendered by the tokenizer's chat template.

ChatGLM-6B reads the SoulChat prompt itself (`用户：...\\n心理咨询师：`). Other causal LMs read the dialogue as
`user`/`assistant` messages through `tokenizer.apply_chat_template`, as they are fine-tuned by soulchat's trainer. Both
the messages and the budget rule are `soulchat.data.prompts`'s, the trainer's own, so a model sees at evaluation
exactly the turns it saw in training.
"""

from typing import Any

from soulchat.data.prompts import fit_template_prompt, prompt_messages


def chat_template_ids(tokenizer: Any, prompt: str, *, max_tokens: int, system_prompt: str | None = None) -> list[int]:
    """The ids of a SoulChat prompt rendered through the tokenizer's chat template, with the generation prompt.

    A prompt longer than `max_tokens` ids loses its oldest rounds (a user message and its reply) until it fits; if
    the latest user turn alone is still too long, its text is cut from its start (see `soulchat.data.prompts`).

    Args:
        tokenizer (`PreTrainedTokenizerBase`):
            A tokenizer with a `chat_template`.
        prompt (`str`):
            The SoulChat prompt.
        max_tokens (`int`):
            The most ids returned.
        system_prompt (`str`, *optional*):
            A system message put first (never dropped).

    Returns:
        `list[int]`: the prompt ids, special tokens included as the template writes them.
    """
    return fit_template_prompt(tokenizer, prompt, max_tokens, system_prompt=system_prompt)[1]


__all__ = ["chat_template_ids", "prompt_messages"]
