"""SoulChat samples (prompt, response) to model inputs, within a source and a target token budget.

Two layouts:

- **ChatGLM-6B** (the original fine-tuning layout of `ptuning/main.py`): `prompt ids + [gMASK] + <sop> + response ids
  + <eop>`, labels -100 over `prompt ids + [gMASK]`, so `<sop>`, the response and `<eop>` are the targets.
- **Chat template** (any `AutoModelForCausalLM` whose tokenizer has one: GLM-4, Qwen2.5, Llama 3, ...): the dialogue
  is rendered as messages through the template; labels cover the counsellor's reply (and the template's end of turn).

The budget rule, identical in both layouts (S = `max_source_length`, T = `max_target_length`):

- **Source** = everything before the first target token. ChatGLM: the prompt ids plus `[gMASK]` (so the prompt gets
  at most S - 1 ids; `<sop>` counts as target, exactly as the original script). Chat template: the rendered prompt
  with the generation prompt (system message, role markers and special tokens included) gets at most S ids.
- **Target** = the rest. ChatGLM: `<sop>` + response + `<eop>` at most T ids (the response keeps its FIRST T - 2 ids).
  Chat template: the reply and the template's end of turn, at most T ids (the first T are kept).
- An over-long prompt loses whole OLDEST rounds first (the fewest that make it fit; the prompt is re-rendered and
  re-encoded, so its ids are always the tokenisation of a valid prompt text). If the latest user turn alone is still
  too long, its text is cut from its START (the fewest characters that make it fit), keeping the `用户：` label and the
  final `心理咨询师：` cue. The prompt therefore always ends with the cue and the current question's end.

All functions are pure and work on batches (lists), so `datasets.map(batched=True)` can call them directly.
"""

from collections.abc import Callable, Sequence
from typing import Any

from soulchat.data.schema import ASSISTANT_LABEL, USER_LABEL

IGNORE_INDEX = -100
_ROUND_SEPARATOR = "\n" + USER_LABEL


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


def _encode_texts(tokenizer: Any, texts: list[str]) -> list[list[int]]:
    """Ids of each text without special tokens, in one batched call."""
    return tokenizer(texts, add_special_tokens=False)["input_ids"] if texts else []


def encode_chatglm(
    prompts: Sequence[str],
    responses: Sequence[str],
    tokenizer: Any,
    *,
    max_source_length: int = 1536,
    max_target_length: int = 512,
) -> dict[str, list]:
    """Encodes a batch in ChatGLM-6B's fine-tuning layout, within the budgets of the module docstring.

    Args:
        prompts (`Sequence[str]`):
            SoulChat prompts (ending with `心理咨询师：`).
        responses (`Sequence[str]`):
            The counsellor replies.
        tokenizer ([`ChatGLMTokenizer`]):
            Provides the ids and `gmask_token_id`, `bos_token_id` (`<sop>`) and `eos_token_id` (`<eop>`).
        max_source_length (`int`, *optional*, defaults to 1536):
            S: the prompt ids plus `[gMASK]`.
        max_target_length (`int`, *optional*, defaults to 512):
            T: `<sop>` + the response ids + `<eop>`.

    Returns:
        `dict[str, list]`: `input_ids`, `labels` (-100 over the source), `prompt_length` (the generation prompt's
        length, `<sop>` included) and `length` (of `input_ids`), one entry a sample.

    Example:

    ```python
    >>> batch = encode_chatglm(["用户：你好\\n心理咨询师："], ["你好。"], tokenizer)
    >>> batch["input_ids"][0][-1] == tokenizer.eos_token_id
    True
    ```
    """
    if max_source_length < 2 or max_target_length < 2:
        raise ValueError("max_source_length and max_target_length must be at least 2")
    prompt_budget, response_budget = max_source_length - 1, max_target_length - 2
    # One tokenizer call for the whole batch (prompts and responses): one SentencePiece pass.
    encoded = _encode_texts(tokenizer, [*prompts, *responses])
    prompt_ids, response_ids = encoded[: len(prompts)], encoded[len(prompts) :]
    long_rows = [i for i, ids in enumerate(prompt_ids) if len(ids) > prompt_budget]
    if long_rows:

        def render(text: str) -> list[int]:
            return _encode_texts(tokenizer, [text])[0]

        round_lists = [split_rounds(prompts[i]) for i in long_rows]
        costs = iter(_encode_texts(tokenizer, [r for rounds in round_lists for r in rounds]))
        for row, rounds in zip(long_rows, round_lists, strict=True):
            round_costs = [len(next(costs)) for _ in rounds]
            prompt_ids[row] = fit_prompt(rounds, render, prompt_budget, round_costs=round_costs)[1]
    head = [tokenizer.gmask_token_id, tokenizer.bos_token_id]
    eop = tokenizer.eos_token_id
    out: dict[str, list] = {"input_ids": [], "labels": [], "prompt_length": [], "length": []}
    for prompt, response in zip(prompt_ids, response_ids, strict=True):
        input_ids = prompt + head + response[:response_budget] + [eop]
        context = len(prompt) + 1  # the index of <sop>, the first target
        out["input_ids"].append(input_ids)
        out["labels"].append([IGNORE_INDEX] * context + input_ids[context:])
        out["prompt_length"].append(context + 1)
        out["length"].append(len(input_ids))
    return out


def _template_ids(tokenizer: Any, messages: list[dict[str, str]], *, generation_prompt: bool) -> list[int]:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    return _encode_texts(tokenizer, [text])[0]


def encode_chat_template(
    prompts: Sequence[str],
    responses: Sequence[str],
    tokenizer: Any,
    *,
    max_source_length: int = 1536,
    max_target_length: int = 512,
    system_prompt: str | None = None,
) -> dict[str, list]:
    """Encodes a batch through the tokenizer's chat template, with loss only on the counsellor's reply.

    The prompt's rounds become `user`/`assistant` messages (after `system_prompt` if given); the source is the
    template with the generation prompt, the target what the template adds for the reply. Budgets as in the module
    docstring.

    Args:
        prompts (`Sequence[str]`):
            SoulChat prompts (ending with `心理咨询师：`).
        responses (`Sequence[str]`):
            The counsellor replies.
        tokenizer (`PreTrainedTokenizerBase`):
            A tokenizer with a `chat_template`.
        max_source_length (`int`, *optional*, defaults to 1536):
            S: the rendered prompt, generation prompt included.
        max_target_length (`int`, *optional*, defaults to 512):
            T: the reply and the template's end of turn.
        system_prompt (`str`, *optional*):
            A system message put first.

    Returns:
        `dict[str, list]`: `input_ids`, `labels`, `prompt_length` and `length`, as [`encode_chatglm`].
    """
    if getattr(tokenizer, "chat_template", None) is None:
        raise ValueError("the tokenizer has no chat_template; use the chatglm prompt format or set a template")
    system = [{"role": "system", "content": system_prompt}] if system_prompt else []
    out: dict[str, list] = {"input_ids": [], "labels": [], "prompt_length": [], "length": []}
    for prompt, response in zip(prompts, responses, strict=True):
        rounds = split_rounds(prompt)

        def render(text: str) -> list[int]:
            return _template_ids(tokenizer, system + rounds_to_messages(split_rounds(text)), generation_prompt=True)

        messages = system + rounds_to_messages(rounds)
        source = _template_ids(tokenizer, messages, generation_prompt=True)
        if len(source) > max_source_length:
            costs = [len(render(r)) for r in rounds]
            text, source = fit_prompt(rounds, render, max_source_length, round_costs=costs)
            messages = system + rounds_to_messages(split_rounds(text))
        full = _template_ids(
            tokenizer, messages + [{"role": "assistant", "content": response}], generation_prompt=False
        )
        if full[: len(source)] != source:
            raise ValueError("the chat template does not render the prompt as a prefix of the conversation")
        target = full[len(source) :][:max_target_length]
        out["input_ids"].append(source + target)
        out["labels"].append([IGNORE_INDEX] * len(source) + target)
        out["prompt_length"].append(len(source))
        out["length"].append(len(source) + len(target))
    return out


__all__ = [
    "IGNORE_INDEX",
    "encode_chat_template",
    "encode_chatglm",
    "fit_prompt",
    "rounds_to_messages",
    "split_rounds",
]
