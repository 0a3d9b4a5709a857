"""The safety guard the conversation engine calls around each turn.

Per turn, the engine:

1. calls `guard.screen_message(text, conversation_id=...)`; when the result is `flagged`, it sends
   `result.reply` (the fixed crisis reply) and does not generate. The message is flagged when a rule fires or,
   when none does, when the learned n-gram scorer reaches its threshold (`SafetyConfig.use_scorer`, on by default);
   the scorer also gives a second opinion on rule hits below severity `critical`, voiding those it finds very
   unlikely to be a crisis (`SafetyConfig.scorer_second_opinion`; the bar is chosen by cross-validation);
2. otherwise generates, then calls `guard.screen_reply(reply, conversation_id=...)` and sends `result.reply`
   (the generated reply, or the safe reply when it was blocked). Screening a message of a few dozen characters takes
   well under a millisecond and grows linearly with its length (about 20 ms per thousand characters of ordinary
   text on one core), so a streaming engine can screen the growing text at each chunk and stop as soon as it is
   blocked;
3. on the first reply of a conversation, sends `guard.add_disclaimer(reply)` instead.

Every flagged message and blocked reply is logged at WARNING on the `soulchat.inference.safety.guard` logger
with the conversation id, the category, the rule id and the severity, never with any part of the text.
"""

import logging
from dataclasses import dataclass, field

from soulchat.inference.safety.config import SafetyConfig
from soulchat.inference.safety.normalization import normalize_text
from soulchat.inference.safety.responses import AI_DISCLAIMER, SAFE_REPLY, crisis_reply
from soulchat.inference.safety.rules import RuleMatch, RuleSet, default_rule_files
from soulchat.inference.safety.scorer import NgramScorer, default_scorer

logger = logging.getLogger(__name__)

SCORER_RULE_ID = "scorer.ngram"
"""The rule id logged and reported when the n-gram scorer, not a rule, flagged a message."""


@dataclass(frozen=True)
class ScreenResult:
    """The outcome of screening one message or reply. It holds no part of the screened text.

    Args:
        flagged (`bool`): Whether a rule fired (a crisis message, or a blocked reply).
        matches (`tuple[RuleMatch, ...]`, *optional*): Every rule that fired, most severe first; when only the
            n-gram scorer flagged the message, one match with the id `scorer.ngram` and severity `medium`.
        reply (`str`, *optional*): What to send: the fixed reply when flagged; for a reply that passed, the reply
            itself; `None` for a message that passed (generate as usual).
    """

    flagged: bool
    matches: tuple[RuleMatch, ...] = field(default=())
    reply: str | None = None

    @property
    def category(self) -> str | None:
        """The category of the most severe match, or `None`."""
        return self.matches[0].category if self.matches else None

    @property
    def rule_id(self) -> str | None:
        """The id of the most severe match, or `None`."""
        return self.matches[0].rule_id if self.matches else None

    @property
    def severity(self) -> str | None:
        """The severity of the most severe match, or `None`."""
        return self.matches[0].severity if self.matches else None


class SafetyGuard:
    """Screens user messages with the rule files and the n-gram scorer, and generated replies with the rule files,
    and supplies the fixed texts.

    Args:
        config (`SafetyConfig`, *optional*): What to check; defaults to everything on with the shipped rules and
            scorer.

    Example:

    ```python
    >>> guard = SafetyGuard()
    >>> result = guard.screen_message("我把药都攒起来了", conversation_id="c1")
    >>> result.flagged, result.category, "12356" in result.reply
    (True, 'suicide', True)
    >>> guard.screen_message("今天热死了").flagged
    False
    ```
    """

    def __init__(self, config: SafetyConfig | None = None):
        self.config = config if config is not None else SafetyConfig()
        files = (default_rule_files() if self.config.use_default_rules else []) + list(self.config.extra_rule_files)
        self.message_rules = RuleSet.from_files(files, target="message")
        self.reply_rules = RuleSet.from_files(files, target="reply")
        self.scorer: NgramScorer | None = None
        if self.config.use_scorer:
            weights = self.config.scorer_weights
            self.scorer = NgramScorer.from_file(weights) if weights else default_scorer()
        if self.config.enabled and self.config.screen_replies and not self.reply_rules.rules:
            logger.warning("reply screening is on but no rule file has target 'reply'; replies pass unchecked")
        if not self.config.enabled:
            logger.warning("the safety layer is disabled by configuration")

    def _on(self, flag: bool) -> bool:
        return self.config.enabled and flag

    def crisis_reply(self, category: str) -> str:
        """The fixed reply to a flagged message of `category` (the configured one, if any)."""
        return self.config.crisis_reply or crisis_reply(category)

    @property
    def safe_reply(self) -> str:
        """The reply that replaces a blocked generated reply."""
        return self.config.safe_reply or SAFE_REPLY

    @property
    def disclaimer(self) -> str | None:
        """The AI disclaimer, or `None` when it is switched off."""
        if not self._on(self.config.add_disclaimer):
            return None
        return self.config.disclaimer or AI_DISCLAIMER

    def add_disclaimer(self, reply: str) -> str:
        """`reply` with the AI disclaimer before it, for the first reply of a conversation (unchanged when off)."""
        disclaimer = self.disclaimer
        return f"{disclaimer}\n\n{reply}" if disclaimer else reply

    def screen_message(self, text: str, *, conversation_id: str | None = None) -> ScreenResult:
        """Screen a user message for crisis signals.

        Args:
            text (`str`): The user's message, as typed.
            conversation_id (`str`, *optional*): Logged with a flagged message, to find the conversation.

        Returns:
            `ScreenResult`: When flagged, `reply` is the fixed crisis reply to send instead of generating.
        """
        if not self._on(self.config.screen_messages):
            return ScreenResult(flagged=False)
        normalized = normalize_text(text)
        matches = tuple(self.message_rules.match(normalized))
        if matches and self._overruled(matches, normalized):
            logger.info(
                "safety: rule hit overruled by the scorer conversation=%s rule=%s",
                conversation_id or "-",
                matches[0].rule_id,
            )
            return ScreenResult(flagged=False)
        if not matches and self.scorer is not None:
            verdict = self.scorer(text, threshold=self.config.scorer_threshold)
            # Second tier: the scorer cannot read negation, so it never overrules an explicit denial the rules
            # recognised (我从来没想过伤害自己).
            if verdict.flagged and not self.message_rules.denied(normalized):
                matches = (RuleMatch(SCORER_RULE_ID, verdict.category, "medium"),)
        if not matches:
            return ScreenResult(flagged=False)
        result = ScreenResult(flagged=True, matches=matches, reply=self.crisis_reply(matches[0].category))
        self._log("crisis message", result, conversation_id)
        return result

    def _overruled(self, matches: tuple[RuleMatch, ...], normalized: str) -> bool:
        """Whether the scorer's second opinion voids these rule hits: none is `critical` and its probability is
        under the `overrule_below` stored with its weights."""
        scorer = self.scorer
        if scorer is None or not self.config.scorer_second_opinion or scorer.overrule_below <= 0.0:
            return False
        if any(match.severity == "critical" for match in matches):
            return False
        return scorer.probability(normalized) < scorer.overrule_below

    def screen_reply(self, reply: str, *, conversation_id: str | None = None) -> ScreenResult:
        """Screen a generated reply for self-harm method or means content.

        Args:
            reply (`str`): The generated reply (or the part streamed so far).
            conversation_id (`str`, *optional*): Logged with a blocked reply.

        Returns:
            `ScreenResult`: `reply` is the safe reply when blocked, else the generated reply unchanged.
        """
        if not self._on(self.config.screen_replies):
            return ScreenResult(flagged=False, reply=reply)
        matches = tuple(self.reply_rules.match(normalize_text(reply)))
        if not matches:
            return ScreenResult(flagged=False, reply=reply)
        result = ScreenResult(flagged=True, matches=matches, reply=self.safe_reply)
        self._log("blocked reply", result, conversation_id)
        return result

    @staticmethod
    def _log(event: str, result: ScreenResult, conversation_id: str | None) -> None:
        # Only rule metadata goes into the record: the text, and the span a rule matched, stay out of logs.
        logger.warning(
            "safety: %s conversation=%s category=%s rule=%s severity=%s rules_matched=%d",
            event,
            conversation_id or "-",
            result.category,
            result.rule_id,
            result.severity,
            len(result.matches),
        )


__all__ = ["SafetyGuard", "ScreenResult"]
