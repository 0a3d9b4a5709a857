"""One reply in flight: the events its consumer reads ([`ReplyStream`]) and what the worker feeds ([`ReplyJob`]).

A stream yields text deltas and ends with a [`Reply`]. It can be read from a plain thread (the terminal chat) or from
an asyncio event loop (the server): the worker thread hands events over with `call_soon_threadsafe`, so the loop is
never blocked by the model. Cancelling a stream (a client that went away) makes the worker drop its row at the next
step.
"""

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from soulchat.inference.engine.prompting import EncodedPrompt
from soulchat.inference.engine.sampling import DecodingSettings
from soulchat.inference.engine.streaming import ReplyDetokenizer
from soulchat.inference.safety import SafetyGuard


@dataclass(frozen=True)
class Reply:
    """A finished reply.

    Args:
        text (`str`): Everything the counsellor says, the AI disclaimer of a first reply included.
        finish_reason (`str`): `stop` (end of reply), `length` (`max_new_tokens` reached), `content_filter` (the
            generated reply was blocked by the safety screen and replaced) or `cancelled`.
        prompt_tokens (`int`): Ids of the model input (0 when the model was not called).
        completion_tokens (`int`): Generated ids, the end-of-reply id excluded.
        disclaimer (`str`, *optional*, defaults to `""`): The text put before the reply (disclaimer and blank line).
        safety (`str`, *optional*): `crisis` when the message got the fixed crisis reply, `blocked` when the
            generated reply was replaced.
    """

    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    disclaimer: str = ""
    safety: str | None = None

    @property
    def content(self) -> str:
        """The reply without the disclaimer: what the next prompt's history holds."""
        return self.text.removeprefix(self.disclaimer)


class ReplyStream:
    """The consumer's side of a reply: iterate over its text deltas, then read `reply`.

    Args:
        loop (`asyncio.AbstractEventLoop`, *optional*):
            The event loop that reads the stream (`async for`); without it the stream is read with `for`.
    """

    def __init__(self, *, loop: asyncio.AbstractEventLoop | None = None):
        self._loop = loop
        self._events: queue.SimpleQueue | asyncio.Queue = asyncio.Queue() if loop else queue.SimpleQueue()
        self._cancelled = threading.Event()
        self.reply: Reply | None = None

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stops the reply: the worker drops it at its next step (or never starts it)."""
        self._cancelled.set()

    def put(self, event: str | Reply | BaseException) -> None:
        """Hands an event to the consumer (worker side; thread-safe)."""
        if self._loop is None:
            self._events.put(event)
            return
        try:
            self._loop.call_soon_threadsafe(self._events.put_nowait, event)
        except RuntimeError:  # the loop is closed: nobody will read this stream any more
            self._cancelled.set()

    def _end(self, event: str | Reply | BaseException) -> str | None:
        if isinstance(event, BaseException):
            raise event
        if isinstance(event, Reply):
            self.reply = event
            return None
        return event

    def __iter__(self) -> Iterator[str]:
        while self.reply is None:
            delta = self._end(self._events.get())
            if delta:
                yield delta

    async def __aiter__(self) -> AsyncIterator[str]:
        while self.reply is None:
            delta = self._end(await self._events.get())
            if delta:
                yield delta

    async def next_event(self, timeout: float | None = None) -> str | Reply:
        """The next delta or, at the end, the [`Reply`] (from the event loop); raises `TimeoutError` after
        `timeout` seconds without an event (the stream stays usable)."""
        event = await asyncio.wait_for(self._events.get(), timeout)
        delta = self._end(event)
        return self.reply if delta is None else delta

    def result(self) -> Reply:
        """Reads the stream to its end and returns the reply."""
        for _ in self:
            pass
        return self.reply

    async def aresult(self) -> Reply:
        """Reads the stream to its end (from the event loop) and returns the reply."""
        async for _ in self:
            pass
        return self.reply


class ReplyJob:
    """A reply for the worker: it encodes its prompt, takes generated ids, streams text and screens it.

    Args:
        stream (`ReplyStream`): Where the deltas and the reply go.
        history (`list[tuple[str, str]]`): Earlier `(user, counsellor)` rounds.
        message (`str`): The current user message.
        settings (`DecodingSettings`): The decoding of this reply.
        guard (`SafetyGuard`): Screens the generated reply.
        prefix (`str`): Text put before the reply (the disclaimer of a first reply), sent with the first delta.
        conversation_id (`str`, *optional*): Logged with safety events.
        system_prompt (`str`, *optional*): The system message of this conversation (chat-template models).
    """

    def __init__(
        self,
        stream: ReplyStream,
        history: list[tuple[str, str]],
        message: str,
        settings: DecodingSettings,
        *,
        guard: SafetyGuard,
        prefix: str = "",
        conversation_id: str | None = None,
        system_prompt: str | None = None,
    ):
        self.stream = stream
        self.system_prompt = system_prompt
        self.history = history
        self.message = message
        self.settings = settings
        self.guard = guard
        self.prefix = prefix
        self.conversation_id = conversation_id
        self.input_ids: list[int] = []
        self.generator: torch.Generator | None = None
        self.completion_tokens = 0
        self.finished = False
        self._max_new_tokens = settings.max_new_tokens
        self._eos: frozenset[int] = frozenset()
        self._detokenizer: ReplyDetokenizer | None = None
        self._pending_prefix = prefix

    @property
    def cancelled(self) -> bool:
        return self.stream.cancelled

    def cancel(self) -> None:
        """Stops the reply at the next step (it ends as `cancelled`)."""
        self.stream.cancel()

    def prepare(
        self, prompt: EncodedPrompt, detokenizer: ReplyDetokenizer, *, eos_token_ids: frozenset[int], device: Any,
        max_new_tokens: int,
    ) -> None:  # fmt: skip
        """Sets the model input and the decoding state (worker side, before decoding starts)."""
        self.input_ids = prompt.input_ids
        self._detokenizer = detokenizer
        self._eos = eos_token_ids
        self._max_new_tokens = max_new_tokens
        if self.settings.seed is not None:
            self.generator = torch.Generator(device=device).manual_seed(self.settings.seed)

    def _send(self, delta: str) -> None:
        if delta:
            self.stream.put(self._pending_prefix + delta)
            self._pending_prefix = ""

    def accept(self, token_id: int) -> bool:
        """Takes the next generated id; returns whether decoding goes on for this reply."""
        if token_id in self._eos:
            self._finish("stop")
            return False
        self.completion_tokens += 1
        delta = self._detokenizer.push(token_id)
        if delta and self.guard.screen_reply(self._detokenizer.emitted, conversation_id=self.conversation_id).flagged:
            self._finish("content_filter")
            return False
        self._send(delta)
        if self.completion_tokens >= self._max_new_tokens:
            self._finish("length")
            return False
        return not self.cancelled

    def _finish(self, reason: str) -> None:
        rest = self._detokenizer.finish()
        text = self._detokenizer.text
        if reason != "content_filter" and rest:
            if self.guard.screen_reply(text, conversation_id=self.conversation_id).flagged:
                reason = "content_filter"
            else:
                self._send(rest)
        safety = None
        if reason == "content_filter":
            text, safety = self.guard.safe_reply, "blocked"
        elif self._pending_prefix:  # an empty reply: the disclaimer is still said
            self.stream.put(self._pending_prefix)
            self._pending_prefix = ""
        self.finished = True
        reply = Reply(self.prefix + text, reason, len(self.input_ids), self.completion_tokens, self.prefix, safety)
        self.stream.put(reply)

    def abort(self, error: BaseException | None) -> None:
        """Ends the reply without decoding (more): cancelled, or failed with `error`."""
        if self.finished:
            return
        self.finished = True
        if error is not None:
            self.stream.put(error)
            return
        streamed = self._detokenizer.emitted if self._detokenizer else ""
        reply = Reply(self.prefix + streamed, "cancelled", len(self.input_ids), self.completion_tokens, self.prefix)
        self.stream.put(reply)


__all__ = ["Reply", "ReplyJob", "ReplyStream"]
