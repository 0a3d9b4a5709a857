"""`soulchat evaluate`: generate replies to a test set with a checkpoint and score them as in the paper's Table 1.

The run folder (`--output`) is resumable: run the same command again after an interruption and only the missing
samples are generated.
"""

import json
import logging
from pathlib import Path

import typer
from rich.console import Console

from soulchat.data.formats import FORMATS, FormatError
from soulchat.evaluation import EvaluationConfig, run_evaluation
from soulchat.evaluation.benchmark import TABLE_FILE
from soulchat.evaluation.config import DTYPES

_FORMAT_HELP = "Corpus format of a --data file: auto (detect), " + ", ".join(FORMATS) + "."


def evaluate_command(
    model: str = typer.Option(
        ..., "--model", "-m", help="Checkpoint folder: ChatGLM-6B, or a causal LM with a chat template."
    ),
    data: Path = typer.Option(..., "--data", "-d", exists=True, help="A `soulchat prepare` folder or a corpus file."),
    output: Path = typer.Option(..., "--output", "-o", help="Run folder (predictions.jsonl, metrics.json, table.md)."),
    split: str = typer.Option(None, help="Split of a prepared folder (default: test if present, else train)."),
    format: str = typer.Option("auto", "--format", "-f", help=_FORMAT_HELP),
    num_samples: int = typer.Option(10000, help="Samples drawn from the test set (0: all)."),
    seed: int = typer.Option(42, help="Seed of the draw and of sampling."),
    greedy: bool = typer.Option(False, "--greedy", help="Greedy decoding instead of nucleus sampling."),
    top_p: float = typer.Option(0.75, help="Nucleus sampling mass (the paper's 0.75)."),
    temperature: float = typer.Option(0.95, help="Sampling temperature (the paper's 0.95)."),
    batch_size: int = typer.Option(8, help="Prompts generated together (left-padded)."),
    max_new_tokens: int = typer.Option(512, help="Most tokens generated per reply."),
    max_prompt_tokens: int = typer.Option(1536, help="Most prompt tokens; longer prompts lose their oldest part."),
    system_prompt: str = typer.Option(None, help="System message of chat-template prompts (as in training)."),
    postprocess: bool = typer.Option(
        True, "--postprocess/--no-postprocess", help="Apply ChatGLM-6B's process_response to ChatGLM replies."
    ),
    device: str = typer.Option(None, help="Torch device (default: cuda if available, else cpu)."),
    dtype: str = typer.Option("auto", help=f"Model dtype: {', '.join(DTYPES)} (auto: float32 on CPU)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Discard another run's files in --output."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics.json instead of the table."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar with samples/s."),
) -> None:
    """Generate replies to a test set with a checkpoint (resumable) and report BLEU-1..4 and ROUGE-1/2/L."""
    console = Console(stderr=True)
    logging.getLogger("jieba").setLevel(logging.WARNING)  # its dictionary-loading chatter is not for the user
    try:
        config = EvaluationConfig(
            model=model, data=str(data), output=str(output), split=split, format=format, num_samples=num_samples,
            seed=seed, greedy=greedy, top_p=top_p, temperature=temperature, batch_size=batch_size,
            max_new_tokens=max_new_tokens, max_prompt_tokens=max_prompt_tokens, system_prompt=system_prompt,
            postprocess=postprocess, device=device, dtype=dtype, overwrite=overwrite, progress=progress,
        )  # fmt: skip
        metrics = run_evaluation(config)
    except (FormatError, OSError, ValueError) as e:  # OSError: FileExistsError, FileNotFoundError, a bad checkpoint
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    if as_json:
        typer.echo(json.dumps(metrics, ensure_ascii=False, indent=2))
        return
    typer.echo((output / TABLE_FILE).read_text(encoding="utf-8"), nl=False)
    console.print(
        f"Wrote {output}: {metrics['generated']} generated, {metrics['resumed']} resumed "
        f"({metrics['samples_per_s'] or '-'} samples/s)."
    )
