"""Rich rendering of a preparation report for the terminal."""

from rich.console import Console
from rich.table import Table

from soulchat.data.validation import DEFECTS


def print_report(report: dict, console: Console) -> None:
    """Print the counts of a `prepare` report as tables."""
    status = Table(title="Records", show_edge=False)
    for col in ("read", "accepted", "repaired", "rejected", "filtered", "duplicates"):
        status.add_column(col, justify="right")
    status.add_row(
        *(str(report[k]) for k in ("records_read", "accepted", "repaired", "rejected", "filtered", "duplicate"))
    )
    console.print(status)

    out = Table(title="Output", show_edge=False)
    for col in ("split", "dialogues", "samples"):
        out.add_column(col, justify="right")
    for split in sorted(report["dialogues"]):
        out.add_row(split, str(report["dialogues"][split]), str(report["samples"].get(split, 0)))
    console.print(out)

    if report["repairs"] or report["rejections"]:
        defects = Table(title="Defects", show_edge=False)
        for col in ("defect", "repaired", "rejected", "meaning"):
            defects.add_column(col)
        for name in sorted(set(report["repairs"]) | set(report["rejections"])):
            defects.add_row(
                name,
                str(report["repairs"].get(name, 0)),
                str(report["rejections"].get(name, 0)),
                DEFECTS.get(name, ""),
            )
        console.print(defects)
    if report["flags"]:
        console.print("Flags: " + ", ".join(f"{k} {v}" for k, v in report["flags"].items()))
    if report["filter_matches"]:
        console.print("Content filter: " + ", ".join(f"{k} {v}" for k, v in report["filter_matches"].items()))

    topics = Table(title="Topics", show_edge=False)
    for col in ("topic", "dialogues", "samples"):
        topics.add_column(col, justify="right")
    for topic, counts in report["topics"].items():
        topics.add_row(topic or "(none)", str(counts["dialogues"]), str(counts["samples"]))
    console.print(topics)
    for example in report["examples"][:5]:
        console.print(
            f"[dim]{example['status']}: {example['file']} record {example['index']} (id {example['id']}): "
            f"{example['reason']}: {example['detail']}[/dim]"
        )


__all__ = ["print_report"]
