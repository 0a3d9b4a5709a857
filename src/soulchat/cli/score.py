"""`soulchat score`: BLEU-1..4 and ROUGE-1/2/L of a predictions file against a references file.

Both files hold one text per line: plain text (``\\n`` or ``\\r\\n`` line ends; a text cannot contain a newline), or
JSON Lines (``.jsonl``/``.json``, or a JSON array in a ``.json`` file), each item a JSON string or an object whose text
field is picked by key. The scores follow the "chatglm" convention of the SoulChat paper (see ``soulchat.metrics``).
"""

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from soulchat.metrics import EMPTY_MODES, NGRAM_WEIGHTS, SCORE_KEYS, TABLE_COLUMNS, compute_scores

# Field names tried in order; they cover LLaMA-Factory (predict/label) and ChatGLM-6B (predict/labels) outputs.
PREDICTION_KEYS = ("prediction", "predict", "pred", "text")
REFERENCE_KEYS = ("reference", "label", "labels", "ref", "text")
_PRED_KEYS_HELP = "first of " + ", ".join(PREDICTION_KEYS)
_REF_KEYS_HELP = "first of " + ", ".join(REFERENCE_KEYS)
_JSON_SUFFIXES = (".jsonl", ".json")


def _text_from_json(value: object, keys: tuple[str, ...], where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in keys:
            if key in value:
                if not isinstance(value[key], str):
                    raise ValueError(f"{where}: field {key!r} is not a string")
                return value[key]
        raise ValueError(f"{where}: none of the fields {', '.join(keys)} (choose one with --pred-key/--ref-key)")
    raise ValueError(f"{where}: expected a JSON string or object, got {type(value).__name__}")


def read_texts(path: Path, keys: tuple[str, ...]) -> list[str]:
    """Read one text per line from a plain-text or JSON Lines file.

    Args:
        path (`Path`):
            The file. A ``.jsonl`` or ``.json`` suffix means JSON Lines (blank lines ignored), or for ``.json`` a
            JSON array; anything else is plain text, where every line, blank ones included, is a text.
        keys (`tuple[str, ...]`):
            For JSON objects, the fields to try in order.

    Returns:
        `list[str]`: the texts, unmodified apart from the line ends.
    """
    content = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json" and content.lstrip().startswith("["):
        # A JSON array of strings or objects rather than JSON Lines.
        try:
            values = json.loads(content)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: invalid JSON ({e.msg})") from e
        return [_text_from_json(value, keys, f"{path}[{index}]") for index, value in enumerate(values)]
    if path.suffix.lower() in _JSON_SUFFIXES:
        texts = []
        # split("\n"), not splitlines(): a JSON string may hold a raw U+2028 or U+0085, which splitlines() breaks on.
        for number, line in enumerate(content.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{number}: invalid JSON ({e.msg})") from e
            texts.append(_text_from_json(value, keys, f"{path}:{number}"))
        return texts
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def print_scores(scores: dict[str, float], num_pairs: int, console: Console) -> None:
    """Print the scores as a table in the layout of the SoulChat paper's Table 1."""
    table = Table(title=f"{num_pairs} pairs (×100, macro mean)")
    for key in SCORE_KEYS:
        table.add_column(TABLE_COLUMNS[key], justify="right")
    table.add_row(*(f"{scores[key]:.2f}" for key in SCORE_KEYS))
    console.print(table)


def score_command(
    predictions: Annotated[
        Path, typer.Option("--predictions", "-p", exists=True, dir_okay=False, help="Predictions file.")
    ],
    references: Annotated[
        Path, typer.Option("--references", "-r", exists=True, dir_okay=False, help="References file.")
    ],
    pred_key: Annotated[
        str | None, typer.Option(help=f"JSONL field of the prediction (default: {_PRED_KEYS_HELP}).")
    ] = None,
    ref_key: Annotated[
        str | None, typer.Option(help=f"JSONL field of the reference (default: {_REF_KEYS_HELP}).")
    ] = None,
    empty: Annotated[str, typer.Option(help=f"Pairs with an empty side: {' | '.join(EMPTY_MODES)}.")] = "zero",
    ngram_weights: Annotated[str, typer.Option(help=f"BLEU-n weights: {' | '.join(NGRAM_WEIGHTS)}.")] = "cumulative",
    num_proc: Annotated[int | None, typer.Option(help="Processes (default: all CPUs from 2,000 pairs on).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON instead of a table.")] = False,
) -> None:
    """Score predictions against references: BLEU-1..4 on characters, ROUGE-1/2/L on jieba words (SoulChat Table 1)."""
    console = Console(stderr=True)
    logging.getLogger("jieba").setLevel(logging.WARNING)  # its dictionary-loading chatter is not for the user
    try:
        prediction_texts = read_texts(predictions, (pred_key,) if pred_key else PREDICTION_KEYS)
        reference_texts = read_texts(references, (ref_key,) if ref_key else REFERENCE_KEYS)
        scores = compute_scores(
            prediction_texts, reference_texts, empty=empty, ngram_weights=ngram_weights, num_proc=num_proc
        )
    except (ValueError, UnicodeDecodeError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    if as_json:
        typer.echo(json.dumps(scores))
        return
    print_scores(scores, len(prediction_texts), Console())
