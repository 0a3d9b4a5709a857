"""`soulchat construct`: single-turn counselling QA in, multi-turn empathetic dialogues out, through any
OpenAI-compatible LLM; resumable (run the same command again after a stop) and validated."""

import asyncio
import json
from pathlib import Path

import typer
from rich.console import Console
from tqdm import tqdm

from soulchat.cli.prepare import build_filter
from soulchat.construction.client import FatalAPIError
from soulchat.construction.config import CheckConfig, CleaningConfig, ClientConfig, ConstructionConfig, load_prices
from soulchat.construction.report import ConstructionReport
from soulchat.construction.runner import Constructor, run_construction
from soulchat.data.cleaning import PAPER_FILTER_STRINGS

_FILTER_HELP = f"Reject dialogues containing {'/'.join(PAPER_FILTER_STRINGS)} (the paper's rule)."


class _Progress:
    """A tqdm bar over finished records with tokens/s, rejections and failures in its postfix."""

    def __init__(self, total: int, enabled: bool):
        self.bar = tqdm(total=total, unit="rec", disable=not enabled, dynamic_ncols=True, smoothing=0.1)

    def __call__(self, entry: dict, report: ConstructionReport) -> None:
        self.bar.update(1)
        if self.bar.n % 8 == 0 or self.bar.n == self.bar.total:
            elapsed = max(self.bar.format_dict["elapsed"], 1e-9)
            self.bar.set_postfix(tok_s=f"{report.tokens / elapsed:.0f}", rejected=report.status["rejected"],
                                 failed=report.status["failed"], refresh=False)  # fmt: skip


def _print_summary(report: dict, console: Console) -> None:
    run, total = report["run"], report["total"]
    console.print(
        f"This run: {run['records']} record(s) in {run['elapsed_s']:.1f} s - done {run['done']}, "
        f"rejected {run['rejected']}, failed {run['failed']}, skipped (finished before) {run['skipped_finished']}; "
        f"{run['prompt_tokens'] + run['completion_tokens']} tokens."
    )
    for name in ("rejected_by_reason", "failed_by_reason", "retries_by_cause", "pii_found", "filter_matches"):
        if run[name]:
            console.print(f"  {name.replace('_', ' ')}: " + ", ".join(f"{k} {v}" for k, v in run[name].items()))
    cost = "" if total["estimated_cost"] is None else f", estimated cost {total['estimated_cost']:.4f}"
    console.print(
        f"All runs: {total['records']} record(s) - done {total['done']}, rejected {total['rejected']}, "
        f"failed {total['failed']}; {total['prompt_tokens'] + total['completion_tokens']} tokens{cost}."
    )


def construct_command(
    input: Path = typer.Option(..., "--input", "-i", help="QA file (JSON Lines or array): qa or PsyQA records."),
    output: Path = typer.Option(
        ..., "--output", "-o", help="SoulChatCorpus JSON Lines to write (appended on resume)."
    ),
    base_url: str = typer.Option(..., "--base-url", help="OpenAI-compatible API root, e.g. http://host:8000/v1."),
    model: str = typer.Option(..., "--model", help="The model name sent with each request."),
    template: str = typer.Option("empathy", "--template", "-t", help="empathy, smile, or a .yaml/.txt template."),
    input_format: str = typer.Option("auto", "--input-format", help="qa, psyqa or auto (psyqa if there are answers)."),
    concurrency: int = typer.Option(16, "--concurrency", "-c", help="Requests in flight at once."),
    max_records: int = typer.Option(None, "--max-records", "-n", help="Only the first N work items of the input."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", help="Environment variable holding the API key."),
    temperature: float = typer.Option(None, help="Sampling temperature (default: the template's)."),
    max_tokens: int = typer.Option(None, help="Completion token limit sent with each request."),
    timeout: float = typer.Option(180.0, help="Seconds one request may take."),
    max_attempts: int = typer.Option(6, help="HTTP attempts of a request before its record fails."),
    backoff_base: float = typer.Option(1.0, help="Seconds before the first retry (doubled each time, jittered)."),
    backoff_max: float = typer.Option(60.0, help="Longest wait between retries (unless Retry-After asks more)."),
    max_generations: int = typer.Option(3, help="Completions asked for one record while its output is invalid."),
    min_rounds: int = typer.Option(None, help="Fewest rounds of a valid dialogue (default: the template's)."),
    max_rounds: int = typer.Option(None, help="Most rounds of a valid dialogue (default: the template's)."),
    max_utterance_chars: int = typer.Option(600, help="Longest valid utterance, in characters."),
    content_filter: bool = typer.Option(True, "--filter/--no-filter", help=_FILTER_HELP),
    filter_string: list[str] = typer.Option(None, help="A string to filter on instead (repeatable)."),
    filter_file: Path = typer.Option(None, help="A file of filter strings, one a line."),
    pii: str = typer.Option(
        "scrub", help="Personal information (phones, IDs, e-mail, addresses): scrub, reject, off."
    ),
    near_duplicates: bool = typer.Option(True, "--dedup/--no-dedup", help="Reject near-duplicates (MinHash LSH)."),
    dedup_threshold: float = typer.Option(0.8, help="Estimated Jaccard similarity of near-duplicates."),
    prices: Path = typer.Option(
        None, help='Price table, JSON/YAML: {model: {"input": x, "output": y}} per 1M tokens.'
    ),
    retry_failed: bool = typer.Option(False, "--retry-failed", help="On resume, try failed records again."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Rewrite single-turn counselling QA into multi-turn empathetic dialogues with an OpenAI-compatible LLM."""
    console = Console(stderr=True)
    try:
        filter_ = build_filter(content_filter, filter_string, filter_file)
        config = ConstructionConfig(
            input=input,
            output=output,
            client=ClientConfig(base_url=base_url, model=model, api_key_env=api_key_env, temperature=temperature,
                                max_tokens=max_tokens, concurrency=concurrency, timeout_s=timeout,
                                max_attempts=max_attempts, backoff_base_s=backoff_base, backoff_max_s=backoff_max),
            template=template,
            input_format=input_format,
            max_records=max_records,
            checks=CheckConfig(min_rounds=min_rounds, max_rounds=max_rounds, max_utterance_chars=max_utterance_chars,
                               max_generations=max_generations),
            cleaning=CleaningConfig(filter_strings=filter_.strings if filter_ else (), pii=pii,
                                    near_duplicates=near_duplicates, dedup_threshold=dedup_threshold),
            prices=load_prices(prices) if prices is not None else None,
            retry_failed=retry_failed,
        )  # fmt: skip
    except (FileNotFoundError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    _execute(config, progress=progress, as_json=as_json, console=console)


def _execute(config: ConstructionConfig, *, progress: bool, as_json: bool, console: Console) -> None:
    """Run the construction with a progress bar, map its errors to exit codes, and print the report."""
    try:
        constructor = Constructor(config)
        constructor.load()
        bar = _Progress(constructor.count_pending() if progress else 0, progress)
        constructor.on_record = bar
        try:
            report = run_construction(constructor)
        finally:
            bar.bar.close()
    except (FileNotFoundError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from e
    except FatalAPIError as e:
        console.print(f"[red]the endpoint refuses requests:[/red] {e}")
        raise typer.Exit(3) from e
    except (KeyboardInterrupt, asyncio.CancelledError) as e:
        console.print(f"stopped; finished records are kept in {config.output}. Run the same command to resume.")
        raise typer.Exit(130) from e
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        _print_summary(report, console)
        console.print(f"Wrote {config.output} (journal {config.journal_path.name}, report {config.report_path.name}).")
    run = report["run"]
    if run["failed"] and not run["done"]:  # every request of this run failed: a script must not go on
        console.print(f"[red]error:[/red] all {run['failed']} requests of this run failed; see the report")
        raise typer.Exit(1)
