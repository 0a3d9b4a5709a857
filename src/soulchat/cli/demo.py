"""`soulchat demo`: the main job on the embedded default, the bundled sample corpus.

Today it prepares the sample corpus and prints the report; training, evaluation and chat join as they land.
"""

from pathlib import Path

import typer
from rich.console import Console

from soulchat.cli.report_view import print_report
from soulchat.data.bundled import sample_corpus_path
from soulchat.data.pipeline import PipelineOptions
from soulchat.data.prepare import prepare_corpus


def demo_command(
    output: Path = typer.Option(Path("runs/demo"), "--output", "-o", help="Where the demo writes its results."),
) -> None:
    """Run the SoulChat pipeline end to end on the bundled sample corpus."""
    console = Console()
    corpus = sample_corpus_path()
    console.rule("1. Prepare the bundled sample corpus")
    console.print(f"corpus: {corpus}")
    report = prepare_corpus([corpus], output / "data", options=PipelineOptions(test_fraction=0.1), overwrite=True)
    print_report(report, console)

    import datasets

    samples = datasets.load_dataset(str(output / "data"), "samples")
    console.print(f"load_dataset({str(output / 'data')!r}, 'samples') -> {dict(samples.num_rows)}")
    first = samples["train"][0]
    console.print(f"[bold]Sample {first['id']}[/bold] (topic {first['topic']}, turn {first['turn']})")
    console.print(f"[cyan]prompt[/cyan]:\n{first['prompt']}")
    console.print(f"[cyan]response[/cyan]:\n{first['response']}")
    console.print(f"Done: the prepared dataset is in {output / 'data'}")
