"""`soulchat score`: BLEU-1..4 and ROUGE-1/2/L of a predictions file against a references file.

Both files hold one text per line: plain text (``\\n`` or ``\\r\\n`` line ends; a text cannot contain a newline), or
JSON Lines (``.jsonl``/``.json``, or a JSON array in a ``.json`` file), each item a JSON string or an object whose text
field is picked by key. A ``.txt`` file whose every line is a JSON object with one of the known fields (ChatGLM-6B
p-tuning's ``generated_predictions.txt``) is read as JSON Lines. Files are UTF-8, with or without a BOM. The scores
follow the "chatglm" convention of the SoulChat paper (see ``soulchat.metrics``).
"""

import json
import logging
import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from soulchat.metrics import EMPTY_MODES, NGRAM_WEIGHTS, SCORE_KEYS, TABLE_COLUMNS, aggregate_scores, score_pairs

# Field names tried in order; they cover LLaMA-Factory (predict/label) and ChatGLM-6B (predict/labels) outputs, the
# latter also in the JSON-per-line generated_predictions.txt of ChatGLM-6B's p-tuning script.
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


def _read_utf8(path: Path) -> str:
    """The text of a UTF-8 file, without its BOM if it has one."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); save it as UTF-8"
        ) from e


def _is_json_object_lines(content: str, keys: tuple[str, ...]) -> bool:
    """Whether every non-blank line (and there is one) is a JSON object holding one of `keys` or the known fields."""
    known = {*keys, *PREDICTION_KEYS, *REFERENCE_KEYS}
    lines = [line for line in content.split("\n") if line.strip()]
    for line in lines:
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            return False
        if not isinstance(value, dict) or not known.intersection(value):
            return False
    return bool(lines)


def _json_line_texts(path: Path, content: str, keys: tuple[str, ...]) -> list[str]:
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


def read_texts(path: Path, keys: tuple[str, ...], *, console: Console | None = None) -> list[str]:
    """Read one text per line from a plain-text or JSON Lines file.

    Args:
        path (`Path`):
            The file, UTF-8 with or without a BOM. A ``.jsonl`` or ``.json`` suffix means JSON Lines (blank lines
            ignored), or for ``.json`` a JSON array; so does any other file whose every non-blank line is a JSON
            object holding one of `keys`, `PREDICTION_KEYS` or `REFERENCE_KEYS` (such as ChatGLM-6B's
            ``generated_predictions.txt``). Anything else is plain text, where every line, blank ones included, is a
            text.
        keys (`tuple[str, ...]`):
            For JSON objects, the fields to try in order.
        console (`Console`, *optional*):
            Where to say that a file without a JSON suffix is read as JSON Lines.

    Returns:
        `list[str]`: the texts, unmodified apart from the line ends.

    Raises:
        `ValueError`: naming the file, when it is not UTF-8 or not valid JSON (Lines).
    """
    content = _read_utf8(path)
    if path.suffix.lower() == ".json" and content.lstrip().startswith("["):
        # A JSON array of strings or objects rather than JSON Lines.
        try:
            values = json.loads(content)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: invalid JSON ({e.msg})") from e
        return [_text_from_json(value, keys, f"{path}[{index}]") for index, value in enumerate(values)]
    if path.suffix.lower() in _JSON_SUFFIXES:
        return _json_line_texts(path, content, keys)
    if _is_json_object_lines(content, keys):
        if console is not None:
            console.print(f"{path}: every line is a JSON object; reading it as JSON Lines")
        return _json_line_texts(path, content, keys)
    lines = content.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the newline that ends the last line
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def check_no_empty_pair(predictions: list[str], references: list[str]) -> None:
    """Raise `ValueError` at the first pair with an empty or blank side, in the words of the command line."""
    for number, (prediction, reference) in enumerate(zip(predictions, references, strict=True), start=1):
        for side, text in (("prediction", prediction), ("reference", reference)):
            if not text.strip():
                raise ValueError(
                    f"pair {number}: the {side} is empty or blank; pass --empty zero to score its ROUGE as 0, or "
                    "--empty skip to leave such pairs out"
                )


def score_texts(
    predictions: list[str], references: list[str], *, empty: str, ngram_weights: str, num_proc: int | None
) -> tuple[dict[str, float], int]:
    """The scores of the pairs and the number of pairs scored (fewer than given with ``empty="skip"``)."""
    if not predictions and not references:
        raise ValueError("no pairs to score: both files are empty")
    if empty == "raise" and len(predictions) == len(references):
        check_no_empty_pair(predictions, references)
    per_sample = score_pairs(predictions, references, empty=empty, ngram_weights=ngram_weights, num_proc=num_proc)
    return aggregate_scores(per_sample), sum(1 for sample in per_sample if sample is not None)


def scores_json(scores: dict[str, float]) -> str:
    """The scores as JSON, a NaN (nothing scored) as ``null``."""
    return json.dumps({key: None if math.isnan(value) else value for key, value in scores.items()})


def print_scores(scores: dict[str, float], num_pairs: int, console: Console, *, skipped: int = 0) -> None:
    """Print the scores as a table in the layout of the SoulChat paper's Table 1."""
    title = f"{num_pairs} pairs (×100, macro mean)"
    if skipped:
        title = f"{num_pairs} pairs scored, {skipped} skipped (empty side) (×100, macro mean)"
    table = Table(title=title)
    for key in SCORE_KEYS:
        table.add_column(TABLE_COLUMNS[key], justify="right")
    table.add_row(*("n/a" if math.isnan(scores[key]) else f"{scores[key]:.2f}" for key in SCORE_KEYS))
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
        prediction_texts = read_texts(predictions, (pred_key,) if pred_key else PREDICTION_KEYS, console=console)
        reference_texts = read_texts(references, (ref_key,) if ref_key else REFERENCE_KEYS, console=console)
        scores, scored = score_texts(
            prediction_texts, reference_texts, empty=empty, ngram_weights=ngram_weights, num_proc=num_proc
        )
    except ValueError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    skipped = len(prediction_texts) - scored
    if as_json:
        if skipped:
            console.print(f"{scored} pairs scored, {skipped} skipped (empty side)")
        typer.echo(scores_json(scores))
        return
    print_scores(scores, scored, Console(), skipped=skipped)
