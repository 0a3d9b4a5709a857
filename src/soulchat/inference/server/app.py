"""The OpenAI-compatible HTTP API over the conversation engine (aiohttp).

Routes: `GET /health`, `GET /v1/models`, `POST /v1/chat/completions` (a JSON answer, or server-sent events with
`"stream": true`, ending with `data: [DONE]`). Every error is a JSON body `{"error": {...}}` with a 4xx/5xx status:
400 malformed request, 401 missing or wrong API key (`Authorization: Bearer KEY`, when a key is set), 404 unknown
route or model, 405 wrong method, 413 body over `max_request_bytes`, 503 when the engine's queue is full (with
`Retry-After`), 500 when generation failed. The handlers never wait on the model: the engine's worker thread decodes
and hands text over to the event loop. A client that goes away (a failed write, or a closed connection noticed while
waiting) cancels its reply, and the worker drops its row at the next step.

`GET /` and `/webui/...` are left free for the web page (`soulchat.inference.webui.add_webui_routes`).
"""

import asyncio
import functools
import hmac
import json
import logging
import time
from typing import Any

from aiohttp import web

from soulchat.inference.engine import ChatEngine, QueueFullError, Reply, ReplyStream
from soulchat.inference.server.protocol import (
    ChatRequest,
    ProtocolError,
    chunk_body,
    completion_body,
    error_body,
    models_body,
    new_completion_id,
    parse_chat_request,
    usage,
)

logger = logging.getLogger(__name__)

ENGINE_KEY = web.AppKey("soulchat_engine", ChatEngine)
DEFAULT_MAX_REQUEST_BYTES = 1 << 20
# How often a handler waiting for the model checks that its client is still connected.
_DISCONNECT_POLL_S = 0.25
_STATUS_TYPES = {401: "authentication_error", 404: "not_found_error", 503: "server_error", 500: "server_error"}


def _error(status: int, message: str, *, code: str | None = None, headers: dict | None = None) -> web.Response:
    body = error_body(message, error_type=_STATUS_TYPES.get(status, "invalid_request_error"), code=code)
    return web.json_response(body, status=status, headers=headers)


@web.middleware
async def _json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """Turns aiohttp's HTTP errors (404, 405, 413, ...) and refused requests into OpenAI-style JSON errors."""
    try:
        return await handler(request)
    except ProtocolError as error:
        return web.json_response(error.body(), status=error.status)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(error.status)
        headers = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        return _error(error.status, error.reason, code=code, headers=headers)


def _auth(api_key: str | None) -> Any:
    @web.middleware
    async def check_key(request: web.Request, handler: Any) -> web.StreamResponse:
        if api_key is not None and request.path.startswith("/v1/"):
            given = request.headers.get("Authorization", "")
            if not given.startswith("Bearer ") or not hmac.compare_digest(given[7:].encode(), api_key.encode()):
                return _error(401, "missing or invalid API key (Authorization: Bearer KEY)", code="invalid_api_key")
        return await handler(request)

    return check_key


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def _next(request: web.Request, stream: ReplyStream) -> str | Reply | None:
    """The stream's next event, or None once the client has disconnected (looked at before every event and while
    waiting, so that an abandoned reply stops at once even while text keeps coming)."""
    while not _gone(request):
        try:
            return await stream.next_event(_DISCONNECT_POLL_S)
        except TimeoutError:
            continue
    return None


def _sse(body: dict | str) -> bytes:
    data = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    return f"data: {data}\n\n".encode()


class _ChatApi:
    """The handlers, sharing the engine and the served model's name."""

    def __init__(self, engine: ChatEngine, model_name: str):
        self.engine = engine
        self.model_name = model_name
        self.created = int(time.time())
        self.max_tokens_limit = engine.max_length or 4096

    async def health(self, request: web.Request) -> web.Response:
        scheduler = self.engine.scheduler
        status = "ok" if scheduler.alive else "stopped"
        body = {"status": status, "model": self.model_name, "waiting": scheduler.waiting, "running": scheduler.running}
        return web.json_response(body, status=200 if scheduler.alive else 503)

    async def models(self, request: web.Request) -> web.Response:
        return web.json_response(models_body(self.model_name, self.created))

    async def _read(self, request: web.Request) -> ChatRequest:
        raw = await request.read()  # over client_max_size: 413
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ProtocolError(f"the body is not valid JSON: {error}") from None
        return parse_chat_request(
            body, model_name=self.model_name, defaults=self.engine.defaults, max_tokens_limit=self.max_tokens_limit
        )

    async def chat_completions(self, request: web.Request) -> web.StreamResponse:
        chat = await self._read(request)
        prefix = self.engine.guard.add_disclaimer("")
        history = [(user, reply.removeprefix(prefix) if prefix else reply) for user, reply in chat.history]
        completion_id = new_completion_id()
        loop = asyncio.get_running_loop()
        start = functools.partial(
            self.engine.start, history, chat.message, settings=chat.settings, conversation_id=completion_id,
            loop=loop, system_prompt=chat.system,
        )  # fmt: skip
        try:
            # In a worker thread: screening a long message takes milliseconds per thousand characters, and the event
            # loop must keep serving the other clients meanwhile.
            stream = await loop.run_in_executor(None, start)
        except QueueFullError as error:
            message = f"the server is busy ({error}); retry later"
            return _error(503, message, code="queue_full", headers={"Retry-After": "1"})
        except RuntimeError as error:  # the engine was closed (the server is shutting down)
            return _error(503, str(error), code="engine_stopped")
        try:
            if chat.stream:
                return await self._stream(request, stream, chat, completion_id)
            event = await _next(request, stream)
            while isinstance(event, str):
                event = await _next(request, stream)
            if event is None:
                return web.Response(status=499)  # the client is gone; nobody reads this
            return web.json_response(completion_body(completion_id, self.model_name, event))
        except Exception:
            logger.exception("request %s failed", completion_id)
            return _error(500, "generation failed", code="generation_failed")
        finally:
            stream.cancel()  # a no-op after the reply; otherwise the worker drops the row

    async def _stream(
        self, request: web.Request, stream: ReplyStream, chat: ChatRequest, completion_id: str
    ) -> web.StreamResponse:
        created = int(time.time())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)

        async def send(**fields: Any) -> None:
            await response.write(_sse(chunk_body(completion_id, self.model_name, created, **fields)))

        try:
            await send(delta={"role": "assistant", "content": ""})
            sent = ""
            while isinstance(event := await _next(request, stream), str):
                sent += event
                await send(delta={"content": event})
            if event is None:
                return response
            # A reply blocked by the safety screen after part of it was streamed: the replacement follows it.
            rest = event.text[len(sent) :] if event.text.startswith(sent) else "\n\n" + event.content
            if rest:
                await send(delta={"content": rest})
            await send(finish_reason=event.finish_reason)
            if chat.include_usage:
                await send(reply_usage=usage(event))
            await response.write(_sse("[DONE]"))
            await response.write_eof()
        except ConnectionResetError:
            logger.info("client of %s disconnected mid-stream; its reply is cancelled", completion_id)
        except Exception:  # the headers are sent: the error goes into the stream
            logger.exception("request %s failed mid-stream", completion_id)
            error = error_body("generation failed", error_type="server_error", code="generation_failed")
            await response.write(_sse(error))
        return response


def create_app(
    engine: ChatEngine,
    *,
    model_name: str,
    api_key: str | None = None,
    max_queue: int | None = None,
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
) -> web.Application:
    """The aiohttp app of the OpenAI-compatible API.

    Args:
        engine (`ChatEngine`):
            The conversation engine (safety layer included); the app does not close it.
        model_name (`str`):
            The model id listed by `/v1/models` and expected in requests.
        api_key (`str`, *optional*):
            When set, `/v1/*` requires `Authorization: Bearer <api_key>` (401 otherwise); `/health` stays open.
        max_queue (`int`, *optional*):
            Most requests waiting for the model (beyond it: 503); defaults to the engine's own bound.
        max_request_bytes (`int`, *optional*, defaults to 1 MiB):
            Largest request body (beyond it: 413).

    Returns:
        `aiohttp.web.Application`: with `/health`, `/v1/models`, `/v1/chat/completions`; `app[ENGINE_KEY]` is the
        engine. Add the web page with `soulchat.inference.webui.add_webui_routes(app)`.
    """
    if max_queue is not None:
        if max_queue < 1:
            raise ValueError(f"max_queue must be at least 1, got {max_queue}")
        engine.scheduler.max_queue = max_queue
    app = web.Application(client_max_size=max_request_bytes, middlewares=[_json_errors, _auth(api_key)])
    api = _ChatApi(engine, model_name)
    app[ENGINE_KEY] = engine
    app.router.add_get("/health", api.health)
    app.router.add_get("/v1/models", api.models)
    app.router.add_post("/v1/chat/completions", api.chat_completions)
    return app


__all__ = ["DEFAULT_MAX_REQUEST_BYTES", "ENGINE_KEY", "create_app"]
