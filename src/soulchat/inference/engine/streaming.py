"""Incremental detokenisation: the text deltas of a reply that grows one token at a time.

Decoding each new token on its own is wrong for SentencePiece (a piece's leading space depends on its neighbours, and
byte-fallback pieces only form a character together), so the whole id list is decoded at every step and only the part
that can no longer change is released:

- a trailing U+FFFD (an incomplete UTF-8 character of byte pieces) is held back;
- the post-processing (ChatGLM-6B's `process_response`, or `str.strip`) is applied to the whole text, and what it may
  still change is held back: trailing whitespace (stripped), a trailing half-width `,!:;?` (made full-width when a
  Chinese character follows) and an unfinished `[[训练时间]]` placeholder.

The concatenated deltas therefore equal the post-processed text of the finished reply.
"""

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)

_CHANGEABLE_END = ",!:;?"
_PLACEHOLDER = "[[训练时间]]"


def _stable_prefix(text: str) -> str:
    """`text` without the end that post-processing might still change once more tokens arrive."""
    text = text.rstrip()
    if text and text[-1] in _CHANGEABLE_END:
        text = text[:-1].rstrip()
    for start in range(max(0, len(text) - len(_PLACEHOLDER) + 1), len(text)):  # earliest possible start first
        if text[start] == "[" and _PLACEHOLDER.startswith(text[start:]):
            return text[:start].rstrip()
    return text


class ReplyDetokenizer:
    """Turns the ids of a reply, given one at a time, into text deltas.

    Args:
        tokenizer (`PreTrainedTokenizerBase`):
            Decodes the id list (special tokens skipped).
        postprocess (`Callable[[str], str]`):
            Applied to the decoded text: `process_response` for ChatGLM-6B, `str.strip` otherwise.

    Example:

    ```python
    >>> from soulchat.models.chatglm import process_response
    >>> # tokenizer: a ChatGLM-6B tokenizer; ids: the generated token ids of one reply
    >>> detokenizer = ReplyDetokenizer(tokenizer, postprocess=process_response)
    >>> deltas = [detokenizer.push(token) for token in ids]
    >>> "".join(deltas) + detokenizer.finish() == detokenizer.text
    True
    ```
    """

    def __init__(self, tokenizer: Any, *, postprocess: Callable[[str], str]):
        self.tokenizer = tokenizer
        self.postprocess = postprocess
        self.ids: list[int] = []
        self.emitted = ""
        self.text = ""

    def _decode(self) -> str:
        return self.postprocess(self.tokenizer.decode(self.ids, skip_special_tokens=True))

    def push(self, token_id: int) -> str:
        """Adds one generated id and returns the newly stable text (often empty)."""
        self.ids.append(int(token_id))
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        text = self.postprocess(text.rstrip("\ufffd"))
        stable = _stable_prefix(text)
        if len(stable) <= len(self.emitted) or not stable.startswith(self.emitted):
            return ""
        delta, self.emitted = stable[len(self.emitted) :], stable
        return delta

    def peek(self) -> str:
        """The whole post-processed text so far, held-back end included (what a screen of the reply should see)."""
        return self._decode()

    def finish(self) -> str:
        """Ends the reply: sets `text` to the post-processed reply and returns the rest not yet released."""
        self.text = self._decode()
        if not self.text.startswith(self.emitted):
            # Never seen with SentencePiece or byte-level BPE; the streamed text then differs from `text`.
            logger.warning("the streamed reply is not a prefix of the decoded reply; the stream keeps its text")
            self.text = self.emitted
        delta, self.emitted = self.text[len(self.emitted) :], self.text
        return delta


__all__ = ["ReplyDetokenizer"]
