"""The generation benchmark as one linear workflow: draw the test set, generate what is missing, score, report.

The run folder holds:

- `run.json`: the settings that decide the predictions (a later run resumes the folder only with the same ones);
- `predictions.jsonl`: `{"id", "prompt", "prediction", "reference", "dialogue_id", "topic", "turn"}` per sample,
  appended batch by batch (see `soulchat.evaluation.predictions`);
- `metrics.json`: BLEU-1..4 and ROUGE-1/2/L (the "chatglm" convention of `soulchat.metrics`), the decoding settings,
  the model and data paths, counts and speed;
- `table.md`: the scores in the layout of the SoulChat paper's Table 1.
"""

import json
import logging
import os
import time
from pathlib import Path

from tqdm.auto import tqdm
from transformers import set_seed

from soulchat import __version__
from soulchat.evaluation.config import GENERATION_KEYS, EvaluationConfig
from soulchat.evaluation.generation import ReplyGenerator
from soulchat.evaluation.predictions import PredictionWriter, read_predictions
from soulchat.evaluation.test_set import load_test_samples, select_samples
from soulchat.metrics import SCORE_KEYS, TABLE_COLUMNS, compute_scores

logger = logging.getLogger(__name__)

PREDICTIONS_FILE = "predictions.jsonl"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
TABLE_FILE = "table.md"


def _write_json(path: Path, value: dict) -> None:
    """Writes JSON through a temporary file and a rename, so the file is always whole."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def prepare_run_folder(output: Path, record: dict, *, overwrite: bool) -> dict:
    """Creates the run folder, or checks that an existing one was started with the same settings.

    Args:
        output (`Path`):
            The run folder.
        record (`dict`):
            The run's settings ([`EvaluationConfig.run_record`] with the resolved split).
        overwrite (`bool`):
            Delete another run's files instead of refusing to mix predictions.

    Returns:
        `dict`: the content of `run.json` (with the `generation` settings of an earlier run, if any).
    """
    output.mkdir(parents=True, exist_ok=True)
    run_path = output / RUN_FILE
    previous = json.loads(run_path.read_text(encoding="utf-8")) if run_path.is_file() else None
    if previous is None and (output / PREDICTIONS_FILE).exists() and not overwrite:
        raise FileExistsError(f"{output} holds {PREDICTIONS_FILE} but no {RUN_FILE}; pass --overwrite to replace it")
    if previous is not None and previous.get("settings") != record:
        old = previous.get("settings") or {}
        differing = sorted(key for key in record.keys() | old.keys() if record.get(key) != old.get(key))
        if not overwrite:
            raise FileExistsError(
                f"{output} holds a run with other settings (differing: {', '.join(differing)}); "
                "pass --overwrite to start afresh, or choose another --output"
            )
        previous = None
    if previous is None:
        for name in (PREDICTIONS_FILE, METRICS_FILE, TABLE_FILE):
            (output / name).unlink(missing_ok=True)
        previous = {"settings": record, "soulchat_version": __version__}
        _write_json(run_path, previous)
    return previous


def _prediction_record(sample: dict, prediction: str) -> dict:
    return {
        "id": sample["id"],
        "prompt": sample["prompt"],
        "prediction": prediction,
        "reference": sample["response"],
        "dialogue_id": sample["dialogue_id"],
        "topic": sample["topic"],
        "turn": sample["turn"],
    }


def generate_missing(
    generator: ReplyGenerator,
    pending: list[dict],
    path: Path,
    *,
    batch_size: int,
    total: int,
    progress: bool = True,
) -> float:
    """Generates the replies of `pending` in batches of similar length and appends each batch to `path`.

    The longest prompts go first (less padding per batch, and a too-large batch fails at once, not at the end).

    Args:
        generator ([`ReplyGenerator`]):
            The model and its decoding settings.
        pending (`list[dict]`):
            The samples still without a prediction.
        path (`Path`):
            The predictions file.
        batch_size (`int`):
            Prompts per `generate()` call.
        total (`int`):
            Size of the whole draw, for the progress bar (which starts at `total - len(pending)`).
        progress (`bool`, *optional*, defaults to `True`):
            Show a progress bar with samples/s.

    Returns:
        `float`: seconds spent generating.
    """
    ordered = sorted(pending, key=lambda sample: len(sample["prompt"]), reverse=True)
    start = time.perf_counter()
    bar = tqdm(total=total, initial=total - len(pending), unit="sample", desc="evaluate", disable=not progress)
    with PredictionWriter(path) as writer, bar:
        for first in range(0, len(ordered), batch_size):
            batch = ordered[first : first + batch_size]
            replies = generator.generate([sample["prompt"] for sample in batch])
            writer.write(_prediction_record(s, r) for s, r in zip(batch, replies, strict=True))
            bar.update(len(batch))
    return time.perf_counter() - start


def format_table(scores: dict[str, float], *, name: str, num_samples: int, decoding: str) -> str:
    """The scores as a Markdown table in the layout of the SoulChat paper's Table 1 (×100, two decimals).

    Example:

    ```python
    >>> print(format_table(dict.fromkeys(SCORE_KEYS, 12.345), name="SoulChat", num_samples=2, decoding="greedy"))
    | Model | B-1 | B-2 | B-3 | B-4 | R-1 | R-2 | R-L |
    |:--|--:|--:|--:|--:|--:|--:|--:|
    | SoulChat | 12.35 | 12.35 | 12.35 | 12.35 | 12.35 | 12.35 | 12.35 |
    <BLANKLINE>
    BLEU-1..4 on characters and ROUGE-1/2/L F on jieba words, ×100, macro mean over 2 samples; greedy decoding.
    <BLANKLINE>
    ```
    """
    header = "| Model | " + " | ".join(TABLE_COLUMNS[key] for key in SCORE_KEYS) + " |"
    rule = "|:--|" + "--:|" * len(SCORE_KEYS)
    row = f"| {name} | " + " | ".join(f"{scores[key]:.2f}" for key in SCORE_KEYS) + " |"
    caption = (
        "BLEU-1..4 on characters and ROUGE-1/2/L F on jieba words, ×100, macro mean over "
        f"{num_samples} samples; {decoding} decoding."
    )
    return f"{header}\n{rule}\n{row}\n\n{caption}\n"


def _decoding_text(config: EvaluationConfig) -> str:
    if config.greedy:
        return "greedy"
    return f"nucleus sampling (top_p {config.top_p}, temperature {config.temperature}, seed {config.seed})"


def score_run(config: EvaluationConfig, run: dict, selected: list[dict], stats: dict) -> dict:
    """Scores the predictions of `selected` and writes `metrics.json` and `table.md`; returns the metrics."""
    output = Path(config.output)
    records = read_predictions(output / PREDICTIONS_FILE)
    missing = [sample["id"] for sample in selected if sample["id"] not in records]
    if missing:
        raise RuntimeError(f"{len(missing)} samples have no prediction (first: {missing[0]})")
    ordered = [records[sample["id"]] for sample in selected]
    scores = compute_scores([r["prediction"] for r in ordered], [r["reference"] for r in ordered])
    settings = run["settings"]
    metrics = {
        "scores": scores,
        "num_samples": len(selected),
        "model": settings["model"],
        "data": settings["data"],
        "split": settings["split"],
        "seed": config.seed,
        "decoding": config.decoding(),
        "generation": run.get("generation"),
        "metric": {"convention": "chatglm", "empty": "zero", "ngram_weights": "cumulative"},
        **stats,
        "soulchat_version": __version__,
    }
    _write_json(output / METRICS_FILE, metrics)
    table = format_table(
        scores, name=Path(config.model).name, num_samples=len(selected), decoding=_decoding_text(config)
    )
    (output / TABLE_FILE).write_text(table, encoding="utf-8")
    return metrics


def load_generator(config: EvaluationConfig) -> ReplyGenerator:
    """The model, tokenizer and decoding settings of `config`, loaded onto its device."""
    return ReplyGenerator.from_pretrained(
        config.model,
        device=config.device,
        dtype=config.dtype,
        **{key: getattr(config, key) for key in GENERATION_KEYS},
    )


def run_evaluation(config: EvaluationConfig, *, generator: ReplyGenerator | None = None) -> dict:
    """Runs (or resumes) the generation benchmark of `config`.

    Args:
        config ([`EvaluationConfig`]):
            The run's settings.
        generator ([`ReplyGenerator`], *optional*):
            An already loaded model; by default `config.model` is loaded, and only when something is left to generate.

    Returns:
        `dict`: the content of `metrics.json`.
    """
    output = Path(config.output)
    samples, split = load_test_samples(config.data, split=config.split, format=config.format)
    selected = select_samples(samples, config.num_samples, config.seed)
    record = {**config.run_record(), "split": split}
    run = prepare_run_folder(output, record, overwrite=config.overwrite)
    done = read_predictions(output / PREDICTIONS_FILE)
    wanted = {sample["id"] for sample in selected}
    stray = [key for key in done if key not in wanted]
    if stray:
        raise ValueError(f"{output / PREDICTIONS_FILE} holds ids outside this draw (first: {stray[0]})")
    pending = [sample for sample in selected if sample["id"] not in done]
    logger.info("%d of %d samples to generate (%d already in %s)", len(pending), len(selected), len(done), output)
    seconds = 0.0
    if pending:
        generator = generator or load_generator(config)
        run["generation"] = generator.settings()
        _write_json(output / RUN_FILE, run)
        set_seed(config.seed)
        seconds = generate_missing(
            generator, pending, output / PREDICTIONS_FILE, batch_size=config.batch_size, total=len(selected),
            progress=config.progress,
        )  # fmt: skip
    stats = {
        "resumed": len(done),
        "generated": len(pending),
        "generation_s": round(seconds, 3),
        "samples_per_s": round(len(pending) / seconds, 3) if seconds > 0 else None,
        "batch_size": config.batch_size,
    }
    return score_run(config, run, selected, stats)


__all__ = ["format_table", "generate_missing", "load_generator", "prepare_run_folder", "run_evaluation", "score_run"]
