"""`soulchat webui`: the browser chat page on top of the OpenAI-compatible server, one process, one engine.

    soulchat webui --model ./my-soulchat --port 7860        # then open http://127.0.0.1:7860/

The page streams every reply from the same app's `/v1/chat/completions`, so it answers exactly as `soulchat serve`
and `soulchat chat` do (the same engine builds the prompt, decodes and runs the safety layer).
"""

import logging
from pathlib import Path

import typer
from aiohttp import web

from soulchat.cli.startup import check_port_free, fail
from soulchat.inference.engine import ChatEngine, DecodingSettings
from soulchat.inference.webui import DEFAULT_TITLE, create_webui_app
from soulchat.models.loading import load_model_for_generation

logger = logging.getLogger(__name__)


def decoding_defaults(
    *, temperature: float | None, top_p: float | None, max_new_tokens: int | None, greedy: bool | None
) -> DecodingSettings:
    """The engine's decoding defaults with the options given on the command line (`None` keeps the default)."""
    given = {"temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens, "greedy": greedy}
    return DecodingSettings(**{name: value for name, value in given.items() if value is not None})


def webui_command(
    model: Path = typer.Option(
        ...,
        "--model",
        "-m",
        exists=True,
        file_okay=False,
        help="Checkpoint folder (ChatGLM-6B, or a chat-template LM).",
    ),
    host: str = typer.Option("127.0.0.1", help="Address to listen on (0.0.0.0 makes the page reachable by others)."),
    port: int = typer.Option(7860, help="Port to listen on."),
    device: str = typer.Option(None, help="Torch device (default: cuda if available, else cpu)."),
    dtype: str = typer.Option("auto", help="Model dtype: auto, float32, float16 or bfloat16 (auto: float32 on CPU)."),
    temperature: float = typer.Option(None, help="Initial temperature of the page (default: the paper's 0.95)."),
    top_p: float = typer.Option(None, help="Initial top-p of the page (default: the paper's 0.75)."),
    max_new_tokens: int = typer.Option(None, help="Initial most new tokens per reply (default: 512)."),
    greedy: bool = typer.Option(False, "--greedy", help="Start with greedy decoding ticked."),
    model_name: str = typer.Option(None, help="Model id reported by /v1/models (default: the folder name)."),
    title: str = typer.Option(DEFAULT_TITLE, help="Page title."),
) -> None:
    """Serve a browser chat page (streaming replies, decoding sliders, reset) for a checkpoint."""
    check_port_free(host, port)
    try:
        defaults = decoding_defaults(
            temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens, greedy=greedy or None
        )
        loaded, tokenizer = load_model_for_generation(model, device=device, dtype=dtype)
    except (OSError, ValueError) as error:
        fail(error)
    if host not in ("127.0.0.1", "::1", "localhost"):
        logger.warning("serving the page on %s: anyone who can reach it can use the model (no password)", host)
    with ChatEngine(loaded, tokenizer, defaults=defaults) as engine:
        app = create_webui_app(engine, model_name=model_name or model.resolve().name, title=title)
        typer.echo(f"SoulChat web page: http://{host}:{port}/", err=True)
        try:
            web.run_app(app, host=host, port=port, print=lambda text: typer.echo(text, err=True))
        except OSError as error:  # the port was taken between the check and now
            fail(f"cannot listen on {host}:{port}: {error.strerror or error}")
