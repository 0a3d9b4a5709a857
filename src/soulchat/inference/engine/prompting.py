"""The model input of the next counsellor reply: the SoulChat prompt of `soulchat.data.prompts`, within budget.

The same rule as training (`soulchat.training.tokenization`), so a model is asked in the layout it learned:

- **ChatGLM-6B**: `prompt ids + [gMASK] + <sop>`; the prompt gets at most `max_source_length - 1` ids (the source is
  the prompt and `[gMASK]`; `<sop>` opens the reply).
- **Chat template**: the prompt's rounds as messages (after the system prompt, if any) with the generation prompt,
  at most `max_source_length` ids.

An over-long prompt loses whole oldest rounds, then the start of the current message ([`fit_prompt`]); the current
message's end and the cue are always kept.
"""

from dataclasses import dataclass
from typing import Any

from soulchat.data.prompts import fit_prompt, fit_template_prompt, render_prompt, split_rounds


@dataclass(frozen=True)
class EncodedPrompt:
    """A prompt ready for the model.

    Args:
        text (`str`): The SoulChat prompt text kept (oldest rounds dropped, the current message cut if it had to be).
        input_ids (`list[int]`): The model input, special tokens included.
        rounds_dropped (`int`): How many of the oldest rounds did not fit.
    """

    text: str
    input_ids: list[int]
    rounds_dropped: int


class PromptEncoder:
    """Renders a conversation into model ids within the source budget.

    Args:
        tokenizer (`PreTrainedTokenizerBase`):
            A [`ChatGLMTokenizer`] (with `is_chatglm`) or a tokenizer with a chat template.
        is_chatglm (`bool`):
            Whether the model is ChatGLM-6B (prompt ids + `[gMASK]` + `<sop>`) rather than a chat-template LM.
        max_source_length (`int`, *optional*, defaults to 1536):
            S: the source budget (ChatGLM: prompt + `[gMASK]`; chat template: the rendered prompt).
        system_prompt (`str`, *optional*):
            A system message for chat-template models (ChatGLM-6B has none and ignores it).
    """

    def __init__(
        self, tokenizer: Any, *, is_chatglm: bool, max_source_length: int = 1536, system_prompt: str | None = None
    ):
        if max_source_length < 2:
            raise ValueError(f"max_source_length must be at least 2, got {max_source_length}")
        self.tokenizer = tokenizer
        self.is_chatglm = is_chatglm
        self.max_source_length = max_source_length
        self.system_prompt = system_prompt
        try:  # the budget must hold at least the cue and a little of a message
            self.encode([], "你好")
        except ValueError as error:
            raise ValueError(f"max_source_length {max_source_length} is too small: {error}") from None

    def _ids(self, texts: list[str]) -> list[list[int]]:
        return self.tokenizer(texts, add_special_tokens=False)["input_ids"]

    def encode(
        self, history: list[tuple[str, str]], message: str, *, system_prompt: str | None = None
    ) -> EncodedPrompt:
        """The input of the reply to `message` after `history` (earlier `(user, counsellor)` rounds, oldest first);
        `system_prompt` replaces the encoder's for this prompt (chat-template models only)."""
        prompt = render_prompt(history, message)
        if not self.is_chatglm:
            system = system_prompt or self.system_prompt
            messages, ids = fit_template_prompt(self.tokenizer, prompt, self.max_source_length, system_prompt=system)
            kept_rounds = sum(m["role"] == "user" for m in messages)
            return EncodedPrompt(prompt, ids, len(history) + 1 - kept_rounds)
        budget = self.max_source_length - 1
        ids = self._ids([prompt])[0]
        text = prompt
        if len(ids) > budget:
            rounds = split_rounds(prompt)
            costs = [len(r) for r in self._ids(rounds)]
            text, ids = fit_prompt(rounds, lambda t: self._ids([t])[0], budget, round_costs=costs)
        dropped = len(split_rounds(prompt)) - len(split_rounds(text))
        head = [self.tokenizer.gmask_token_id, self.tokenizer.bos_token_id]
        return EncodedPrompt(text, list(ids) + head, dropped)


__all__ = ["EncodedPrompt", "PromptEncoder"]
