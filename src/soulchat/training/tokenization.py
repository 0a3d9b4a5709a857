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

from collections.abc import Sequence
from typing import Any

from soulchat.data.prompts import fit_prompt, fit_template_prompt, split_rounds, template_ids

IGNORE_INDEX = -100


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
    out: dict[str, list] = {"input_ids": [], "labels": [], "prompt_length": [], "length": []}
    for prompt, response in zip(prompts, responses, strict=True):
        messages, source = fit_template_prompt(tokenizer, prompt, max_source_length, system_prompt=system_prompt)
        full = template_ids(
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


__all__ = ["IGNORE_INDEX", "encode_chat_template", "encode_chatglm"]
