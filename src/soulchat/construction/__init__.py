"""Corpus construction: rewrite single-turn counselling QA into multi-turn empathetic dialogues with any
OpenAI-compatible LLM, validated, cleaned and resumable (the SoulChat paper's construction step)."""

from soulchat.construction.client import ChatClient, Completion, FatalAPIError, RequestFailed
from soulchat.construction.config import (
    CheckConfig,
    CleaningConfig,
    ClientConfig,
    ConstructionConfig,
    ModelPrice,
    load_prices,
)
from soulchat.construction.dedup import NearDuplicateIndex
from soulchat.construction.inputs import QAItem, iter_qa_items
from soulchat.construction.parsing import INVALID_OUTPUT, check_turns, parse_turns
from soulchat.construction.privacy import PiiScrubber
from soulchat.construction.runner import Constructor, construct_corpus, run_construction
from soulchat.construction.templates import BUILTIN_TEMPLATES, PromptTemplate, load_template

__all__ = [
    "BUILTIN_TEMPLATES",
    "INVALID_OUTPUT",
    "ChatClient",
    "CheckConfig",
    "CleaningConfig",
    "ClientConfig",
    "Completion",
    "ConstructionConfig",
    "Constructor",
    "FatalAPIError",
    "ModelPrice",
    "NearDuplicateIndex",
    "PiiScrubber",
    "PromptTemplate",
    "QAItem",
    "RequestFailed",
    "check_turns",
    "construct_corpus",
    "run_construction",
    "iter_qa_items",
    "load_prices",
    "load_template",
    "parse_turns",
]
