"""The OpenAI chat-completions protocol: request validation and the JSON shapes of responses, chunks and errors.

Only what a counselling conversation needs is accepted: `messages` (an optional leading `system` message, then
`user` / `assistant` turns alternating, starting and ending with `user`), `temperature` (0 means greedy, as in the
OpenAI API), `top_p`, `max_tokens` / `max_completion_tokens`, `stream`, `stream_options.include_usage`, `n` (only 1)
and `seed`. Other OpenAI fields are ignored. A request that breaks these rules raises [`ProtocolError`], which the
app turns into a 4xx response with an `{"error": {"message", "type", "code", "param"}}` body.
"""

import time
import uuid
from dataclasses import dataclass
from typing import Any

from soulchat.inference.engine import DecodingSettings, Reply


class ProtocolError(Exception):
    """A request the API refuses.

    Args:
        message (`str`): What is wrong, for the client.
        status (`int`, *optional*, defaults to 400): The HTTP status.
        code (`str`, *optional*): A machine-readable code (`invalid_value`, `model_not_found`, ...).
        param (`str`, *optional*): The offending request field.
        error_type (`str`, *optional*, defaults to `"invalid_request_error"`): The OpenAI error type.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        code: str | None = None,
        param: str | None = None,
        error_type: str = "invalid_request_error",
    ):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param = param
        self.error_type = error_type

    def body(self) -> dict[str, Any]:
        return error_body(self.message, error_type=self.error_type, code=self.code, param=self.param)


def error_body(message: str, *, error_type: str, code: str | None = None, param: str | None = None) -> dict:
    """The OpenAI error JSON."""
    return {"error": {"message": message, "type": error_type, "code": code, "param": param}}


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat-completion request.

    Args:
        history (`list[tuple[str, str]]`): The earlier `(user, assistant)` rounds.
        message (`str`): The last user message.
        system (`str` or `None`): The system message.
        settings (`DecodingSettings`): The decoding asked for.
        stream (`bool`): Whether to answer with server-sent events.
        include_usage (`bool`): Whether a streamed answer ends with a usage chunk.
    """

    history: list[tuple[str, str]]
    message: str
    system: str | None
    settings: DecodingSettings
    stream: bool
    include_usage: bool


def _content(message: Any, index: int) -> tuple[str, str]:
    """The role and text of one message; content may be a string or a list of `{"type": "text"}` parts."""
    param = f"messages[{index}]"
    if not isinstance(message, dict):
        raise ProtocolError(f"{param} must be an object", param=param)
    role, content = message.get("role"), message.get("content")
    if role not in ("system", "user", "assistant"):
        raise ProtocolError(f"{param}.role must be system, user or assistant", param=f"{param}.role")
    if isinstance(content, list) and all(isinstance(p, dict) and p.get("type") == "text" for p in content):
        content = "".join(str(p.get("text", "")) for p in content)
    if not isinstance(content, str):
        raise ProtocolError(f"{param}.content must be a string or a list of text parts", param=f"{param}.content")
    return role, content


def _turns(raw: Any) -> tuple[str | None, list[tuple[str, str]], str]:
    """The system message, the earlier rounds and the last user message of `messages`."""
    if not isinstance(raw, list) or not raw:
        raise ProtocolError("messages must be a non-empty list", param="messages")
    messages = [_content(m, i) for i, m in enumerate(raw)]
    system = None
    if messages[0][0] == "system":
        system, messages = messages[0][1], messages[1:]
    expected = "user"
    for offset, (role, _) in enumerate(messages):
        if role != expected:
            index = offset + (system is not None)
            raise ProtocolError(
                f"messages[{index}] should be a {expected} message: after an optional system message, user and "
                "assistant messages alternate, starting and ending with user",
                param=f"messages[{index}].role",
            )
        expected = "assistant" if role == "user" else "user"
    if not messages or messages[-1][0] != "user":
        raise ProtocolError("the last message must be a user message", param="messages")
    if not messages[-1][1].strip():
        raise ProtocolError("the last user message is empty", param="messages")
    texts = [content for _, content in messages]
    return system, list(zip(texts[:-1:2], texts[1:-1:2], strict=True)), texts[-1]


def _number(body: dict, name: str, low: float, high: float, *, default: float, integer: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        return default
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
        kind = "an integer" if integer else "a number"
        raise ProtocolError(f"{name} must be {kind} in [{low}, {high}], got {value!r}", param=name)
    return value


def parse_chat_request(
    body: Any, *, model_name: str, defaults: DecodingSettings, max_tokens_limit: int
) -> ChatRequest:
    """Validates a `/v1/chat/completions` body.

    Args:
        body (`Any`): The decoded JSON.
        model_name (`str`): The one model served (another `model` is a 404).
        defaults (`DecodingSettings`): The decoding of fields the request leaves out.
        max_tokens_limit (`int`): The largest `max_tokens` accepted.

    Returns:
        [`ChatRequest`]

    Raises:
        `ProtocolError`: when the body breaks the protocol (status 4xx, an OpenAI error body).
    """
    if not isinstance(body, dict):
        raise ProtocolError("the request body must be a JSON object")
    if body.get("model") != model_name:
        raise ProtocolError(
            f"the model {body.get('model')!r} does not exist; this server serves {model_name!r}",
            status=404, code="model_not_found", param="model",
        )  # fmt: skip
    _number(body, "n", 1, 1, default=1, integer=True)  # one choice per request
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise ProtocolError("stream must be a boolean", param="stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise ProtocolError("stream_options must be an object", param="stream_options")
    system, history, message = _turns(body.get("messages"))
    temperature = _number(body, "temperature", 0.0, 2.0, default=defaults.temperature)
    top_p = _number(body, "top_p", 0.0, 1.0, default=defaults.top_p)
    if top_p == 0:
        raise ProtocolError("top_p must be greater than 0", param="top_p")
    name = "max_completion_tokens" if body.get("max_completion_tokens") is not None else "max_tokens"
    max_tokens = _number(body, name, 1, max_tokens_limit, default=defaults.max_new_tokens, integer=True)
    seed = _number(body, "seed", -(2**63), 2**63 - 1, default=None, integer=True)
    settings = DecodingSettings(
        temperature=temperature or defaults.temperature, top_p=top_p, top_k=defaults.top_k,
        greedy=temperature == 0 or (defaults.greedy and body.get("temperature") is None),
        max_new_tokens=max_tokens, seed=seed,
    )  # fmt: skip
    return ChatRequest(history, message, system, settings, stream, bool(options.get("include_usage", False)))


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def usage(reply: Reply) -> dict[str, int]:
    total = reply.prompt_tokens + reply.completion_tokens
    return {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens, "total_tokens": total}


def completion_body(completion_id: str, model_name: str, reply: Reply, *, created: int | None = None) -> dict:
    """The `chat.completion` object of a finished reply."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created or int(time.time()),
        "model": model_name,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": usage(reply),
    }


def chunk_body(
    completion_id: str,
    model_name: str,
    created: int,
    *,
    delta: dict[str, str] | None = None,
    finish_reason: str | None = None,
    reply_usage: dict[str, int] | None = None,
) -> dict:
    """A `chat.completion.chunk`: a delta, the final chunk with its `finish_reason`, or (no choices) the usage."""
    body: dict[str, Any] = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model_name,
        "choices": [],
    }
    if reply_usage is not None:
        body["usage"] = reply_usage
    else:
        choice = {"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish_reason}
        body["choices"].append(choice)
    return body


def models_body(model_name: str, created: int) -> dict:
    """The `/v1/models` list of the one model served."""
    return {
        "object": "list",
        "data": [{"id": model_name, "object": "model", "created": created, "owned_by": "soulchat"}],
    }


__all__ = [
    "ChatRequest",
    "ProtocolError",
    "chunk_body",
    "completion_body",
    "error_body",
    "models_body",
    "new_completion_id",
    "parse_chat_request",
    "usage",
]
