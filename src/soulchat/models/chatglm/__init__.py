"""ChatGLM-6B (v1): configuration, model and tokenizer, weight-compatible with `THUDM/chatglm-6b`."""

from soulchat.models.chatglm.chat_chatglm import build_chat_prompt, process_response
from soulchat.models.chatglm.configuration_chatglm import ChatGLMConfig
from soulchat.models.chatglm.modeling_chatglm import (
    ChatGLMForConditionalGeneration,
    ChatGLMModel,
    ChatGLMPreTrainedModel,
)
from soulchat.models.chatglm.tokenization_chatglm import ChatGLMTokenizer

__all__ = [
    "ChatGLMConfig",
    "ChatGLMForConditionalGeneration",
    "ChatGLMModel",
    "ChatGLMPreTrainedModel",
    "ChatGLMTokenizer",
    "build_chat_prompt",
    "process_response",
]
