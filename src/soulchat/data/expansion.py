"""Sample expansion: one (prompt, response) training sample per counsellor turn, in the paper's format."""

from collections.abc import Iterator

from soulchat.data.schema import ASSISTANT_LABEL, USER_LABEL, Dialogue


def render_prompt(history: list[tuple[str, str]], query: str) -> str:
    """Render the SoulChat model input for the next counsellor reply.

    Each earlier round is `用户：{user}\\n心理咨询师：{reply}`; rounds are joined with `\\n`, then
    `用户：{query}\\n心理咨询师：` follows (for an empty history, only that).

    Args:
        history (`list[tuple[str, str]]`):
            The earlier (user, counsellor) rounds, oldest first.
        query (`str`):
            The latest user message.

    Returns:
        `str`: the prompt, always ending with `心理咨询师：`.

    Example:

    ```python
    >>> render_prompt([("你好", "你好，请说。")], "我睡不着")
    '用户：你好\\n心理咨询师：你好，请说。\\n用户：我睡不着\\n心理咨询师：'
    ```
    """
    parts = [f"{USER_LABEL}{user}\n{ASSISTANT_LABEL}{reply}\n" for user, reply in history]
    parts.append(f"{USER_LABEL}{query}\n{ASSISTANT_LABEL}")
    return "".join(parts)


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
