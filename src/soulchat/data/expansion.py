"""Sample expansion: one (prompt, response) training sample per counsellor turn, in the paper's format."""

from collections.abc import Iterator

from soulchat.data.prompts import render_prompt
from soulchat.data.schema import ASSISTANT_LABEL, USER_LABEL, Dialogue


def expand_dialogue(dialogue: Dialogue) -> Iterator[dict]:
    """Yield one sample per assistant turn of a validated dialogue (alternating, user first, assistant last).

    Each sample is a dict with `id` (`"{dialogue_id}-{turn}"`), `dialogue_id`, `topic`, `turn` (1-based
    number of the counsellor turn), `prompt` (see `render_prompt`) and `response` (that counsellor turn).
    The prompt of turn k extends the prompt of turn k-1, so the whole dialogue costs one pass.
    """
    prefix = ""
    messages = dialogue.messages
    for turn, start in enumerate(range(0, len(messages) - 1, 2), start=1):
        user, reply = messages[start].content, messages[start + 1].content
        prompt = f"{prefix}{USER_LABEL}{user}\n{ASSISTANT_LABEL}"
        yield {
            "id": f"{dialogue.id}-{turn}",
            "dialogue_id": dialogue.id,
            "topic": dialogue.topic,
            "turn": turn,
            "prompt": prompt,
            "response": reply,
        }
        prefix = f"{prompt}{reply}\n"


__all__ = ["expand_dialogue", "render_prompt"]
