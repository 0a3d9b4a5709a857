"""`soulchat train CONFIG.yaml [--key value ...]`: supervised fine-tuning from a YAML config plus overrides.

One process on CPU or one GPU as is; many GPUs and nodes under a launcher, which sets the distributed environment:

    deepspeed --num_gpus 8 --no_local_rank -m soulchat.cli.main train config.yaml
    torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:29500 \\
        -m soulchat.cli.main train config.yaml
    accelerate launch --multi_gpu --num_processes 8 -m soulchat.cli.main train config.yaml
"""

import os
import sys
from pathlib import Path

import typer
from rich.console import Console

CONTEXT_SETTINGS = {"allow_extra_args": True, "ignore_unknown_options": True}


def _finish_distributed() -> None:
    """Ends a multi-process run cleanly: with torch's gloo backend a rank can abort at interpreter exit after a
    successful run (`terminate called without an active exception`), so destroy the group and exit at once."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.destroy_process_group()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


def train_command(
    ctx: typer.Context,
    config: Path = typer.Argument(..., exists=True, dir_okay=False, help="YAML file of training arguments."),
) -> None:
    """Fine-tune a counselling model; any training argument can follow as `--name value` (it overrides the YAML).

    Examples: `soulchat train examples/configs/tiny.yaml --max_steps 20 --output_dir runs/tiny`.
    """
    # Imported here so that `soulchat --help` and the other commands do not load transformers and DeepSpeed.
    from soulchat.training.sft_config import TrainingConfigError, load_sft_config
    from soulchat.training.workflow import run_training

    console = Console(stderr=True)
    try:
        args = load_sft_config(config, ctx.args)
    except (ValueError, OSError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    try:
        result = run_training(args)
    except TrainingConfigError as e:  # what the configuration names (splits, checkpoint) checked before any work
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    if int(os.environ.get("RANK", "0")) == 0:
        console.print(f"[green]Done.[/green] Outputs in {result.output_dir}:")
        checkpoints = ", checkpoint-*/" if any(Path(result.output_dir).glob("checkpoint-*")) else ""
        console.print(f"  model, tokenizer, trainer_state.json, train_results.json{checkpoints}")
        if result.merged_dir is not None:
            console.print(f"  merged LoRA model: {result.merged_dir}")
        metrics = ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items() if isinstance(v, float))
        console.print(f"  metrics: {metrics}")
    _finish_distributed()


__all__ = ["train_command"]
