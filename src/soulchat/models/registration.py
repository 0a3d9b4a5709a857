"""Registration of soulchat's models with the transformers Auto classes (explicit and idempotent)."""

from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

from soulchat.models.chatglm import ChatGLMConfig, ChatGLMForConditionalGeneration, ChatGLMTokenizer


def register_chatglm() -> None:
    """Maps `model_type="chatglm"` to the native ChatGLM-6B classes in `AutoConfig`, `AutoModel`,
    `AutoModelForCausalLM`, `AutoModelForSeq2SeqLM` and `AutoTokenizer`.

    `AutoModel` returns [`ChatGLMForConditionalGeneration`], as the original checkpoint's `auto_map` does, so that
    `AutoModel.from_pretrained(path).chat(...)` keeps working. Every registration uses `exist_ok=True`, so calling
    it again is harmless.
    """
    AutoConfig.register(ChatGLMConfig.model_type, ChatGLMConfig, exist_ok=True)
    for auto_class in (AutoModel, AutoModelForCausalLM, AutoModelForSeq2SeqLM):
        auto_class.register(ChatGLMConfig, ChatGLMForConditionalGeneration, exist_ok=True)
    AutoTokenizer.register(ChatGLMConfig, tokenizer_class=ChatGLMTokenizer, exist_ok=True)


__all__ = ["register_chatglm"]
