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

All functions are pure and work on batches (lists), so `datasets.map(batched=True)` can call them directly. The ChatGLM
layout is built with vectorised numpy from the tokenizer's `int32` arrays; [`encode_chatglm_table`] returns it as an
Arrow table, which `datasets.map` writes as it is (no Python int per token anywhere: several times cheaper than lists).
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa

from soulchat.data.prompts import fit_prompt, fit_template_prompt, split_rounds, template_ids

IGNORE_INDEX = -100
# Above this many characters per id of the source budget a prompt is taken as over-long before encoding it (SoulChat
# text runs at about 1.9 characters an id; a wrong guess costs time, never exactness).
_CHARS_PER_ID = 3


class _ChatGLMBatch(NamedTuple):
    """A batch in ChatGLM's layout as flat arrays: row i is `input_ids[offsets[i]:offsets[i + 1]]`."""

    input_ids: np.ndarray  # [total] int32
    labels: np.ndarray  # [total] int32
    offsets: np.ndarray  # [rows + 1] int64
    prompt_length: np.ndarray  # [rows] int64


def _encode_texts(tokenizer: Any, texts: list[str]) -> list[np.ndarray]:
    """Ids of each text without special tokens as `int32` arrays, in one batched call."""
    if not texts:
        return []
    if hasattr(tokenizer, "encode_as_arrays"):  # ChatGLMTokenizer: no Python int per token
        return tokenizer.encode_as_arrays(texts)
    return [np.asarray(ids, dtype=np.int32) for ids in tokenizer(texts, add_special_tokens=False)["input_ids"]]


def _estimated_start(round_costs: Sequence[int], budget: int) -> int:
    """The first round [`fit_prompt`] tries: the longest suffix whose summed round costs fit `budget`."""
    start, total = len(round_costs) - 1, round_costs[-1]
    while start > 0 and total + round_costs[start - 1] <= budget:
        start -= 1
        total += round_costs[start]
    return start


def _fit_prompts(
    rounds: dict[int, list[str]], tokenizer: Any, budget: int, *, chars_per_id: float
) -> dict[int, np.ndarray]:
    """The ids of each row's prompt (given as its rounds) fitted to `budget` by [`fit_prompt`], in few batched calls.

    The round costs that pick `fit_prompt`'s first candidate are estimated from the characters (`chars_per_id`, the
    batch's own ratio) instead of encoding every round; `fit_prompt` checks its candidates with real ids, so the result
    is exact whatever the estimate. The two candidates `fit_prompt` checks when the estimate is right (the estimated
    suffix, and one round more, which must not fit) are encoded in one call beforehand, so most renders are look-ups;
    a wrong estimate costs one more encode of that row.
    """
    costs = {row: [max(1, round(len(r) / chars_per_id)) for r in row_rounds] for row, row_rounds in rounds.items()}
    candidates = []
    for row, row_rounds in rounds.items():
        start = _estimated_start(costs[row], budget)
        candidates += ["".join(row_rounds[k:]) for k in {max(start - 1, 0), start}]
    cache = {text: ids.tolist() for text, ids in zip(candidates, _encode_texts(tokenizer, candidates), strict=True)}

    def render(text: str) -> list[int]:
        if text not in cache:
            cache[text] = _encode_texts(tokenizer, [text])[0].tolist()
        return cache[text]

    return {
        row: np.asarray(fit_prompt(row_rounds, render, budget, round_costs=costs[row])[1], dtype=np.int32)
        for row, row_rounds in rounds.items()
    }


def _encode_samples(
    prompts: Sequence[str], responses: Sequence[str], tokenizer: Any, budget: int
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The ids of the prompts, each fitted to `budget` ids, and of the responses.

    One batched call encodes the prompts and responses; prompts of more than `_CHARS_PER_ID` characters an id of
    budget cannot fit in practice and go straight to [`_fit_prompts`] without being encoded whole first (exact
    either way: one that does fit comes back whole from `fit_prompt`).
    """
    whole = [i for i, prompt in enumerate(prompts) if len(prompt) <= _CHARS_PER_ID * budget]
    encoded = _encode_texts(tokenizer, [*(prompts[i] for i in whole), *responses])
    prompt_ids: list[np.ndarray | None] = [None] * len(prompts)
    for i, ids in zip(whole, encoded, strict=False):
        prompt_ids[i] = ids
    long_rows = {i: split_rounds(prompts[i]) for i, ids in enumerate(prompt_ids) if ids is None or len(ids) > budget}
    if long_rows:
        texts = [*(prompts[i] for i in whole), *responses]
        ids_total = sum(len(ids) for ids in encoded)
        chars_per_id = sum(map(len, texts)) / ids_total if ids_total else _CHARS_PER_ID
        for i, ids in _fit_prompts(long_rows, tokenizer, budget, chars_per_id=chars_per_id).items():
            prompt_ids[i] = ids
    return prompt_ids, encoded[len(whole) :]


def _ragged_gather(source: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """`concatenate([source[s : s + n] for s, n in zip(starts, lengths)])` without a Python loop."""
    ends = np.cumsum(lengths)
    shift = np.repeat(starts - (ends - lengths), lengths)
    return source[np.arange(ends[-1] if len(ends) else 0) + shift]


def _encode_chatglm_arrays(
    prompts: Sequence[str], responses: Sequence[str], tokenizer: Any, max_source_length: int, max_target_length: int
) -> _ChatGLMBatch:
    """The batch of [`encode_chatglm`] as flat arrays, built with vectorised numpy (no per-token Python)."""
    if max_source_length < 2 or max_target_length < 2:
        raise ValueError("max_source_length and max_target_length must be at least 2")
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    rows = len(prompts)
    prompt_ids, response_ids = _encode_samples(prompts, responses, tokenizer, max_source_length - 1)
    pieces = [*prompt_ids, *response_ids]
    special = np.array([tokenizer.gmask_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id], dtype=np.int32)
    source = np.concatenate([*pieces, special])
    piece_lengths = np.fromiter(map(len, pieces), dtype=np.int64, count=2 * rows)
    piece_starts = np.cumsum(piece_lengths) - piece_lengths
    prompt_length = piece_lengths[:rows]
    response_length = np.minimum(piece_lengths[rows:], max_target_length - 2)  # the FIRST T - 2 response ids
    special_at = len(source) - len(special)
    # Every row is four runs of `source`: prompt, [gMASK, <sop>], response, [<eop>].
    starts = np.stack(
        [piece_starts[:rows], np.full(rows, special_at), piece_starts[rows:], np.full(rows, special_at + 2)], axis=1
    )
    lengths = np.stack([prompt_length, np.full(rows, 2), response_length, np.ones(rows, dtype=np.int64)], axis=1)
    input_ids = _ragged_gather(source, starts.ravel(), lengths.ravel())
    row_length = lengths.sum(axis=1)
    offsets = np.concatenate([[0], np.cumsum(row_length)])
    # Labels are -100 over the source (prompt + [gMASK]); <sop>, the response and <eop> are the targets.
    position = np.arange(len(input_ids)) - np.repeat(offsets[:-1], row_length)
    source_mask = position <= np.repeat(prompt_length, row_length)
    labels = np.where(source_mask, np.int32(IGNORE_INDEX), input_ids)
    return _ChatGLMBatch(input_ids, labels, offsets, prompt_length + 2)


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
    batch = _encode_chatglm_arrays(prompts, responses, tokenizer, max_source_length, max_target_length)
    bounds = list(zip(batch.offsets[:-1].tolist(), batch.offsets[1:].tolist(), strict=True))
    input_ids, labels = batch.input_ids.tolist(), batch.labels.tolist()
    return {
        "input_ids": [input_ids[start:end] for start, end in bounds],
        "labels": [labels[start:end] for start, end in bounds],
        "prompt_length": batch.prompt_length.tolist(),
        "length": np.diff(batch.offsets).tolist(),
    }


def encode_chatglm_table(
    prompts: Sequence[str],
    responses: Sequence[str],
    tokenizer: Any,
    *,
    max_source_length: int = 1536,
    max_target_length: int = 512,
) -> pa.Table:
    """[`encode_chatglm`] as an Arrow table, the form `datasets.map(batched=True)` writes without converting.

    The same rows as [`encode_chatglm`], with `int32` lists for `input_ids` and `labels` and `int32` for
    `prompt_length` and `length`; building it creates no Python object per token, which makes the `datasets.map`
    tokenisation several times cheaper than returning lists.

    Args:
        prompts (`Sequence[str]`):
            SoulChat prompts (ending with `心理咨询师：`).
        responses (`Sequence[str]`):
            The counsellor replies.
        tokenizer ([`ChatGLMTokenizer`]):
            As for [`encode_chatglm`].
        max_source_length (`int`, *optional*, defaults to 1536):
            S: the prompt ids plus `[gMASK]`.
        max_target_length (`int`, *optional*, defaults to 512):
            T: `<sop>` + the response ids + `<eop>`.

    Returns:
        `pa.Table`: the columns `input_ids`, `labels`, `prompt_length` and `length`, one row a sample.

    Example:

    ```python
    >>> prompts, responses = ["用户：你好\\n心理咨询师："], ["你好。"]
    >>> table = encode_chatglm_table(prompts, responses, tokenizer)
    >>> table.to_pydict() == encode_chatglm(prompts, responses, tokenizer)
    True
    ```
    """
    batch = _encode_chatglm_arrays(prompts, responses, tokenizer, max_source_length, max_target_length)
    offsets = pa.array(batch.offsets.astype(np.int32))
    return pa.table(
        {
            "input_ids": pa.ListArray.from_arrays(offsets, pa.array(batch.input_ids)),
            "labels": pa.ListArray.from_arrays(offsets, pa.array(batch.labels)),
            "prompt_length": pa.array(batch.prompt_length.astype(np.int32)),
            "length": pa.array(np.diff(batch.offsets).astype(np.int32)),
        }
    )


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


__all__ = ["IGNORE_INDEX", "encode_chat_template", "encode_chatglm", "encode_chatglm_table"]
