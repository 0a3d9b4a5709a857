"""The OpenAI-compatible HTTP API (`/v1/models`, `/v1/chat/completions`, `/health`) over the conversation engine."""

from soulchat.inference.server.app import DEFAULT_MAX_REQUEST_BYTES, ENGINE_KEY, create_app
from soulchat.inference.server.protocol import ChatRequest, ProtocolError, parse_chat_request
from soulchat.inference.server.runner import BackgroundServer

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "ENGINE_KEY",
    "BackgroundServer",
    "ChatRequest",
    "ProtocolError",
    "create_app",
    "parse_chat_request",
]
