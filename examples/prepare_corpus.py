"""Turn counselling corpora into SoulChat training samples with the Python API, and look at the result.

    python examples/prepare_corpus.py [CORPUS ...] [--output runs/example-data]

Without arguments it uses the bundled sample corpus.
"""

import argparse
from pathlib import Path

from datasets import load_dataset

from soulchat.data import PipelineOptions
from soulchat.data.bundled import sample_corpus_path
from soulchat.data.prepare import prepare_corpus


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", type=Path, nargs="*", help="Corpus files or folders (any supported format).")
    parser.add_argument("--output", type=Path, default=Path("runs/example-data"))
    args = parser.parse_args(argv)

    report = prepare_corpus(
        args.corpus or [sample_corpus_path()], args.output, options=PipelineOptions(test_fraction=0.1), overwrite=True
    )
    print({k: report[k] for k in ("records_read", "accepted", "repaired", "rejected", "filtered", "duplicate")})
    samples = load_dataset(str(args.output), "samples")
    print(samples)
    example = samples["train"][1]
    print(example["prompt"] + example["response"])


if __name__ == "__main__":
    main()
