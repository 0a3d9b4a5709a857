"""`soulchat convert-checkpoint`: an original ChatGLM-6B `.bin` folder to safetensors, optionally quantised."""

from pathlib import Path

import typer

from soulchat.cli.startup import fail

_DTYPES = ("float32", "float16", "bfloat16")
_BITS = (4, 8)


def convert_checkpoint_command(
    src: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="The original checkpoint folder (.bin shards)."
    ),
    dst: Path = typer.Argument(..., file_okay=False, help="The safetensors folder to write."),
    dtype: str = typer.Option(
        None, "--dtype", help=f"Cast the floating-point weights to one of {', '.join(_DTYPES)} (default: keep)."
    ),
    quantize: int = typer.Option(
        None,
        "--quantize",
        help="Quantise the linears of every block to 4 or 8 bits (the chatglm-6b-int4 / -int8 layout).",
    ),
    quantize_embeddings: bool = typer.Option(
        False, "--quantize-embeddings", help="With --quantize, also quantise the embeddings and head (-int4-qe)."
    ),
) -> None:
    """Convert a THUDM/chatglm-6b style checkpoint (or a fine-tune of it) to safetensors with native modeling files."""
    import torch

    from soulchat.models.chatglm.convert_chatglm_checkpoint import convert_checkpoint, quantize_checkpoint

    if dtype is not None and dtype not in _DTYPES:
        raise typer.BadParameter(f"expected one of {', '.join(_DTYPES)}, got {dtype!r}", param_hint="--dtype")
    if quantize is not None and quantize not in _BITS:
        raise typer.BadParameter(f"expected 4 or 8, got {quantize}", param_hint="--quantize")
    if quantize_embeddings and quantize is None:
        raise typer.BadParameter("needs --quantize", param_hint="--quantize-embeddings")
    torch_dtype = getattr(torch, dtype) if dtype else None
    try:
        written = convert_checkpoint(src, dst, dtype=torch_dtype)
    except (ValueError, FileNotFoundError) as error:
        fail(error)
    if quantize is not None:
        written = quantize_checkpoint(dst, quantize, quantize_embeddings=quantize_embeddings, dtype=torch_dtype)
    suffix = f", int{quantize} weights" if quantize is not None else ""
    typer.echo(f"wrote {len(written)} safetensors file(s) to {dst}{suffix}")
