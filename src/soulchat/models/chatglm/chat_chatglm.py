"""ChatGLM-6B's chat interface: the original prompt, `chat()`, `stream_chat()` and `process_response`.

`ChatGLMChatMixin` gives a generation model the original methods (same signatures and defaults), so code written for
`THUDM/chatglm-6b` keeps working. This file depends only on torch, transformers and `masking_chatglm.py`, so it can be
copied next to a checkpoint with the modeling file and loaded as remote code.
"""

import copy
import re
from collections.abc import Iterator

import torch
from torch.nn import functional as F
from transformers import GenerationConfig
from transformers.cache_utils import DynamicCache
from transformers.generation.logits_process import LogitsProcessor, LogitsProcessorList

from .masking_chatglm import advance_position_ids, get_position_ids


class InvalidScoreLogitsProcessor(LogitsProcessor):
    """If any score is NaN or infinite, replaces all scores by 0 and the score of token 5 by 5e4 (as the original)."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if torch.isnan(scores).any() or torch.isinf(scores).any():
            scores.zero_()
            scores[..., 5] = 5e4
        return scores


def build_chat_prompt(query: str, history: list[tuple[str, str]] | None = None) -> str:
    """The ChatGLM-6B chat prompt: the bare query without history, else `[Round i]\\n问：q\\n答：r\\n` rounds."""
    if not history:
        return query
    prompt = "".join(f"[Round {i}]\n问：{q}\n答：{r}\n" for i, (q, r) in enumerate(history))
    return prompt + f"[Round {len(history)}]\n问：{query}\n答："


_PUNCTUATION = [(",", "，"), ("!", "！"), (":", "："), (";", "；"), (r"\?", "？")]


def process_response(response: str) -> str:
    """Post-processes a reply as the original `chat()`: strip, fill `[[训练时间]]`, full-width punctuation next to CJK."""
    response = response.strip().replace("[[训练时间]]", "2023年")
    for half, full in _PUNCTUATION:
        response = re.sub(rf"([\u4e00-\u9fff]){half}", rf"\1{full}", response)
        response = re.sub(rf"{half}([\u4e00-\u9fff])", rf"{full}\1", response)
    return response


class ChatGLMChatMixin:
    """The original `chat()`, `stream_chat()` and `stream_generate()` of ChatGLM-6B, on top of `generate()`."""

    @torch.inference_mode()
    def chat(
        self,
        tokenizer,
        query: str,
        history: list[tuple[str, str]] | None = None,
        max_length: int = 2048,
        num_beams: int = 1,
        do_sample: bool = True,
        top_p: float = 0.7,
        temperature: float = 0.95,
        logits_processor: LogitsProcessorList | None = None,
        **kwargs,
    ) -> tuple[str, list[tuple[str, str]]]:
        """Answers `query` given `history` (a list of `(query, response)`), with the original defaults and prompt.

        Returns the processed response and the history with `(query, response)` appended.
        """
        history = list(history or [])
        processors = LogitsProcessorList(logits_processor or [])
        processors.append(InvalidScoreLogitsProcessor())
        inputs = tokenizer([build_chat_prompt(query, history)], return_tensors="pt").to(self.device)
        outputs = self.generate(
            **inputs,
            max_length=max_length,
            num_beams=num_beams,
            do_sample=do_sample,
            top_p=top_p,
            temperature=temperature,
            logits_processor=processors,
            **kwargs,
        )
        response = process_response(tokenizer.decode(outputs[0, inputs["input_ids"].shape[1] :].tolist()))
        return response, history + [(query, response)]

    @torch.inference_mode()
    def stream_chat(
        self,
        tokenizer,
        query: str,
        history: list[tuple[str, str]] | None = None,
        max_length: int = 2048,
        do_sample: bool = True,
        top_p: float = 0.7,
        temperature: float = 0.95,
        logits_processor: LogitsProcessorList | None = None,
        **kwargs,
    ) -> Iterator[tuple[str, list[tuple[str, str]]]]:
        """Like [`chat`], but yields the growing `(response, history)` after every generated token."""
        history = list(history or [])
        processors = LogitsProcessorList(logits_processor or [])
        processors.append(InvalidScoreLogitsProcessor())
        inputs = tokenizer([build_chat_prompt(query, history)], return_tensors="pt").to(self.device)
        prompt_length = inputs["input_ids"].shape[1]
        for output_ids in self.stream_generate(
            inputs["input_ids"],
            max_length=max_length,
            do_sample=do_sample,
            top_p=top_p,
            temperature=temperature,
            logits_processor=processors,
            **kwargs,
        ):
            response = process_response(tokenizer.decode(output_ids[0, prompt_length:].tolist()))
            yield response, history + [(query, response)]

    def process_response(self, response: str) -> str:
        """The original method form of [`process_response`]."""
        return process_response(response)

    @torch.inference_mode()
    def stream_generate(
        self,
        input_ids: torch.LongTensor,
        generation_config: GenerationConfig | None = None,
        logits_processor: LogitsProcessorList | None = None,
        **kwargs,
    ) -> Iterator[torch.LongTensor]:
        """Samples (or picks greedily) one token at a time with the cache, yielding the ids `[batch, seq]` after each.

        Args:
            input_ids (`torch.LongTensor` of shape `(batch_size, seq_len)`):
                Unpadded prompts ending with `[gMASK] <sop>`.
            generation_config (`GenerationConfig`, *optional*, defaults to `self.generation_config`):
                The base settings; `kwargs` (`max_length`, `max_new_tokens`, `do_sample`, `top_p`, ...) update a copy.
            logits_processor (`LogitsProcessorList`, *optional*):
                Processors applied before the sampling warpers (as in `generate()`).
        """
        generation_config = copy.deepcopy(generation_config or self.generation_config)
        generation_config.update(**kwargs)
        max_length = generation_config.max_length
        if generation_config.max_new_tokens is not None:
            max_length = input_ids.shape[1] + generation_config.max_new_tokens
        processors = self._get_logits_processor(
            generation_config=generation_config,
            input_ids_seq_length=input_ids.shape[1],
            encoder_input_ids=input_ids,
            logits_processor=logits_processor or LogitsProcessorList(),
            device=input_ids.device,
            model_kwargs={},
        )
        eos = torch.tensor(generation_config.eos_token_id, device=input_ids.device).flatten()
        cache = DynamicCache(config=self.config)
        position_ids = get_position_ids(input_ids, None, self.config)
        unfinished = torch.ones(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        step_ids = input_ids
        while True:
            step_positions = position_ids[..., -step_ids.shape[1] :]
            logits = self(
                input_ids=step_ids, position_ids=step_positions, cache=cache, use_cache=True, logits_to_keep=1
            ).logits
            scores = processors(input_ids, logits[:, -1, :].float())
            if generation_config.do_sample:
                next_tokens = torch.multinomial(F.softmax(scores, dim=-1), num_samples=1).squeeze(1)
            else:
                next_tokens = scores.argmax(-1)
            pad = generation_config.pad_token_id if generation_config.pad_token_id is not None else int(eos[0])
            next_tokens = torch.where(unfinished, next_tokens, pad)
            input_ids = torch.cat((input_ids, next_tokens[:, None]), dim=-1)
            unfinished &= ~torch.isin(next_tokens, eos)
            yield input_ids
            if not bool(unfinished.any()) or input_ids.shape[1] >= max_length:
                return
            position_ids = advance_position_ids(position_ids, 1)
            step_ids = next_tokens[:, None]


__all__ = ["ChatGLMChatMixin", "InvalidScoreLogitsProcessor", "build_chat_prompt", "process_response"]
