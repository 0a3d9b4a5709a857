"""The conversation engine: the next counsellor reply to a conversation, streamed, batched across conversations.

Per reply: the safety guard screens the user message (a flagged message gets the fixed crisis reply and the model
is not called); otherwise a [`ReplyJob`] is queued on the [`Scheduler`]; its worker encodes the SoulChat prompt within
budget ([`PromptEncoder`]), decodes it together with the other waiting conversations ([`decode_batch`]), streams
the post-processed text ([`ReplyDetokenizer`]) and screens it as it grows. The first reply of a conversation starts
with the AI disclaimer. The terminal chat, the HTTP server and the web page all go through this class.
"""

import asyncio
import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from soulchat.inference.engine.decoding import decode_batch
from soulchat.inference.engine.prompting import PromptEncoder
from soulchat.inference.engine.reply import Reply, ReplyJob, ReplyStream
from soulchat.inference.engine.sampling import DecodingSettings
from soulchat.inference.engine.scheduler import Scheduler
from soulchat.inference.engine.streaming import ReplyDetokenizer
from soulchat.inference.safety import SafetyConfig, SafetyGuard
from soulchat.models.chatglm import process_response
from soulchat.models.loading import check_generation_pair, end_of_reply_ids

logger = logging.getLogger(__name__)


def _max_length(config: Any) -> int | None:
    """The longest sequence the model was built for (ChatGLM `max_sequence_length`, others
    `max_position_embeddings`), if it says."""
    return getattr(config, "max_sequence_length", None) or getattr(config, "max_position_embeddings", None)


class ChatEngine:
    """Generates counsellor replies for many conversations at once.

    Args:
        model (`PreTrainedModel`):
            A [`ChatGLMForConditionalGeneration`] (quantised or not), or a causal LM whose tokenizer has a chat
            template.
        tokenizer (`PreTrainedTokenizerBase`):
            Its tokenizer (given its EOS as padding when it has no pad token).
        safety (`SafetyConfig`, *optional*):
            The safety layer's settings; on by default. Pass `SafetyConfig(enabled=False)` to switch it off.
        defaults (`DecodingSettings`, *optional*):
            Decoding of requests that give none; defaults to the paper's (top-p 0.75, temperature 0.95).
        max_batch_size (`int`, *optional*, defaults to 8):
            Most conversations decoded together (1 = one at a time).
        max_queue (`int`, *optional*, defaults to 64):
            Most replies waiting for the model; more raise [`QueueFullError`].
        max_source_length (`int`, *optional*, defaults to 1536):
            The prompt budget, as in training (ChatGLM: prompt ids + `[gMASK]`).
        system_prompt (`str`, *optional*):
            The system message of chat-template models.
        postprocess (`bool`, *optional*, defaults to `True`):
            Apply ChatGLM-6B's `process_response` to ChatGLM replies (others are stripped).

    Example:

    ```python
    >>> with ChatEngine(model, tokenizer, defaults=DecodingSettings(greedy=True)) as engine:
    ...     reply = engine.reply([], "我最近总是睡不着")
    >>> reply.finish_reason in ("stop", "length")
    True
    ```
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        safety: SafetyConfig | None = None,
        defaults: DecodingSettings | None = None,
        max_batch_size: int = 8,
        max_queue: int = 64,
        max_source_length: int = 1536,
        system_prompt: str | None = None,
        postprocess: bool = True,
    ):
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.is_chatglm = check_generation_pair(model, tokenizer, purpose="to chat with it")
        self.guard = SafetyGuard(safety)
        self.defaults = defaults or DecodingSettings()
        self.prompts = PromptEncoder(
            tokenizer, is_chatglm=self.is_chatglm, max_source_length=max_source_length, system_prompt=system_prompt
        )
        self.postprocess = (process_response if postprocess else str.strip) if self.is_chatglm else str.strip
        self.eos_token_ids = frozenset(end_of_reply_ids(model, tokenizer))
        self.max_length = _max_length(model.config)
        if self.max_length and self.defaults.max_new_tokens > self.max_length:
            logger.warning(
                "max_new_tokens %d is more than the model's length %d: replies get at most %d tokens",
                self.defaults.max_new_tokens,
                self.max_length,
                self.max_length,
            )
            self.defaults = dataclasses.replace(self.defaults, max_new_tokens=self.max_length)
        self.steps = 0
        self.row_steps = 0
        self.scheduler = Scheduler(self._run_batch, max_batch_size=max_batch_size, max_queue=max_queue)

    def start(
        self,
        history: list[tuple[str, str]],
        message: str,
        *,
        settings: DecodingSettings | None = None,
        conversation_id: str | None = None,
        loop: asyncio.AbstractEventLoop | None = None,
        system_prompt: str | None = None,
    ) -> ReplyStream:
        """Starts the reply to `message` and returns its stream at once.

        Args:
            history (`list[tuple[str, str]]`):
                Earlier `(user, counsellor)` rounds, oldest first (the counsellor's text without disclaimer).
            message (`str`):
                The user's message.
            settings (`DecodingSettings`, *optional*):
                This reply's decoding; defaults to the engine's.
            conversation_id (`str`, *optional*):
                Logged with safety events (never the text).
            loop (`asyncio.AbstractEventLoop`, *optional*):
                The event loop that will read the stream with `async for`.
            system_prompt (`str`, *optional*):
                This conversation's system message (chat-template models; ChatGLM-6B has none and ignores it).

        Returns:
            [`ReplyStream`]: its deltas, then `reply`.

        Raises:
            `QueueFullError`: when `max_queue` replies are already waiting.
        """
        stream = ReplyStream(loop=loop)
        prefix = ""
        if not history and self.guard.disclaimer:
            prefix = self.guard.add_disclaimer("")
        screen = self.guard.screen_message(message, conversation_id=conversation_id)
        if screen.flagged:
            stream.put(prefix + screen.reply)
            stream.put(Reply(prefix + screen.reply, "stop", 0, 0, prefix, "crisis"))
            return stream
        job = ReplyJob(
            stream, list(history), message, settings or self.defaults, guard=self.guard, prefix=prefix,
            conversation_id=conversation_id, system_prompt=system_prompt,
        )  # fmt: skip
        self.scheduler.submit(job)
        return stream

    def reply(
        self,
        history: list[tuple[str, str]],
        message: str,
        *,
        settings: DecodingSettings | None = None,
        conversation_id: str | None = None,
    ) -> Reply:
        """The whole reply to `message` (blocking); see [`start`]."""
        return self.start(history, message, settings=settings, conversation_id=conversation_id).result()

    def _prepare(self, job: ReplyJob) -> None:
        prompt = self.prompts.encode(job.history, job.message, system_prompt=job.system_prompt)
        if prompt.rounds_dropped:
            logger.info("the prompt kept its last rounds: %d oldest dropped", prompt.rounds_dropped)
        max_new_tokens = job.settings.max_new_tokens
        if self.max_length:
            max_new_tokens = max(1, min(max_new_tokens, self.max_length - len(prompt.input_ids)))
        job.prepare(
            prompt, ReplyDetokenizer(self.tokenizer, postprocess=self.postprocess), eos_token_ids=self.eos_token_ids,
            device=self.model.device, max_new_tokens=max_new_tokens,
        )  # fmt: skip

    def _count(self, rows: int) -> None:
        self.steps += 1
        self.row_steps += rows

    def _ready(self, jobs: list[ReplyJob]) -> list[ReplyJob]:
        """Prepares `jobs` for decoding; one that cannot be prepared (a budget too small for it) fails alone."""
        ready = []
        for job in jobs:
            try:
                self._prepare(job)
            except Exception as error:
                job.abort(error)
            else:
                ready.append(job)
        return ready

    def _run_batch(self, jobs: list[ReplyJob], admit: Callable[[int], list[ReplyJob]]) -> None:
        """Decodes a batch, letting waiting replies join it between steps (worker thread)."""
        started = list(jobs)

        def admit_ready(room: int) -> list[ReplyJob]:
            joining = admit(room)
            started.extend(joining)
            return self._ready(joining)

        decode_batch(
            self.model, self._ready(jobs), is_chatglm=self.is_chatglm, pad_token_id=self.tokenizer.pad_token_id,
            admit=admit_ready, max_rows=self.scheduler.max_batch_size, on_step=self._count,
        )  # fmt: skip
        for job in started:  # cancelled rows left the batch without a reply
            job.abort(None)

    def close(self) -> None:
        """Stops the worker thread (after the running batch)."""
        self.scheduler.close()

    def __enter__(self) -> "ChatEngine":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


__all__ = ["ChatEngine"]
