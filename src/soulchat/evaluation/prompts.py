"""Prompts of non-ChatGLM models: the SoulChat dialogue as chat messages rendered by the tokenizer's chat template.

ChatGLM-6B reads the SoulChat prompt itself (`用户：...\\n心理咨询师：`). Other causal LMs read the dialogue as
`user`/`assistant` messages through `tokenizer.apply_chat_template`, as they are fine-tuned by soulchat's trainer.
The messages are recovered from the prompt with the trainer's rule (a round starts at every `\\n用户：`), so a model
sees at evaluation exactly the turns it saw in training.
"""

from typing import Any

from soulchat.data.schema import ASSISTANT_LABEL, USER_LABEL


def prompt_messages(prompt: str) -> list[dict[str, str]]:
    """The chat messages of a SoulChat prompt: `user`/`assistant` pairs, then the latest `user` turn.

    Args:
        prompt (`str`):
            A prompt as `render_prompt` writes it, ending with `心理咨询师：`.

    Returns:
        `list[dict[str, str]]`: `{"role", "content"}` messages, oldest first, ending with a `user` message.

    Example:

    ```python
    >>> prompt_messages("用户：你好\\n心理咨询师：你好。\\n用户：我睡不着\\n心理咨询师：")
    [{'role': 'user', 'content': '你好'}, {'role': 'assistant', 'content': '你好。'}, {'role': 'user', 'content': '我睡不着'}]
    ```
    """
    body = prompt.removeprefix(USER_LABEL).removesuffix("\n" + ASSISTANT_LABEL)
    messages = []
    for round_text in body.split("\n" + USER_LABEL):
        user, separator, reply = round_text.partition("\n" + ASSISTANT_LABEL)
        messages.append({"role": "user", "content": user})
        if separator:
            messages.append({"role": "assistant", "content": reply.removesuffix("\n")})
    return messages


def chat_template_ids(tokenizer: Any, prompt: str, *, max_tokens: int, system_prompt: str | None = None) -> list[int]:
    """The ids of a SoulChat prompt rendered through the tokenizer's chat template, with the generation prompt.

    A prompt longer than `max_tokens` ids loses its oldest rounds (a user message and its reply) until it fits; if
    the latest user turn alone is still too long, its ids keep their end.

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
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    messages = prompt_messages(prompt)
    while True:
        text = tokenizer.apply_chat_template(system + messages, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= max_tokens or len(messages) == 1:
            return ids[-max_tokens:]
        messages = messages[2:]


__all__ = ["chat_template_ids", "prompt_messages"]
