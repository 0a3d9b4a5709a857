"""Package metadata and dependencies of soulchat.

The build system and the ruff configuration live in ``pyproject.toml``.
"""

from pathlib import Path

from setuptools import find_namespace_packages, setup

HERE = Path(__file__).parent


def read_version() -> str:
    for line in (HERE / "src" / "soulchat" / "__init__.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip('"')
    raise RuntimeError("__version__ not found in src/soulchat/__init__.py")


INSTALL_REQUIRES = [
    "torch>=2.1",
    # transformers 5 is the API the native ChatGLM implementation is written against.
    "transformers>=5.0",
    # datasets 4 removed loading scripts and introduced the `List` feature used by the dialogue schema.
    "datasets>=4.0",
    "accelerate>=1.0",
    "deepspeed>=0.15",
    "huggingface_hub>=1.0",
    "evaluate>=0.4.3",
    "jieba>=0.42.1",
    "sentencepiece>=0.2.0",
    "cpm_kernels>=1.0.11",
    # cpm_kernels imports pkg_resources, which setuptools 82 removed.
    "setuptools<82",
    "pyarrow>=15.0",
    "numpy>=1.24",
    "pyyaml>=6.0",
    "typer>=0.12",
    "rich>=13.0",
    "tqdm>=4.66",
    # `soulchat construct`: the async OpenAI-compatible client (and its fake server), and MinHash LSH
    # (datasketch 2 introduced the explicit MinHash `scheme` the near-duplicate index uses).
    "aiohttp>=3.9",
    "datasketch>=2.0",
    # `soulchat train --use_lora`: LoRA adapters and merge-and-save.
    "peft>=0.13",
]

EXTRAS = {
    # openai: the official client drives `soulchat serve` in the tests.
    "test": ["pytest>=8.0", "nltk>=3.8", "rouge_chinese>=1.0.3", "psutil>=5.9", "openai>=1.40"],
    # The example notebooks (executed by `make test-notebooks`) and the metric comparison they plot.
    "notebooks": [
        "nbclient>=0.10",
        "nbformat>=5.9",
        "ipykernel>=6.29",
        "matplotlib>=3.8",
        "sacrebleu>=2.4",
        "rouge-score>=0.1.2",
    ],
    "docs": ["mkdocs>=1.6", "mkdocstrings[python]>=1.0"],
    "dev": ["ruff>=0.6", "build>=1.2"],
}
EXTRAS["all"] = sorted({dep for deps in EXTRAS.values() for dep in deps})

setup(
    name="soulchat",
    version=read_version(),
    description="Build empathetic Chinese counselling language models the SoulChat way, native to Hugging Face.",
    long_description=(HERE / "README.md").read_text(encoding="utf-8"),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.10",
    package_dir={"": "src"},
    packages=find_namespace_packages("src", include=["soulchat", "soulchat.*"]),
    include_package_data=True,
    package_data={
        "soulchat": ["**/*.json", "**/*.jsonl", "**/*.yaml", "**/*.md", "**/*.txt", "**/*.html", "**/*.js", "**/*.css"]
    },
    install_requires=INSTALL_REQUIRES,
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["soulchat=soulchat.cli.main:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Natural Language :: Chinese (Simplified)",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
