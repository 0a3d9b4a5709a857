"""Model implementations native to transformers (one folder per architecture) and their Auto-class registration."""

from soulchat.models.registration import register_chatglm

__all__ = ["register_chatglm"]
