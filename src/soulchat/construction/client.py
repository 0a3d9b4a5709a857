"""An async client for any OpenAI-compatible chat-completions endpoint, made for hundreds of thousands of calls.

Every request is retried on 408, 409, 429, 5xx, timeouts, dropped connections and unreadable bodies, with
exponential backoff and jitter, up to `max_attempts`; then `RequestFailed` says why. A `Retry-After` (or
`retry-after-ms`) header is honoured, and pauses every request of the client, not only the one that got it, since
a rate limit is the account's. 401, 403 and 404 mean that the whole run is misconfigured and raise `FatalAPIError`;
other 4xx fail the record at once.
"""

import asyncio
import email.utils
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import aiohttp

from soulchat.construction.config import ClientConfig

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 429})
FATAL_STATUSES = frozenset({401, 403, 404})


@dataclass(slots=True)
class Completion:
    """One successful chat completion.

    Args:
        text (`str`): The assistant message's content (`""` when the server sent none).
        finish_reason (`str` or `None`): `"stop"`, `"length"`, ... as the server reported it.
        prompt_tokens (`int`): Prompt tokens the server counted (0 when it sent no usage).
        completion_tokens (`int`): Completion tokens the server counted.
        attempts (`int`): HTTP attempts it took, 1 when the first succeeded.
    """

    text: str
    finish_reason: str | None
    prompt_tokens: int
    completion_tokens: int
    attempts: int


class RequestFailed(Exception):
    """A request that did not succeed within its attempts, or failed in a way retrying cannot fix.

    Args:
        reason (`str`): `http_<status>`, `timeout`, `connection` or `bad_response`.
        detail (`str`): What the last attempt got.
        attempts (`int`): Attempts made.
    """

    def __init__(self, reason: str, detail: str, attempts: int):
        super().__init__(f"{reason} after {attempts} attempt(s): {detail}")
        self.reason, self.detail, self.attempts = reason, detail, attempts


class FatalAPIError(RuntimeError):
    """The endpoint refuses every request (bad key, forbidden, wrong URL or model): the run stops."""


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `retry-after-ms` or `Retry-After` (seconds, possibly fractional, or an HTTP date)."""
    value = headers.get("retry-after-ms")
    if value is not None:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def parse_completion(data: object, attempts: int) -> Completion:
    """Read a chat-completions response body; raises `ValueError` when it lacks `choices[0].message`."""
    if not isinstance(data, dict) or not isinstance(data.get("choices"), list) or not data["choices"]:
        raise ValueError("the response has no choices")
    choice = data["choices"][0]
    message = choice.get("message") if isinstance(choice, dict) else None
    if not isinstance(message, dict):
        raise ValueError("choices[0] has no message")
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    text = message.get("content")
    return Completion(
        text=text if isinstance(text, str) else "",
        finish_reason=choice.get("finish_reason"),
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
        attempts=attempts,
    )


class ChatClient:
    """Sends chat completions with bounded concurrency and retries. Use as an async context manager.

    Args:
        config (`ClientConfig`): Endpoint, model, limits and retry policy.

    Example:

    ```python
    async with ChatClient(ClientConfig(base_url="http://127.0.0.1:8000/v1", model="m")) as client:
        completion = await client.complete([{"role": "user", "content": "你好"}], temperature=0.7)
    ```
    """

    def __init__(self, config: ClientConfig):
        self.config = config
        self._api_key = os.environ.get(config.api_key_env) if config.api_key_env else None
        self._semaphore = asyncio.Semaphore(config.concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._cooldown_until = 0.0
        self._rng = random.Random(config.seed)

    async def __aenter__(self) -> "ChatClient":
        connector = aiohttp.TCPConnector(limit=self.config.concurrency, limit_per_host=self.config.concurrency)
        headers = {"Content-Type": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        self._session = aiohttp.ClientSession(connector=connector, headers=headers)
        return self

    async def __aexit__(self, *exc) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based): at least `Retry-After` when given."""
        ceiling = min(self.config.backoff_max_s, self.config.backoff_base_s * 2 ** (attempt - 1))
        delay = ceiling / 2 + self._rng.uniform(0, ceiling / 2)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.config.max_retry_after_s))
        return delay

    async def complete(
        self, messages: list[dict], *, temperature: float, on_retry: Callable[[str], None] | None = None
    ) -> Completion:
        """One chat completion, retried as the policy says.

        Args:
            messages (`list[dict]`): The chat messages (`{"role", "content"}`).
            temperature (`float`): The sampling temperature.
            on_retry (`Callable[[str], None]`, *optional*): Called with the cause before each retry.

        Raises:
            `RequestFailed`: when the attempts are used up or the server rejected the request.
            `FatalAPIError`: on 401, 403 or 404.
        """
        payload: dict = {"model": self.config.model, "messages": messages, "temperature": temperature}
        if self.config.max_tokens is not None:
            payload["max_tokens"] = self.config.max_tokens
        for attempt in range(1, self.config.max_attempts + 1):
            async with self._semaphore:
                await self._wait_for_cooldown()
                result = await self._attempt(payload, attempt)
            if isinstance(result, Completion):
                return result
            cause, detail, retry_after = result
            if attempt == self.config.max_attempts:
                raise RequestFailed(cause, detail, attempt)
            if retry_after is not None:
                self._cooldown_until = max(self._cooldown_until, time.monotonic() + retry_after)
            delay = self.backoff(attempt, retry_after)
            logger.debug("retrying in %.3f s after %s: %s", delay, cause, detail)
            if on_retry is not None:
                on_retry(cause)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _wait_for_cooldown(self) -> None:
        while (wait := self._cooldown_until - time.monotonic()) > 0:
            await asyncio.sleep(min(wait, self.config.max_retry_after_s))

    async def _attempt(self, payload: dict, attempt: int) -> Completion | tuple[str, str, float | None]:
        """The completion, or `(cause, detail, retry_after)` of a retryable failure."""
        assert self._session is not None, "use ChatClient as an async context manager"
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_s)
        try:
            async with self._session.post(self.config.endpoint, json=payload, timeout=timeout) as response:
                if response.status == 200:
                    return parse_completion(await response.json(content_type=None), attempt)
                body = (await response.text(errors="replace"))[:300]
                cause = f"http_{response.status}"
                if response.status in FATAL_STATUSES:
                    raise FatalAPIError(f"{self.config.endpoint} answered {response.status}: {body}")
                if response.status not in RETRY_STATUSES and response.status < 500:
                    raise RequestFailed(cause, body, attempt)
                return cause, body, parse_retry_after(response.headers)
        except asyncio.TimeoutError:  # not the builtin TimeoutError before Python 3.11
            return "timeout", f"no complete answer within {self.config.timeout_s} s", None
        except aiohttp.ClientError as e:
            return "connection", f"{type(e).__name__}: {e}", None
        except (ValueError, TypeError) as e:  # a body that is not JSON, or JSON without choices[0].message
            return "bad_response", str(e)[:300], None


__all__ = ["ChatClient", "Completion", "FatalAPIError", "RequestFailed", "parse_completion", "parse_retry_after"]
