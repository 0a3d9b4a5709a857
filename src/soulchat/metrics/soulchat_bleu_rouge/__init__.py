"""The ``soulchat_bleu_rouge`` evaluate metric module (this folder is what ``evaluate.load`` reads)."""

from soulchat.metrics.soulchat_bleu_rouge.soulchat_bleu_rouge import SoulchatBleuRouge

__all__ = ["SoulchatBleuRouge"]
