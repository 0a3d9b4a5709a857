"""Configuration of the safety layer.

The layer is on by default; switching any part of it off has to be written down in a config.
"""

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass
class SafetyConfig:
    """What the safety layer does around each turn of a conversation.

    Args:
        enabled (`bool`, *optional*, defaults to `True`):
            Master switch. `False` turns every check and the disclaimer off, whatever the other fields say.
        screen_messages (`bool`, *optional*, defaults to `True`):
            Screen each user message for crisis signals before generating, and answer a flagged one with the
            fixed crisis reply.
        screen_replies (`bool`, *optional*, defaults to `True`):
            Screen each generated reply for self-harm method or means content, and replace a blocked one.
        add_disclaimer (`bool`, *optional*, defaults to `True`):
            State in the first reply of a conversation that the counsellor is an AI, not a professional.
        use_default_rules (`bool`, *optional*, defaults to `True`):
            Load the shipped rule files (`rules/*.yaml`). With `False`, only `extra_rule_files` are used (the
            scorer is switched by `use_scorer` alone).
        extra_rule_files (`tuple[str, ...]`, *optional*, defaults to `()`):
            More YAML rule files in the shipped format, loaded after the shipped ones.
        use_scorer (`bool`, *optional*, defaults to `True`):
            When no rule fires, also ask the learned character n-gram scorer (`scorer.py`), which catches many
            crisis phrasings the rules do not list (figures in `weights/README.md`). `False` leaves the rules
            alone: no false alarm on the sample corpus, and a quarter to a third of held-out crisis messages missed.
        scorer_threshold (`float`, *optional*):
            Probability from which the scorer flags a message; defaults to the one stored with its weights.
        scorer_weights (`str`, *optional*):
            Another weights file written by `train_scorer.py`; defaults to the shipped one.
        scorer_second_opinion (`bool`, *optional*, defaults to `True`):
            With the scorer on, a rule hit below severity `critical` stands only when the scorer's probability
            reaches the `overrule_below` stored with its weights (chosen by cross-validation so that it drops many
            of the rules' false alarms, such as recovered stories, and almost no crisis). `critical` hits always
            stand.
        crisis_reply (`str`, *optional*):
            Replaces the shipped crisis replies (all categories). Keep crisis resources in it.
        safe_reply (`str`, *optional*):
            Replaces the shipped reply used when a generated reply is blocked.
        disclaimer (`str`, *optional*):
            Replaces the shipped AI disclaimer.

    Example:

    ```python
    >>> SafetyConfig().enabled
    True
    >>> SafetyConfig.from_dict({"screen_replies": False}).screen_replies
    False
    ```
    """

    enabled: bool = field(default=True, metadata={"help": "Master switch of the safety layer (off only explicitly)."})
    screen_messages: bool = field(default=True, metadata={"help": "Screen user messages for crisis signals."})
    screen_replies: bool = field(default=True, metadata={"help": "Screen generated replies for self-harm means."})
    add_disclaimer: bool = field(default=True, metadata={"help": "State the AI disclaimer in the first reply."})
    use_default_rules: bool = field(default=True, metadata={"help": "Load the shipped rule files."})
    extra_rule_files: tuple[str, ...] = field(default=(), metadata={"help": "More YAML rule files to load."})
    use_scorer: bool = field(default=True, metadata={"help": "Also ask the n-gram scorer when no rule fires."})
    scorer_threshold: float | None = field(default=None, metadata={"help": "Scorer threshold in (0, 1)."})
    scorer_weights: str | None = field(default=None, metadata={"help": "Custom scorer weights file."})
    scorer_second_opinion: bool = field(
        default=True, metadata={"help": "Let the scorer overrule non-critical rule hits it finds very unlikely."}
    )
    crisis_reply: str | None = field(default=None, metadata={"help": "Custom reply to a flagged message."})
    safe_reply: str | None = field(default=None, metadata={"help": "Custom reply replacing a blocked reply."})
    disclaimer: str | None = field(default=None, metadata={"help": "Custom AI disclaimer text."})

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(f.default, bool) and not isinstance(value, bool):
                raise TypeError(f"SafetyConfig.{f.name} must be a bool, got {value!r}")
            is_text = f.name in ("crisis_reply", "safe_reply", "disclaimer")
            if is_text and value is not None and (not isinstance(value, str) or not value.strip()):
                raise ValueError(f"SafetyConfig.{f.name} must be a non-empty string or None")
        if isinstance(self.extra_rule_files, (str, Path)):
            raise TypeError("SafetyConfig.extra_rule_files must be a list of paths, not one path")
        self.extra_rule_files = tuple(str(p) for p in self.extra_rule_files)
        missing = [p for p in self.extra_rule_files if not Path(p).is_file()]
        if missing:
            raise FileNotFoundError(f"safety rule files not found: {missing}")
        if not self.use_default_rules and not self.extra_rule_files and self.enabled and self.screen_messages:
            raise ValueError("use_default_rules=False needs extra_rule_files, or screen_messages=False")
        if self.scorer_threshold is not None and not 0.0 < self.scorer_threshold < 1.0:
            raise ValueError(f"SafetyConfig.scorer_threshold must be in (0, 1), got {self.scorer_threshold!r}")
        if self.scorer_weights is not None and not Path(self.scorer_weights).is_file():
            raise FileNotFoundError(f"scorer weights not found: {self.scorer_weights}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "SafetyConfig":
        """Build a config from a mapping (a YAML section), rejecting unknown keys."""
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown safety config keys: {sorted(unknown)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The config as a plain mapping, ready for YAML."""
        values = asdict(self)
        values["extra_rule_files"] = list(self.extra_rule_files)
        return values


__all__ = ["SafetyConfig"]
