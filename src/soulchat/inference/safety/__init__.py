"""The safety layer: crisis screening of user messages, screening of generated replies, and the fixed texts.

On by default; see `SafetyConfig`. A user message is flagged when a rule fires (the rules are data: `rules/*.yaml`,
documented in `rules/README.md`) or, when none does, when the learned n-gram scorer reaches its threshold
(`scorer.py`, trained by `train_scorer.py`, weights and figures in `weights/`); the labelled evaluation sets are in
`eval/`.
"""

from soulchat.inference.safety.config import SafetyConfig
from soulchat.inference.safety.evaluation import CrisisEvaluation, CrisisExample, evaluate_screen, load_crisis_eval
from soulchat.inference.safety.guard import SCORER_RULE_ID, SafetyGuard, ScreenResult
from soulchat.inference.safety.normalization import normalize_text
from soulchat.inference.safety.responses import AI_DISCLAIMER, CRISIS_RESOURCES, SAFE_REPLY, crisis_reply
from soulchat.inference.safety.rules import RuleMatch, RuleSet, SafetyRule, load_rule_file
from soulchat.inference.safety.scorer import NgramScorer, default_scorer

__all__ = [
    "AI_DISCLAIMER",
    "CRISIS_RESOURCES",
    "SAFE_REPLY",
    "SCORER_RULE_ID",
    "CrisisEvaluation",
    "CrisisExample",
    "NgramScorer",
    "RuleMatch",
    "RuleSet",
    "SafetyConfig",
    "SafetyGuard",
    "SafetyRule",
    "ScreenResult",
    "crisis_reply",
    "default_scorer",
    "evaluate_screen",
    "load_crisis_eval",
    "load_rule_file",
    "normalize_text",
]
