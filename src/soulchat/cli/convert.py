"""`soulchat convert-checkpoint`: an original ChatGLM-6B `.bin` checkpoint folder to safetensors."""

from pathlib import Path

import typer

_DTYPES = ("float32", "float16", "bfloat16")


def convert_checkpoint_command(
    src: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="The original checkpoint folder (.bin shards)."
    ),
    dst: Path = typer.Argument(..., file_okay=False, help="The safetensors folder to write."),
    dtype: str = typer.Option(
        None, "--dtype", help=f"Cast the floating-point weights to one of {', '.join(_DTYPES)} (default: keep)."
    ),
) -> None:
    """Convert a THUDM/chatglm-6b style checkpoint (or a fine-tune of it) to safetensors with native modeling files."""
    import torch

    from soulchat.models.chatglm.convert_chatglm_checkpoint import convert_checkpoint

    if dtype is not None and dtype not in _DTYPES:
        raise typer.BadParameter(f"expected one of {', '.join(_DTYPES)}, got {dtype!r}", param_hint="--dtype")
    written = convert_checkpoint(src, dst, dtype=getattr(torch, dtype) if dtype else None)
    typer.echo(f"wrote {len(written)} safetensors file(s) to {dst}")
