"""The sample corpus shipped with soulchat: 60 dialogues written by the project, 5 per topic, 4-10 rounds each."""

from importlib import resources
from pathlib import Path


def sample_corpus_path() -> Path:
    """The path of the bundled sample corpus, a SoulChatCorpus-format JSON array."""
    return Path(str(resources.files("soulchat.data") / "corpus" / "soulchat_sample.json"))


__all__ = ["sample_corpus_path"]
