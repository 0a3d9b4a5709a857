"""The one dialogue type every reader normalises to, the topics, and the Arrow/`datasets` schemas."""

from dataclasses import dataclass, field

USER = "user"
ASSISTANT = "assistant"
SYSTEM = "system"

# The 12 topics of SoulChatCorpus, in the paper's order, with their English names.
TOPICS: dict[str, str] = {
    "家庭": "Family",
    "婚恋": "Marriage",
    "性心理": "Sex",
    "成长发展": "Growth",
    "人际关系": "Relationship",
    "职场": "Career",
    "自我认知": "Self-awareness",
    "行为": "Behavior",
    "情绪": "Emotion",
    "治疗": "Treatment",
    "社会事件": "Social events",
    "心理学知识": "Psychological knowledge",
}

# The speaker labels of the SoulChat prompt; the colon is full-width (U+FF1A).
USER_LABEL = "用户："
ASSISTANT_LABEL = "心理咨询师："


@dataclass(slots=True)
class Message:
    """One utterance of a dialogue.

    Args:
        role (`str`):
            `"user"` (the help-seeker) or `"assistant"` (the counsellor).
        content (`str`):
            The utterance text, without any speaker prefix.
    """

    role: str
    content: str


@dataclass(slots=True)
class Dialogue:
    """A normalised multi-turn counselling dialogue, whatever format it was read from.

    Args:
        id (`str`):
            The record's id in its source (stringified), or `"<file stem>:<index>"` when the source has none.
        topic (`str` or `None`):
            One of `TOPICS` for SoulChatCorpus; any label (or `None`) for other corpora.
        messages (`list[Message]`):
            Alternating user/assistant messages, starting with the user and ending with the assistant once
            validated.
        system (`str`, *optional*):
            A leading system message, kept apart (PsyDTCorpus, OpenAI messages); not part of the samples.
        source (`str`, *optional*, defaults to `""`):
            The file the dialogue was read from.
        index (`int`, *optional*, defaults to 0):
            The record's 0-based position in that file (not compared between dialogues).
    """

    id: str
    topic: str | None
    messages: list[Message]
    system: str | None = None
    source: str = ""
    index: int = field(default=0, compare=False)

    def to_row(self) -> dict:
        """The dialogue as a row of the `dialogues` table."""
        return {
            "id": self.id,
            "topic": self.topic,
            "messages": [{"role": m.role, "content": m.content} for m in self.messages],
            "system": self.system,
            "source": self.source,
        }


def dialogue_features():
    """The `datasets.Features` of the `dialogues` table."""
    import datasets

    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "topic": datasets.Value("string"),
            "messages": datasets.List({"role": datasets.Value("string"), "content": datasets.Value("string")}),
            "system": datasets.Value("string"),
            "source": datasets.Value("string"),
        }
    )


def sample_features():
    """The `datasets.Features` of the `samples` table."""
    import datasets

    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "dialogue_id": datasets.Value("string"),
            "topic": datasets.Value("string"),
            "turn": datasets.Value("int32"),
            "prompt": datasets.Value("string"),
            "response": datasets.Value("string"),
        }
    )


__all__ = [
    "ASSISTANT",
    "ASSISTANT_LABEL",
    "SYSTEM",
    "TOPICS",
    "USER",
    "USER_LABEL",
    "Dialogue",
    "Message",
    "dialogue_features",
    "sample_features",
]
