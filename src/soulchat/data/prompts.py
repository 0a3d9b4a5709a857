"""The SoulChat prompt, one implementation for training, evaluation and inference.

The model input for the next counsellor reply is the history as rounds `用户：{user}\n心理咨询师：{reply}` joined by
`\n`, ending with `用户：{query}\n心理咨询师：` ([`render_prompt`]). [`split_rounds`] cuts a prompt back into its
rounds and [`rounds_to_messages`] turns them into chat messages for models with a chat template. [`fit_prompt`] is the
budget rule every consumer applies: drop whole OLDEST rounds first (the fewest that make the prompt fit); if the latest
user turn alone is still too long, cut its text from its START, keeping the `用户：` label and the final `心理咨询师：`
cue. [`fit_template_prompt`] applies the same rule to a prompt rendered through a tokenizer's chat template.

The functions are pure; a tokenizer is only ever called, never imported, so this module stays at the data layer.
"""

from collections.abc import Callable, Sequence
from typing import Any

from soulchat.data.schema import ASSISTANT_LABEL, USER_LABEL

_ROUND_SEPARATOR = "\n" + USER_LABEL


def render_prompt(history: list[tuple[str, str]], query: str) -> str:
    """Render the SoulChat model input for the next counsellor reply.

    Each earlier round is `用户：{user}\\n心理咨询师：{reply}`; rounds are joined with `\\n`, then
    `用户：{query}\\n心理咨询师：` follows (for an empty history, only that).

    Args:
        history (`list[tuple[str, str]]`):
            The earlier (user, counsellor) rounds, oldest first.
        query (`str`):
            The latest user message.

    Returns:
        `str`: the prompt, always ending with `心理咨询师：`.

    Example:

    ```python
    >>> render_prompt([("你好", "你好，请说。")], "我睡不着")
    '用户：你好\\n心理咨询师：你好，请说。\\n用户：我睡不着\\n心理咨询师：'
    ```
    """
    parts = [f"{USER_LABEL}{user}\n{ASSISTANT_LABEL}{reply}\n" for user, reply in history]
    parts.append(f"{USER_LABEL}{query}\n{ASSISTANT_LABEL}")
    return "".join(parts)


def split_rounds(prompt: str) -> list[str]:
    """Splits a SoulChat prompt into its rounds, oldest first; joining them gives the prompt back.

    Every round but the last is `用户：{user}\\n心理咨询师：{reply}\\n`; the last is `用户：{query}\\n心理咨询师：`. A round
    boundary is a `\\n` followed by `用户：` (a message that itself contains `\\n用户：` is split there too, which only
    makes the rounds finer).

    Example:

    ```python
    >>> split_rounds("用户：你好\\n心理咨询师：你好。\\n用户：我睡不着\\n心理咨询师：")
    ['用户：你好\\n心理咨询师：你好。\\n', '用户：我睡不着\\n心理咨询师：']
    ```
    """
    pieces = prompt.split(_ROUND_SEPARATOR)
    rounds = [pieces[0] + "\n"] + [USER_LABEL + piece + "\n" for piece in pieces[1:]]
    rounds[-1] = rounds[-1][:-1]
    return [r for r in rounds if r]


def rounds_to_messages(rounds: Sequence[str]) -> list[dict[str, str]]:
    """Turns prompt rounds into chat messages: `user`/`assistant` pairs, then the final `user` turn.

    Example:

    ```python
    >>> rounds_to_messages(["用户：你好\\n心理咨询师：你好。\\n", "用户：我睡不着\\n心理咨询师："])
    [{'role': 'user', 'content': '你好'}, {'role': 'assistant', 'content': '你好。'}, {'role': 'user', 'content': '我睡不着'}]
    ```
    """
    messages = []
    for text in rounds:
        text = text.removeprefix(USER_LABEL).removesuffix("\n")
        user, _, reply = text.partition("\n" + ASSISTANT_LABEL)
        messages.append({"role": "user", "content": user})
        if reply:
            messages.append({"role": "assistant", "content": reply})
    return messages


def _cut_query(last_round: str, render: Callable[[str], list[int]], budget: int) -> tuple[str, list[int]]:
    """Cuts the fewest characters from the start of the latest user turn so that `render(round)` fits `budget` ids.

    Binary search over the cut position (token counts grow with the text kept), then a linear check for safety.
    """
    query = last_round.removeprefix(USER_LABEL).removesuffix("\n" + ASSISTANT_LABEL)

    def text_for(cut: int) -> str:
        return f"{USER_LABEL}{query[cut:]}\n{ASSISTANT_LABEL}"

    def ids_for(cut: int) -> list[int]:
        return render(text_for(cut))

    low, high = 0, len(query)
    while low < high:
        middle = (low + high) // 2
        if len(ids_for(middle)) <= budget:
            high = middle
        else:
            low = middle + 1
    ids = ids_for(low)
    while len(ids) > budget and low < len(query):
        low += 1
        ids = ids_for(low)
    if len(ids) > budget:
        raise ValueError(f"a source budget of {budget} ids cannot hold even the empty turn and the cue")
    return text_for(low), ids


def fit_prompt(
    rounds: Sequence[str], render: Callable[[str], list[int]], budget: int, *, round_costs: Sequence[int]
) -> tuple[str, list[int]]:
    """The longest suffix of `rounds` that fits `budget` (cutting the latest turn if it must), and its ids.

    Args:
        rounds (`Sequence[str]`):
            The prompt's rounds, oldest first (see [`split_rounds`]).
        render (`Callable[[str], list[int]]`):
            Maps the text of a (shortened) prompt to its source ids.
        budget (`int`):
            The most source ids allowed.
        round_costs (`Sequence[int]`):
            An estimate of each round's ids, used to pick the first candidate; the result is exact regardless.

    Returns:
        `tuple[str, list[int]]`: the prompt text `"".join(rounds[k:])` for the smallest `k` that fits (token counts
        grow with every round kept), or the cut latest turn, and `render` of it.
    """
    start, total = len(rounds) - 1, round_costs[-1]
    while start > 0 and total + round_costs[start - 1] <= budget:
        start -= 1
        total += round_costs[start]
    ids = render("".join(rounds[start:]))
    while len(ids) > budget and start < len(rounds) - 1:  # the estimate was optimistic: drop one more round
        start += 1
        ids = render("".join(rounds[start:]))
    while start > 0:  # the estimate was pessimistic: keep one more round while it fits
        wider = render("".join(rounds[start - 1 :]))
        if len(wider) > budget:
            break
        start, ids = start - 1, wider
    return ("".join(rounds[start:]), ids) if len(ids) <= budget else _cut_query(rounds[-1], render, budget)


def prompt_messages(prompt: str) -> list[dict[str, str]]:
    """The chat messages of a SoulChat prompt: `user`/`assistant` pairs, then the latest `user` turn.

    Example:

    ```python
    >>> prompt_messages("用户：你好\\n心理咨询师：你好。\\n用户：我睡不着\\n心理咨询师：")
    [{'role': 'user', 'content': '你好'}, {'role': 'assistant', 'content': '你好。'}, {'role': 'user', 'content': '我睡不着'}]
    ```
    """
    return rounds_to_messages(split_rounds(prompt))


def template_ids(tokenizer: Any, messages: list[dict[str, str]], *, generation_prompt: bool) -> list[int]:
    """The ids of `messages` rendered through `tokenizer`'s chat template (special tokens as the template writes them)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    return tokenizer([text], add_special_tokens=False)["input_ids"][0]


def fit_template_prompt(
    tokenizer: Any, prompt: str, budget: int, *, system_prompt: str | None = None
) -> tuple[list[dict[str, str]], list[int]]:
    """A SoulChat prompt as chat messages rendered with the generation prompt, within `budget` ids ([`fit_prompt`]).

    Args:
        tokenizer (`PreTrainedTokenizerBase`):
            A tokenizer with a `chat_template`.
        prompt (`str`):
            The SoulChat prompt (ending with `心理咨询师：`).
        budget (`int`):
            The most ids of the rendered prompt, system message, role markers and special tokens included.
        system_prompt (`str`, *optional*):
            A system message put first (never dropped).

    Returns:
        `tuple[list[dict[str, str]], list[int]]`: the messages kept (system message first if given) and their ids.
    """
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []

    def render(text: str) -> list[int]:
        return template_ids(tokenizer, system + prompt_messages(text), generation_prompt=True)

    rounds = split_rounds(prompt)
    ids = render(prompt)
    if len(ids) > budget:
        costs = [len(render(r)) for r in rounds]
        prompt, ids = fit_prompt(rounds, render, budget, round_costs=costs)
    return system + prompt_messages(prompt), ids


__all__ = [
    "fit_prompt",
    "fit_template_prompt",
    "prompt_messages",
    "render_prompt",
    "rounds_to_messages",
    "split_rounds",
    "template_ids",
]
