"""Rewriting prompts as data: the shipped `empathy` (SoulChat) and `smile` (SMILE / MeChat) templates, or a user's.

A template is a YAML file (see `templates/empathy.yaml`) holding the prompt text and what the parser needs to know
about the dialogue it asks for: the speaker labels, the round bounds, the sampling temperature and an optional
marker line after which the dialogue starts. A plain `.txt` file is also accepted: its text is the prompt and
everything else is taken from the `empathy` template.

The prompt's placeholders are `{question}`, `{answer}` and optionally `{topic}`. They are substituted literally
(not with `str.format`), so other braces in a template are kept as they are.
"""

import re
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import yaml

BUILTIN_TEMPLATES = ("empathy", "smile")
REQUIRED_PLACEHOLDERS = ("{question}", "{answer}")
_PLACEHOLDER = re.compile(r"\{(question|answer|topic)\}")


@dataclass(frozen=True)
class PromptTemplate:
    """A rewriting prompt and the shape of the dialogue it asks for.

    Args:
        name (`str`):
            A short name, recorded in the report.
        prompt (`str`):
            The prompt text with the `{question}` and `{answer}` placeholders (and optionally `{topic}`).
        user_label (`str`, *optional*, defaults to `"用户"`):
            The help-seeker's speaker label, without the colon.
        assistant_label (`str`, *optional*, defaults to `"心理咨询师"`):
            The counsellor's speaker label, without the colon.
        user_aliases (`tuple[str, ...]`, *optional*, defaults to `()`):
            Other labels the model may use for the help-seeker; parsed like `user_label`.
        assistant_aliases (`tuple[str, ...]`, *optional*, defaults to `()`):
            Other labels the model may use for the counsellor.
        min_rounds (`int`, *optional*, defaults to 8):
            The fewest rounds (counsellor replies) a valid dialogue has.
        max_rounds (`int`, *optional*, defaults to 20):
            The most rounds a valid dialogue has; `None` for no upper bound.
        temperature (`float`, *optional*, defaults to 0.7):
            The sampling temperature, unless the command line sets one.
        dialogue_marker (`str`, *optional*):
            A line the prompt asks the model to write right before the dialogue; the text before its last
            occurrence (the analysis) is skipped. `None` when the prompt asks for the dialogue alone.
        description (`str`, *optional*, defaults to `""`):
            One line for `--help` and the report.
    """

    name: str
    prompt: str
    user_label: str = "用户"
    assistant_label: str = "心理咨询师"
    user_aliases: tuple[str, ...] = ()
    assistant_aliases: tuple[str, ...] = ()
    min_rounds: int = 8
    max_rounds: int | None = 20
    temperature: float = 0.7
    dialogue_marker: str | None = None
    description: str = ""
    labels: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        missing = [p for p in REQUIRED_PLACEHOLDERS if p not in self.prompt]
        if missing:
            raise ValueError(f"template {self.name!r}: the prompt lacks the placeholder(s) {', '.join(missing)}")
        if not self.user_label or not self.assistant_label or self.user_label == self.assistant_label:
            raise ValueError(f"template {self.name!r}: user_label and assistant_label must be two different labels")
        if self.min_rounds < 1 or (self.max_rounds is not None and self.max_rounds < self.min_rounds):
            raise ValueError(f"template {self.name!r}: bad round bounds {self.min_rounds}..{self.max_rounds}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError(f"template {self.name!r}: temperature must be in [0, 2], got {self.temperature}")
        labels = {label: "assistant" for label in (self.assistant_label, *self.assistant_aliases)}
        labels.update({label: "user" for label in (self.user_label, *self.user_aliases)})
        object.__setattr__(self, "labels", labels)

    def render(self, *, question: str, answer: str, topic: str | None = None) -> str:
        """The prompt with the placeholders filled in.

        Example:

        ```python
        >>> template = load_template("empathy")
        >>> text = template.render(question="最近总是失眠。", answer="先试着规律作息。", topic="情绪")
        >>> "最近总是失眠。" in text and "{question}" not in text
        True

        ```
        """
        values = {"question": question, "answer": answer, "topic": topic or "未分类"}
        # One pass, so that a "{answer}" inside a question is left as the user wrote it.
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], self.prompt)

    @classmethod
    def from_dict(cls, data: dict, *, name: str) -> "PromptTemplate":
        """Build a template from a parsed YAML mapping, rejecting unknown keys."""
        known = {f for f in cls.__dataclass_fields__ if f != "labels"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(
                f"template {name!r}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        data = {"name": name, **data}
        for key in ("user_aliases", "assistant_aliases"):
            data[key] = tuple(data.get(key) or ())
        return cls(**data)


def _builtin_text(name: str) -> str:
    return resources.files("soulchat.construction").joinpath("templates", f"{name}.yaml").read_text(encoding="utf-8")


def load_template(name_or_path: str | Path) -> PromptTemplate:
    """Load a shipped template by name (`"empathy"`, `"smile"`) or a user's `.yaml` / `.txt` file.

    Args:
        name_or_path (`str` or `Path`):
            A built-in name or a path. A `.txt` file is the prompt alone; labels, bounds and temperature then come
            from the `empathy` template.

    Raises:
        `ValueError`: for an unknown name, a missing placeholder or an invalid field.
        `FileNotFoundError`: for a path that does not exist.
    """
    if str(name_or_path) in BUILTIN_TEMPLATES:
        return PromptTemplate.from_dict(yaml.safe_load(_builtin_text(str(name_or_path))), name=str(name_or_path))
    path = Path(name_or_path)
    if not path.is_file():
        raise FileNotFoundError(
            f"template {name_or_path!r} is neither a file nor one of {', '.join(BUILTIN_TEMPLATES)}"
        )
    text = path.read_text(encoding="utf-8")
    if path.suffix in (".yaml", ".yml"):
        data = yaml.safe_load(text)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: a template file must be a YAML mapping")
        return PromptTemplate.from_dict(data, name=str(data.pop("name", path.stem)))
    base = load_template("empathy")
    return replace(base, name=path.stem, prompt=text, description=f"custom prompt {path.name}")


__all__ = ["BUILTIN_TEMPLATES", "PromptTemplate", "load_template"]
