"""The conversation engine: SoulChat prompts within budget, batched streaming decoding, the safety layer around it."""

from soulchat.inference.engine.decoding import DecodingRow, decode_batch
from soulchat.inference.engine.engine import ChatEngine
from soulchat.inference.engine.prompting import EncodedPrompt, PromptEncoder
from soulchat.inference.engine.reply import Reply, ReplyJob, ReplyStream
from soulchat.inference.engine.sampling import DEFAULT_TOP_K, DecodingSettings, choose_tokens, warp_scores
from soulchat.inference.engine.scheduler import QueueFullError, Scheduler
from soulchat.inference.engine.streaming import ReplyDetokenizer

__all__ = [
    "DEFAULT_TOP_K",
    "ChatEngine",
    "DecodingRow",
    "DecodingSettings",
    "EncodedPrompt",
    "PromptEncoder",
    "QueueFullError",
    "Reply",
    "ReplyDetokenizer",
    "ReplyJob",
    "ReplyStream",
    "Scheduler",
    "choose_tokens",
    "decode_batch",
    "warp_scores",
]
