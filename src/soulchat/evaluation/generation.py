"""Batched reply generation for the benchmark: ChatGLM-6B checkpoints and chat-template causal LMs alike.

Prompts are left-padded (the model continues every row from its last column) and the model's `generate()` runs with
the KV cache. The decoding settings are given in full (sampling or greedy, `top_k` 50, no repetition penalty) rather
than taken from the checkpoint's `generation_config.json`, so that two models are compared under the same decoding.
"""

import logging
from typing import Any

import torch
from transformers import GenerationConfig

from soulchat.evaluation.prompts import chat_template_ids
from soulchat.models.chatglm import process_response
from soulchat.models.loading import check_generation_pair, end_of_reply_ids, load_model_for_generation

logger = logging.getLogger(__name__)

# The Hugging Face default, which ChatGLM-6B's chat() (and so the paper's decoding) used alongside top_p.
TOP_K = 50


class ReplyGenerator:
    """Generates counsellor replies to SoulChat prompts, a batch at a time.

    Args:
        model (`PreTrainedModel`):
            A [`ChatGLMForConditionalGeneration`], or any causal LM whose tokenizer has a chat template.
        tokenizer (`PreTrainedTokenizerBase`):
            Its tokenizer; it is switched to left padding (and given its EOS as padding when it has no pad token).
        greedy (`bool`, *optional*, defaults to `False`):
            Greedy decoding instead of sampling.
        top_p (`float`, *optional*, defaults to 0.75):
            Nucleus mass when sampling.
        temperature (`float`, *optional*, defaults to 0.95):
            Temperature when sampling.
        max_new_tokens (`int`, *optional*, defaults to 512):
            Most new tokens per reply.
        max_prompt_tokens (`int`, *optional*, defaults to 1536):
            Most prompt tokens (see [`EvaluationConfig`]).
        system_prompt (`str`, *optional*):
            System message of chat-template prompts.
        postprocess (`bool`, *optional*, defaults to `True`):
            Apply ChatGLM-6B's `process_response` to ChatGLM replies.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        greedy: bool = False,
        top_p: float = 0.75,
        temperature: float = 0.95,
        max_new_tokens: int = 512,
        max_prompt_tokens: int = 1536,
        system_prompt: str | None = None,
        postprocess: bool = True,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.is_chatglm = check_generation_pair(model, tokenizer, purpose="to evaluate it")
        tokenizer.padding_side = "left"
        self.max_prompt_tokens = max_prompt_tokens
        self.system_prompt = system_prompt
        self.postprocess = postprocess
        self.eos_token_ids = end_of_reply_ids(model, tokenizer)
        self.generation_config = GenerationConfig(
            max_new_tokens=max_new_tokens,
            do_sample=not greedy,
            num_beams=1,
            top_k=TOP_K,
            top_p=1.0 if greedy else top_p,
            temperature=1.0 if greedy else temperature,
            repetition_penalty=1.0,
            eos_token_id=self.eos_token_ids,
            pad_token_id=tokenizer.pad_token_id,
        )

    @classmethod
    def from_pretrained(
        cls, path: str, *, device: str | None = None, dtype: str = "auto", **settings: Any
    ) -> "ReplyGenerator":
        """Loads a checkpoint's tokenizer and model (ChatGLM-6B through soulchat's registration, others through
        `AutoModelForCausalLM`; quantised ChatGLM folders too) onto `device`; `settings` are those of the constructor."""
        model, tokenizer = load_model_for_generation(path, device=device, dtype=dtype)
        return cls(model, tokenizer, **settings)

    def encode(self, prompts: list[str]) -> dict[str, torch.Tensor]:
        """Left-padded model inputs of a batch of SoulChat prompts.

        Returns:
            `dict[str, torch.Tensor]`: `input_ids` `(batch, seq)` and the attention mask (ChatGLM: its 4D GLM mask
            `(batch, 1, seq, seq)` and `position_ids` `(batch, 2, seq)`; others: `(batch, seq)`), on the model's device.
        """
        tokenizer = self.tokenizer
        if self.is_chatglm:
            # The prompt keeps its end (the latest question and the cue) when it is too long, then [gMASK] <sop>.
            tokenizer.truncation_side = "left"
            batch = tokenizer(
                prompts, padding=True, truncation=True, max_length=self.max_prompt_tokens, return_tensors="pt"
            )
        else:
            ids = [
                chat_template_ids(tokenizer, p, max_tokens=self.max_prompt_tokens, system_prompt=self.system_prompt)
                for p in prompts
            ]
            batch = tokenizer.pad({"input_ids": ids}, padding=True, return_tensors="pt")
        return {key: value.to(self.model.device) for key, value in batch.items()}

    def decode(self, new_ids: torch.Tensor) -> list[str]:
        """The replies in `new_ids` `(batch, new_tokens)`: each row up to its first EOS, without special tokens."""
        replies = []
        for row in new_ids.tolist():
            end = next((i for i, token in enumerate(row) if token in self.eos_token_ids), len(row))
            text = self.tokenizer.decode(row[:end], skip_special_tokens=True)
            replies.append(process_response(text) if self.is_chatglm and self.postprocess else text.strip())
        return replies

    @torch.inference_mode()
    def generate(self, prompts: list[str]) -> list[str]:
        """The replies to a batch of SoulChat prompts (ending with `心理咨询师：`), in order."""
        inputs = self.encode(prompts)
        output = self.model.generate(**inputs, generation_config=self.generation_config)
        return self.decode(output[:, inputs["input_ids"].shape[1] :])

    def settings(self) -> dict:
        """The generation settings actually used, for `metrics.json`."""
        config = self.generation_config
        values = {
            "do_sample": config.do_sample,
            "top_k": config.top_k,
            "top_p": config.top_p,
            "temperature": config.temperature,
            "repetition_penalty": config.repetition_penalty,
            "num_beams": config.num_beams,
            "max_new_tokens": config.max_new_tokens,
            "eos_token_id": self.eos_token_ids,
        }
        return {
            **values,
            "prompt_format": "chatglm" if self.is_chatglm else "chat_template",
            "max_prompt_tokens": self.max_prompt_tokens,
            "system_prompt": self.system_prompt,
            "postprocess": "process_response" if self.is_chatglm and self.postprocess else "strip",
        }


__all__ = ["TOP_K", "ReplyGenerator"]
