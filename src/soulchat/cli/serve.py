"""`soulchat serve`: the OpenAI-compatible HTTP API over a checkpoint (loopback by default).

Any OpenAI client talks to it (`base_url=http://127.0.0.1:8000/v1`). Concurrent requests are decoded together in
batches of up to `--max-batch-size`; at most `--max-queue` wait, beyond which the server answers 503.
"""

import ipaddress
import logging
from pathlib import Path

import typer

from soulchat.cli.startup import check_at_least, check_port_free, fail
from soulchat.inference.engine import ChatEngine, DecodingSettings
from soulchat.inference.safety import SafetyConfig
from soulchat.inference.server import DEFAULT_MAX_REQUEST_BYTES, create_app
from soulchat.models.loading import load_model_for_generation

logger = logging.getLogger(__name__)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_command(
    model: str = typer.Option(
        ...,
        "--model",
        "-m",
        help="Checkpoint folder: ChatGLM-6B (also int8/int4), or a causal LM with a chat template.",
    ),
    host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default)."),
    port: int = typer.Option(8000, help="Port to listen on."),
    api_key: str = typer.Option(None, "--api-key", help="Require `Authorization: Bearer KEY` on /v1/*."),
    model_name: str = typer.Option(None, help="Model id in the API (default: the checkpoint folder's name)."),
    max_batch_size: int = typer.Option(8, help="Most conversations decoded together."),
    max_queue: int = typer.Option(64, help="Most requests waiting for the model; beyond it: 503."),
    max_request_bytes: int = typer.Option(DEFAULT_MAX_REQUEST_BYTES, help="Largest request body; beyond it: 413."),
    temperature: float = typer.Option(0.95, help="Default sampling temperature (the paper's 0.95)."),
    top_p: float = typer.Option(0.75, help="Default nucleus sampling mass (the paper's 0.75)."),
    max_new_tokens: int = typer.Option(512, help="Default most tokens per reply."),
    greedy: bool = typer.Option(False, "--greedy", help="Greedy decoding for requests without a temperature."),
    max_source_length: int = typer.Option(1536, help="Prompt budget; older rounds are dropped beyond it."),
    device: str = typer.Option(None, help="Torch device (default: cuda if available, else cpu)."),
    dtype: str = typer.Option("auto", help="auto (float32 on CPU), float32, float16 or bfloat16."),
    no_safety: bool = typer.Option(
        False, "--no-safety", help="Switch the safety layer off (crisis screen, reply screen, AI disclaimer)."
    ),
) -> None:
    """Serve a counselling model over an OpenAI-compatible HTTP API (/v1/models, /v1/chat/completions, /health)."""
    from aiohttp import web

    check_at_least(1, max_batch_size=max_batch_size, max_queue=max_queue, max_request_bytes=max_request_bytes)
    check_at_least(2, max_source_length=max_source_length)
    check_port_free(host, port)
    try:
        defaults = DecodingSettings(temperature=temperature, top_p=top_p, greedy=greedy, max_new_tokens=max_new_tokens)
        loaded, tokenizer = load_model_for_generation(model, device=device, dtype=dtype)
    except (OSError, ValueError) as error:
        fail(error, code=1)
    if not _is_loopback(host) and api_key is None:
        logger.warning("serving on %s without --api-key: anyone who can reach it can use the model", host)
    if no_safety:
        logger.warning("--no-safety: crisis screening, reply screening and the AI disclaimer are OFF")
    try:
        engine = ChatEngine(
            loaded, tokenizer, safety=SafetyConfig(enabled=not no_safety), defaults=defaults,
            max_batch_size=max_batch_size, max_queue=max_queue, max_source_length=max_source_length,
        )  # fmt: skip
    except ValueError as error:
        fail(error)
    name = model_name or Path(model).name or "soulchat"
    app = create_app(engine, model_name=name, api_key=api_key, max_request_bytes=max_request_bytes)
    try:
        web.run_app(app, host=host, port=port, print=lambda text: typer.echo(text, err=True))
    except OSError as error:  # the port was taken between the check and now
        fail(f"cannot listen on {host}:{port}: {error.strerror or error}")
    finally:
        engine.close()
