"""The generation benchmark as one linear workflow: draw the test set, generate what is missing, score, report.

The run folder holds:

- `run.json`: the settings that decide the predictions and the size and SHA-256 of the data files (a later run
  resumes the folder only with the same ones);
- `predictions.jsonl`: `{"id", "prompt", "prediction", "reference", "dialogue_id", "topic", "turn"}` per sample,
  appended batch by batch (see `soulchat.evaluation.predictions`);
- `metrics.json`: BLEU-1..4 and ROUGE-1/2/L (the "chatglm" convention of `soulchat.metrics`), the decoding settings,
  the model and data paths, counts and speed;
- `table.md`: the scores in the layout of the SoulChat paper's Table 1.
"""

import logging
import time
from pathlib import Path

from tqdm.auto import tqdm
from transformers import set_seed

from soulchat import __version__
from soulchat.evaluation.config import GENERATION_KEYS, EvaluationConfig
from soulchat.evaluation.generation import ReplyGenerator
from soulchat.evaluation.predictions import PredictionWriter, read_predictions
from soulchat.evaluation.run_folder import (
    METRICS_FILE,
    PREDICTIONS_FILE,
    RUN_FILE,
    TABLE_FILE,
    check_run_folder,
    start_run_folder,
    write_json,
)
from soulchat.evaluation.test_set import data_files, load_test_samples, select_samples
from soulchat.metrics import SCORE_KEYS, TABLE_COLUMNS, compute_scores
from soulchat.models.loading import check_model_path

logger = logging.getLogger(__name__)


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
    write_json(output / METRICS_FILE, metrics)
    table = format_table(
        scores, name=Path(config.model).name, num_samples=len(selected), decoding=_decoding_text(config)
    )
    (output / TABLE_FILE).write_text(table, encoding="utf-8")
    return metrics


def load_generator(config: EvaluationConfig) -> ReplyGenerator:
    """The model, tokenizer and decoding settings of `config`, loaded onto its device.

    Raises:
        `FileNotFoundError`: when `config.model` is neither a folder nor a model that the Hub (or its cache) has.
    """
    check_model_path(config.model)
    try:
        return ReplyGenerator.from_pretrained(
            config.model,
            device=config.device,
            dtype=config.dtype,
            **{key: getattr(config, key) for key in GENERATION_KEYS},
        )
    except OSError as e:
        if Path(config.model).exists():
            raise
        reason = str(e).strip().split("\n")[0]
        raise FileNotFoundError(
            f"model folder {config.model} not found, nor loadable as a Hugging Face Hub model ({reason})"
        ) from e


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
    data = data_files(config.data)
    previous = check_run_folder(output, record, data=data, overwrite=config.overwrite)
    done = read_predictions(output / PREDICTIONS_FILE) if previous is not None else {}
    wanted = {sample["id"] for sample in selected}
    stray = [key for key in done if key not in wanted]
    if stray:
        raise ValueError(f"{output / PREDICTIONS_FILE} holds ids outside this draw (first: {stray[0]})")
    pending = [sample for sample in selected if sample["id"] not in done]
    logger.info("%d of %d samples to generate (%d already in %s)", len(pending), len(selected), len(done), output)
    if pending:
        # Loaded before the run folder is written, so that a wrong --model leaves no run.json behind.
        generator = generator or load_generator(config)
    run = start_run_folder(output, record, previous, data=data)
    seconds = 0.0
    if pending:
        run["generation"] = generator.settings()
        write_json(output / RUN_FILE, run)
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


__all__ = ["TABLE_FILE", "format_table", "generate_missing", "load_generator", "run_evaluation", "score_run"]
