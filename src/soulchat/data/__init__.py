"""The corpus data layer: readers for every supported format, validation, cleaning and sample expansion."""

from soulchat.data.cleaning import PAPER_FILTER_STRINGS, ContentFilter
from soulchat.data.expansion import expand_dialogue
from soulchat.data.formats import FORMATS, FormatError, detect_format
from soulchat.data.pipeline import CorpusPipeline, PipelineOptions
from soulchat.data.prompts import fit_prompt, prompt_messages, render_prompt, split_rounds
from soulchat.data.schema import TOPICS, Dialogue, Message
from soulchat.data.validation import ValidationOptions, validate

__all__ = [
    "FORMATS",
    "PAPER_FILTER_STRINGS",
    "TOPICS",
    "ContentFilter",
    "CorpusPipeline",
    "Dialogue",
    "FormatError",
    "Message",
    "PipelineOptions",
    "ValidationOptions",
    "detect_format",
    "expand_dialogue",
    "fit_prompt",
    "prompt_messages",
    "render_prompt",
    "split_rounds",
    "validate",
]
