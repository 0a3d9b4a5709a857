"""Build the Hub-ready SoulChatCorpus dataset folder from the raw release, and optionally push it.

The raw release is one JSON array, `SoulChatCorpus-sft-multi-Turn.json` (about 907 MB). This script runs the same
pipeline as `soulchat prepare` (streaming read, validation and repair, de-duplication, optional content filter,
sample expansion, Parquet shards, dataset card with `configs`, `report.json`, `dropped.jsonl`), with a held-out
test split chosen by content hash, then uploads the folder with `huggingface_hub` when `--push-to` is given
(the token comes from the usual place: `HF_TOKEN` or `huggingface-cli login`).

    python dataset_scripts/build_soulchat_corpus.py SoulChatCorpus-sft-multi-Turn.json --output soulchat-corpus \\
        [--test-fraction 0.01] [--filter] [--push-to ORG/NAME [--private]]
"""

import argparse
import json
import logging
from pathlib import Path

from soulchat.data.cleaning import PAPER_FILTER_STRINGS, ContentFilter
from soulchat.data.pipeline import PipelineOptions
from soulchat.data.prepare import prepare_corpus

logger = logging.getLogger("build_soulchat_corpus")


def push_folder(folder: Path, repo_id: str, *, private: bool = False) -> str:
    """Upload a prepared folder as a dataset repository in one commit (without `dropped.jsonl`); returns its URL."""
    from soulchat.hub.push import push_dataset

    return push_dataset(folder, repo_id, private=private or None)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("raw", type=Path, nargs="+", help="The raw release file(s).")
    parser.add_argument("--output", type=Path, required=True, help="The dataset folder to write.")
    parser.add_argument("--test-fraction", type=float, default=0.0, help="Share of dialogues held out as `test`.")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--filter", action="store_true", help=f"Apply the paper's filter ({'/'.join(PAPER_FILTER_STRINGS)})."
    )
    parser.add_argument("--overwrite", action="store_true")
    parser.add_argument("--push-to", metavar="ORG/NAME", help="Upload the folder to this dataset repository.")
    parser.add_argument("--private", action="store_true", help="Create the repository as private.")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    try:
        options = PipelineOptions(
            format="soulchat",
            content_filter=ContentFilter() if args.filter else None,
            test_fraction=args.test_fraction,
            seed=args.seed,
        )
        report = prepare_corpus(
            args.raw, args.output, options=options, overwrite=args.overwrite, name="SoulChatCorpus", license="other"
        )
    except (OSError, ValueError) as error:  # a missing input, an existing output, a bad fraction: one line
        parser.exit(2, f"error: {error}\n")
    summary = {k: report[k] for k in ("records_read", "accepted", "repaired", "rejected", "filtered", "duplicate")}
    logger.info("prepared %s: %s", args.output, json.dumps(summary))
    logger.info("dialogues %s, samples %s", report["dialogues"], report["samples"])
    if args.push_to:
        logger.info("pushed: %s", push_folder(args.output, args.push_to, private=args.private))
    return report


if __name__ == "__main__":
    main()
