"""Test-wide settings: offline, seeded, with caches in a temporary folder.

The reference data lives in `../shared` beside the checkout (or where `SOULCHAT_SHARED` points); tests that
read it use the `shared_dir` fixture and skip cleanly when it is absent.
"""

import os
import tempfile
from pathlib import Path

import pytest

_CACHE = Path(tempfile.gettempdir()) / "soulchat-test-cache"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("HF_HOME", str(_CACHE / "hf"))
os.environ.setdefault("TORCH_EXTENSIONS_DIR", str(_CACHE / "torch_extensions"))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SOULCHAT_SHARED", ROOT.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The `../shared` folder with the specs and reference outputs; skips the test when it is absent."""
    if not (SHARED / "reference").is_dir():
        pytest.skip(f"reference data not found at {SHARED}")
    return SHARED


@pytest.fixture(autouse=True)
def _seed():
    import random

    random.seed(0)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.manual_seed(0)
