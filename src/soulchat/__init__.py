"""soulchat: empathetic Chinese counselling language models, the SoulChat way, native to Hugging Face."""

__version__ = "0.1.0"

from soulchat.registration import register  # noqa: E402

register()

__all__ = ["__version__", "register"]
