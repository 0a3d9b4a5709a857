"""`soulchat demo`: the main job on the embedded default, the bundled sample corpus.

It prepares the sample corpus, trains a tiny ChatGLM on it (a tokenizer trained on the corpus, a few hundred steps on
CPU through the real DeepSpeed ZeRO-2 engine) with `soulchat train`, reloads the checkpoint with
`AutoModel.from_pretrained` and answers one prompt. Evaluation and chat join as they land.
"""

import subprocess
import sys
from pathlib import Path

import typer
import yaml
from rich.console import Console

from soulchat.cli.report_view import print_report
from soulchat.data.bundled import sample_corpus_path
from soulchat.data.pipeline import PipelineOptions
from soulchat.data.prepare import prepare_corpus

# The tiny model of examples/configs/tiny.yaml: 2 layers, hidden 64 (about 0.23 M parameters with its vocabulary).
TINY_CHATGLM = {
    "model_type": "chatglm",
    "hidden_size": 64,
    "num_layers": 2,
    "num_attention_heads": 4,
    "inner_hidden_size": 256,
    "max_sequence_length": 512,
}


def demo_training_config(data: Path, output: Path, *, steps: int) -> dict:
    """The training arguments of the demo run (what `soulchat train` reads from `train.yaml`)."""
    return {
        "model_init": TINY_CHATGLM,
        "tokenizer_vocab_size": 2000,
        "dataset_path": str(data),
        "eval_split": "test",
        "max_eval_samples": 8,
        "prompt_format": "chatglm",
        "max_source_length": 256,
        "max_target_length": 128,
        "output_dir": str(output),
        "per_device_train_batch_size": 8,
        "per_device_eval_batch_size": 8,
        "max_steps": steps,
        "learning_rate": 2e-3,
        "warmup_steps": max(1, steps // 10),
        "deepspeed": "zero2",
        "save_strategy": "no",
        "logging_steps": max(1, steps // 10),
        "generation_max_new_tokens": 32,
        "log_samples": 1,
        "seed": 42,
        "report_to": "none",
    }


def _train(console: Console, data: Path, output: Path, steps: int) -> None:
    """Runs `soulchat train` in a child process (DeepSpeed's process group and environment stay out of this one)."""
    config_path = output / "train.yaml"
    config_path.write_text(yaml.safe_dump(demo_training_config(data, output / "model", steps=steps)), "utf-8")
    console.print(f"config: {config_path}")
    command = [sys.executable, "-m", "soulchat.cli.main", "train", str(config_path)]
    console.print(f"$ soulchat train {config_path}")
    if subprocess.run(command).returncode != 0:
        console.print("[red]error:[/red] training failed (see above)")
        raise typer.Exit(1)


def _chat(console: Console, model_dir: Path, prompt: str) -> None:
    """Reloads the checkpoint with the Auto classes and answers `prompt`."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(model_dir)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    console.print(f"AutoModel.from_pretrained({str(model_dir)!r}) -> {type(model).__name__}")
    inputs = tokenizer([prompt], return_tensors="pt")
    torch.manual_seed(0)
    with torch.no_grad():  # the paper's decoding, plus a repetition penalty that a model this small needs
        output = model.generate(
            **inputs, max_new_tokens=48, do_sample=True, top_p=0.75, temperature=0.95, repetition_penalty=1.3
        )
    reply = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    console.print(f"[cyan]prompt[/cyan]:\n{prompt}\n[cyan]tiny model's reply[/cyan]:\n{reply}")
    console.print(
        "[dim](a model of about 0.23 M parameters trained for a minute on 313 samples: expect fragments of counselling"
        " phrases, not counselling; the point is the pipeline, which is the same for ChatGLM-6B)[/dim]"
    )


def demo_command(
    output: Path = typer.Option(Path("runs/demo"), "--output", "-o", help="Where the demo writes its results."),
    steps: int = typer.Option(400, "--steps", min=0, help="Training steps of the tiny model (0 skips training)."),
) -> None:
    """Run the SoulChat pipeline end to end on the bundled sample corpus."""
    console = Console()
    corpus = sample_corpus_path()
    console.rule("1. Prepare the bundled sample corpus")
    console.print(f"corpus: {corpus}")
    if output.exists() and not output.is_dir():
        console.print(f"[red]error:[/red] {output} is a file; --output must be a folder")
        raise typer.Exit(2)
    try:
        report = prepare_corpus([corpus], output / "data", options=PipelineOptions(test_fraction=0.1), overwrite=True)
    except (FileExistsError, OSError, ValueError) as error:  # e.g. a data/ folder that prepare did not write
        console.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from error
    print_report(report, console)

    import datasets

    samples = datasets.load_dataset(str(output / "data"), "samples")
    console.print(f"load_dataset({str(output / 'data')!r}, 'samples') -> {dict(samples.num_rows)}")
    first = samples["train"][0]
    console.print(f"[bold]Sample {first['id']}[/bold] (topic {first['topic']}, turn {first['turn']})")
    console.print(f"[cyan]prompt[/cyan]:\n{first['prompt']}")
    console.print(f"[cyan]response[/cyan]:\n{first['response']}")
    console.print(f"The prepared dataset is in {output / 'data'}")
    if steps == 0:
        return
    console.rule(f"2. Train a tiny ChatGLM for {steps} steps on CPU (DeepSpeed ZeRO-2)")
    _train(console, output / "data", output, steps)
    console.rule("3. Reload the checkpoint and answer")
    _chat(console, output / "model", samples["test"][0]["prompt"])
    console.print(f"Done. Dataset: {output / 'data'}; model, tokenizer and trainer state: {output / 'model'}")
