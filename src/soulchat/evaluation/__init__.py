"""The generation benchmark: sample a test set, generate replies in batches (resumable), score them as Table 1.

`run_evaluation(EvaluationConfig(...))` is what `soulchat evaluate` runs; the scores come from `soulchat.metrics`.
"""

from soulchat.evaluation.benchmark import format_table, run_evaluation
from soulchat.evaluation.config import EvaluationConfig
from soulchat.evaluation.generation import ReplyGenerator
from soulchat.evaluation.predictions import PredictionWriter, read_predictions
from soulchat.evaluation.prompts import chat_template_ids, prompt_messages
from soulchat.evaluation.test_set import data_files, load_test_samples, make_ids_unique, select_samples

__all__ = [
    "EvaluationConfig",
    "PredictionWriter",
    "ReplyGenerator",
    "chat_template_ids",
    "data_files",
    "format_table",
    "load_test_samples",
    "make_ids_unique",
    "prompt_messages",
    "read_predictions",
    "run_evaluation",
    "select_samples",
]
