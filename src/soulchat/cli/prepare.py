"""`soulchat prepare`: counselling corpora in, a Hub-ready dataset folder of training samples out."""

import json
from pathlib import Path

import typer
from rich.console import Console

from soulchat.cli.report_view import print_report
from soulchat.data.cleaning import PAPER_FILTER_STRINGS, ContentFilter
from soulchat.data.formats import FORMATS, FormatError
from soulchat.data.pipeline import PipelineOptions
from soulchat.data.prepare import prepare_corpus
from soulchat.data.validation import ValidationOptions

_FORMAT_HELP = "Corpus format: auto (detect per file), " + ", ".join(FORMATS) + "."


def build_filter(
    enabled: bool, strings: list[str] | None, file: Path | None, roles: tuple[str, ...] = ("user", "assistant")
) -> ContentFilter | None:
    """The content filter asked for on the command line: the paper's list, given strings, or a file."""
    if file is not None:
        return ContentFilter.from_file(file, roles=roles)
    if strings:
        return ContentFilter(tuple(strings), roles=roles)
    return ContentFilter(PAPER_FILTER_STRINGS, roles=roles) if enabled else None


def prepare_command(
    inputs: list[Path] = typer.Argument(..., help="Corpus files or folders (searched for .json/.jsonl/.txt)."),
    output: Path = typer.Option(..., "--output", "-o", help="The dataset folder to write."),
    format: str = typer.Option("auto", "--format", "-f", help=_FORMAT_HELP),
    repair: bool = typer.Option(True, "--repair/--no-repair", help="Repair repairable defects, or reject them."),
    content_filter: bool = typer.Option(
        False,
        "--filter/--no-filter",
        help=f"Apply the paper's cleaning rule (drop dialogues containing {'/'.join(PAPER_FILTER_STRINGS)}).",
    ),
    filter_string: list[str] = typer.Option(
        None, "--filter-string", help="A string to filter on (repeatable; implies --filter)."
    ),
    filter_file: Path = typer.Option(
        None, "--filter-file", help="A file of filter strings, one a line (implies --filter)."
    ),
    filter_role: list[str] = typer.Option(
        None,
        "--filter-role",
        help="Only search these roles' messages (user, assistant; repeatable; implies --filter). Default: both.",
    ),
    deduplicate: bool = typer.Option(True, "--dedup/--no-dedup", help="Drop exact duplicate dialogues."),
    long_message_chars: int = typer.Option(2048, help="Flag messages longer than this many characters."),
    reject_long_messages: bool = typer.Option(False, help="Reject dialogues with such messages instead of flagging."),
    test_fraction: float = typer.Option(0.0, help="Share of dialogues for a test split (by content hash)."),
    seed: int = typer.Option(42, help="Salt of the split hash."),
    license: str = typer.Option("other", help="Licence id for the dataset card's metadata."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing prepared folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON instead of tables."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
) -> None:
    """Validate, repair, clean and expand corpora into Parquet samples, a dataset card and a report."""
    console = Console(stderr=as_json)
    try:
        options = PipelineOptions(
            format=format,
            validation=ValidationOptions(
                repair=repair, long_message_chars=long_message_chars, reject_long_messages=reject_long_messages
            ),
            content_filter=build_filter(
                content_filter or bool(filter_role),
                filter_string,
                filter_file,
                tuple(filter_role or ("user", "assistant")),
            ),
            deduplicate=deduplicate,
            test_fraction=test_fraction,
            seed=seed,
        )
        report = prepare_corpus(
            inputs, output, options=options, overwrite=overwrite, progress=progress, license=license
        )
    except (FormatError, FileExistsError, FileNotFoundError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    print_report(report, console)
    console.print(f"Wrote {output} in {report['elapsed_s']:.2f} s (report.json, README.md, dropped.jsonl).")
