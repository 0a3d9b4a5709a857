"""`soulchat cehs export|aggregate`: the SoulChat paper's CEHS human evaluation (blinded sheets, means, Fleiss' kappa)."""

import json
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from soulchat.metrics.cehs import CEHS_DIMENSIONS, aggregate_sheets, export_sheets, read_sheet

app = typer.Typer(
    help="CEHS human evaluation: content, empathy, helpfulness (0-2) and safety (0-1).", no_args_is_help=True
)


def _parse_systems(specs: list[str]) -> dict[str, Path]:
    systems: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise typer.BadParameter(f"expected NAME=PATH, got {spec!r}", param_hint="--system")
        if name in systems:
            raise typer.BadParameter(f"system {name!r} given twice", param_hint="--system")
        systems[name] = Path(path)
    return systems


@app.command(name="export")
def export_command(
    system: Annotated[
        list[str], typer.Option(help="NAME=PATH of a system's outputs (JSONL with id, prompt, prediction); repeat.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the sheets and key.json.")],
    num_dialogues: Annotated[int | None, typer.Option(help="Dialogues to sample (default: all shared).")] = None,
    annotators: Annotated[int, typer.Option(help="Number of annotators (one sheet each).")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the sample, the item codes and the orders.")] = 42,
) -> None:
    """Write blinded, shuffled annotation sheets (CSV + offline HTML page per annotator) and the organiser's key."""
    console = Console(stderr=True)
    try:
        key = export_sheets(
            _parse_systems(system), output, num_dialogues=num_dialogues, num_annotators=annotators, seed=seed
        )
    except (ValueError, FileNotFoundError, json.JSONDecodeError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    console.print(
        f"{len(key['dialogues'])} dialogues × {len(key['systems'])} systems = {len(key['items'])} items, "
        f"{len(key['annotators'])} sheets in {output} (annotator_XX.csv / .html). Keep key.json to yourself."
    )


def _format(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def print_report(report: dict, console: Console) -> None:
    """Print per-system means and Fleiss' kappa per dimension."""
    table = Table(title=f"CEHS, {report['annotators']} annotators")
    table.add_column("system")
    for dimension in CEHS_DIMENSIONS:
        table.add_column(f"{dimension.name} (0-{dimension.max_score})", justify="right")
    table.add_column("ratings", justify="right")
    for name, summary in report["systems"].items():
        table.add_row(name, *(_format(summary[d.name]) for d in CEHS_DIMENSIONS), str(summary["ratings"]))
    table.add_row(
        "Fleiss' κ",
        *(f"{_format(report['kappa'][d.name])} (n={report['kappa_items'][d.name]})" for d in CEHS_DIMENSIONS),
        "",
    )
    console.print(table)
    if report["missing"]:
        console.print(f"[yellow]{report['missing']} ratings missing[/yellow]")


@app.command(name="aggregate")
def aggregate_command(
    sheets: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Filled sheets (CSV), one each.")],
    key: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="The key.json written by export.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Un-blind filled sheets and report per-system means and Fleiss' kappa per dimension."""
    console = Console(stderr=True)
    try:
        report = aggregate_sheets(json.loads(key.read_text(encoding="utf-8")), [read_sheet(path) for path in sheets])
    except (ValueError, KeyError, json.JSONDecodeError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    print_report(report, Console())
