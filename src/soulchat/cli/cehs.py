"""`soulchat cehs export|aggregate`: the SoulChat paper's CEHS human evaluation (blinded sheets, means, Fleiss' kappa)."""

import hashlib
import json
import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from soulchat.metrics.cehs import CEHS_DIMENSIONS, aggregate_sheets, export_sheets, read_key, read_sheet

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
    num_dialogues: Annotated[
        int | None, typer.Option(min=1, help="Dialogues to sample (default: all shared).")
    ] = None,
    annotators: Annotated[int, typer.Option(min=1, help="Number of annotators (one sheet each).")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the sample, the item codes and the orders.")] = 42,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an earlier export's key.json and sheets in --output.")
    ] = False,
) -> None:
    """Write blinded, shuffled annotation sheets (CSV + offline HTML page per annotator) and the organiser's key."""
    console = Console(stderr=True)
    try:
        key = export_sheets(
            _parse_systems(system), output, num_dialogues=num_dialogues, num_annotators=annotators, seed=seed,
            overwrite=overwrite,
        )  # fmt: skip
    except (ValueError, OSError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    console.print(
        f"{len(key['dialogues'])} dialogues × {len(key['systems'])} systems = {len(key['items'])} items, "
        f"{len(key['annotators'])} sheets in {output} (annotator_XX.csv / .html). Keep key.json to yourself."
    )


def _format(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


def _kappa_cell(report: dict, dimension: str) -> str:
    if report["annotators"] < 2:
        return "n/a (one annotator)"
    return f"{_format(report['kappa'][dimension])} (n={report['kappa_items'][dimension]})"


def _without_nan(value: object) -> object:
    """`value` with every NaN (a mean or kappa that could not be computed) replaced by `None`, for JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Mapping):
        return {key: _without_nan(item) for key, item in value.items()}
    return value


def print_report(report: dict, console: Console) -> None:
    """Print per-system means and Fleiss' kappa per dimension."""
    count = report["annotators"]
    table = Table(title=f"CEHS, {count} annotator{'' if count == 1 else 's'}")
    table.add_column("system")
    for dimension in CEHS_DIMENSIONS:
        table.add_column(f"{dimension.name} (0-{dimension.max_score})", justify="right")
    table.add_column("ratings", justify="right")
    for name, summary in report["systems"].items():
        table.add_row(name, *(_format(summary[d.name]) for d in CEHS_DIMENSIONS), str(summary["ratings"]))
    table.add_row("Fleiss' κ", *(_kappa_cell(report, d.name) for d in CEHS_DIMENSIONS), "")
    console.print(table)
    if report["missing"]:
        console.print(f"[yellow]{report['missing']} ratings missing[/yellow]")


def _annotator_of(path: Path, annotators: list[str]) -> str | None:
    """The key's annotator whose name the file's name holds (``annotator_01.csv``, ``annotator_01_scores.csv``)."""
    match = re.search(r"annotator_\d+", path.name)
    return match.group(0) if match and match.group(0) in annotators else None


def check_sheet_files(paths: list[Path], key: Mapping, console: Console) -> None:
    """Refuses a sheet given twice (the same file, an identical copy, or two files named for the same annotator), and
    warns when there are more sheets than the key has annotators."""
    annotators = list(key.get("annotators", []))
    seen: dict[tuple[str, object], Path] = {}
    for path in paths:
        markers = {"the same file": path.resolve(), "identical": hashlib.sha256(path.read_bytes()).hexdigest()}
        annotator = _annotator_of(path, annotators)
        if annotator is not None:
            markers[f"both {annotator}'s sheet"] = annotator
        for what, marker in markers.items():
            earlier = seen.setdefault((what, marker), path)
            if earlier is not path:
                raise ValueError(f"{earlier} and {path} are {what}; give each annotator's sheet once")
    if annotators and len(paths) > len(annotators):
        console.print(
            f"[yellow]warning:[/yellow] {len(paths)} sheets but the key has {len(annotators)} annotators; "
            "is a sheet given twice?"
        )


@app.command(name="aggregate")
def aggregate_command(
    sheets: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, help="Filled sheets (CSV), one each.")],
    key: Annotated[Path, typer.Option(exists=True, dir_okay=False, help="The key.json written by export.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Un-blind filled sheets and report per-system means and Fleiss' kappa per dimension."""
    console = Console(stderr=True)
    try:
        key_data = read_key(key)
        check_sheet_files(sheets, key_data, console)
        report = aggregate_sheets(key_data, [read_sheet(path) for path in sheets], names=[str(p) for p in sheets])
    except (ValueError, KeyError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    if as_json:
        typer.echo(json.dumps(_without_nan(report), ensure_ascii=False, indent=2, allow_nan=False))
        return
    print_report(report, Console())
