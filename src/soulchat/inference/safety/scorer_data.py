"""The training data of the crisis scorer: the development set, written negatives, ordinary corpus turns, and
the same messages buried in longer everyday context.

Everything here is deterministic (a seeded generator, fixed halves), so `train_scorer.py` writes the same weights
from the same files. Only project-written material is used: `eval/crisis_dev.jsonl`, `train_data/negatives.jsonl`
(long ordinary counselling messages, many with crisis words in everyday use), `train_data/contexts.txt` (everyday
clauses), `train_data/written_*.jsonl` (labelled messages written for training by writers who never saw an
evaluation set) and the user turns of the *training half* of the bundled sample corpus (its even-numbered dialogues). The
odd-numbered dialogues are never trained on: they measure the false-alarm rate. The held-out sets
(`eval/crisis_test.jsonl`, `crisis_holdout.jsonl`, `crisis_blind.jsonl`, `crisis_blind2.jsonl`) are never read.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soulchat.data.bundled import sample_corpus_path
from soulchat.inference.safety.evaluation import CrisisExample, load_crisis_eval

TRAIN_DATA_DIR = Path(__file__).parent / "train_data"
NEGATIVES_PATH = TRAIN_DATA_DIR / "negatives.jsonl"
# Labelled messages written for training only (round 9 on), crisis and not, in the evaluation-set format.
WRITTEN_GLOB = "written_*.jsonl"
CONTEXTS_PATH = TRAIN_DATA_DIR / "contexts.txt"
SEED = 20261125
# A crisis sentence said in passing inside a long message is the common miss, so each crisis message is also
# trained on inside everyday context. Non-crisis messages get twice as many buried copies, so that the context
# clauses end up with no weight towards crisis (with equal copies, cross-validation showed them drifting up and
# ordinary long messages flagged). Chosen by cross-validation on these texts only.
POSITIVE_COPIES, NEGATIVE_COPIES = 1, 2


@dataclass(frozen=True)
class TrainingText:
    """One training text.

    Args:
        text (`str`): The message (raw, normalised later).
        label (`int`): 1 for crisis, 0 otherwise.
        category (`str`): The crisis category, or `none`.
        group (`int`): Texts with the same group (a message and its augmented copies, the turns of one dialogue)
            always fall in the same cross-validation fold.
        source (`str`): `dev`, `written`, `negatives`, `corpus` or `corpus_replies`, or one of the first three with
            `_augmented`.
        kind (`str`, *optional*): The labelled message's `kind` (`everyday`, `hard_negative`, ...), else empty.
    """

    text: str
    label: int
    category: str
    group: int
    source: str
    kind: str = ""


def corpus_user_turns(half: str, *, role: str = "user") -> list[list[str]]:
    """The user turns (or counsellor replies) of one half of the bundled sample corpus, one list per dialogue.

    Args:
        half (`str`): `train` (even-numbered dialogues, used for training) or `check` (odd-numbered, only for
            measuring false alarms).
        role (`str`, *optional*, defaults to `"user"`): `user` for the user turns, `assistant` for the replies.
    """
    if half not in ("train", "check"):
        raise ValueError(f"half must be 'train' or 'check', got {half!r}")
    dialogues = json.loads(sample_corpus_path().read_text(encoding="utf-8"))
    start = 0 if half == "train" else 1
    return [[m["content"] for m in d["messages"] if m["role"] == role] for d in dialogues[start::2]]


def load_contexts(path: Path = CONTEXTS_PATH) -> list[str]:
    """The everyday context clauses, one a line (`#` comments and blank lines skipped)."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def bury(text: str, contexts: list[str], rng: np.random.Generator) -> str:
    """`text` placed before, after or between one or two context clauses, joined by a comma or a full stop."""
    picked = [contexts[i] for i in rng.choice(len(contexts), size=int(rng.integers(1, 3)), replace=False)]
    position = int(rng.integers(0, len(picked) + 1))
    core = text.rstrip("。！？!?.，, ")
    parts = [*picked[:position], core, *picked[position:]]
    joined = ""
    for k, part in enumerate(parts):
        part = part.rstrip("。！？!?.，, ")
        joined += part if k == 0 else ("，" if rng.random() < 0.6 else "。") + part
    return joined + "。"


def load_written() -> list[CrisisExample]:
    """The labelled messages of `train_data/written_*.jsonl`, files in name order."""
    return [e for path in sorted(TRAIN_DATA_DIR.glob(WRITTEN_GLOB)) for e in load_crisis_eval(str(path))]


def training_texts(
    *,
    examples: list[CrisisExample] | None = None,
    negatives: list[CrisisExample] | None = None,
    written: list[CrisisExample] | None = None,
) -> list[TrainingText]:
    """All training texts, in a fixed order.

    Args:
        examples (`list[CrisisExample]`, *optional*): Labelled messages; defaults to the development set.
        negatives (`list[CrisisExample]`, *optional*): Written ordinary messages; defaults to
            `train_data/negatives.jsonl`.
        written (`list[CrisisExample]`, *optional*): Labelled messages written for training; defaults to
            `train_data/written_*.jsonl` ([`load_written`]). Pass `[]` for none.

    Returns:
        `list[TrainingText]`: The labelled messages (development set, then written), the written negatives, the
        training-half corpus turns, then the augmented copies of the labelled messages and written negatives.
    """
    examples = load_crisis_eval("dev") if examples is None else examples
    negatives = load_crisis_eval(str(NEGATIVES_PATH)) if negatives is None else negatives
    written = load_written() if written is None else written
    dialogues = corpus_user_turns("train")
    # Only the written clauses: until round 9 the sentences of the training-half corpus turns were contexts too,
    # which let every corpus turn leak into the other folds and made the cross-validated false-alarm rate 0 %.
    contexts = load_contexts()
    labelled = [(e, "dev") for e in examples] + [(e, "written") for e in written]
    texts = [TrainingText(e.text, e.label, e.category, i, source, e.kind) for i, (e, source) in enumerate(labelled)]
    examples = [e for e, _ in labelled]
    offset = len(examples)
    texts += [TrainingText(e.text, 0, "none", offset + i, "negatives") for i, e in enumerate(negatives)]
    offset += len(negatives)
    texts += [TrainingText(t, 0, "none", offset + d, "corpus") for d, turns in enumerate(dialogues) for t in turns]
    # The counsellor's replies reflect the user's feelings in the same words (气得睡不着, 很慌) without any crisis.
    replies = corpus_user_turns("train", role="assistant")
    texts += [
        TrainingText(t, 0, "none", offset + d, "corpus_replies") for d, turns in enumerate(replies) for t in turns
    ]
    rng = np.random.default_rng(SEED)
    originals = [(i, e, source) for i, (e, source) in enumerate(labelled)]
    originals += [(len(examples) + i, e, "negatives") for i, e in enumerate(negatives)]
    for group, e, source in originals:
        for _ in range(POSITIVE_COPIES if e.label else NEGATIVE_COPIES):
            augmented = bury(e.text, contexts, rng)
            texts.append(TrainingText(augmented, e.label, e.category, group, f"{source}_augmented"))
    return texts


__all__ = [
    "CONTEXTS_PATH",
    "NEGATIVES_PATH",
    "TrainingText",
    "bury",
    "corpus_user_turns",
    "load_contexts",
    "load_written",
    "training_texts",
]
