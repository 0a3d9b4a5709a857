"""Fixtures of the web page tests: one headless Chromium per module, and where its screenshots are kept."""

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.inference.webui.cdp import HeadlessChromium, find_chromium


@pytest.fixture(scope="module")
def chromium() -> Iterator[HeadlessChromium]:
    """A headless Chromium for the module's tests; skips them when no Chromium is installed."""
    binary = find_chromium()
    if binary is None:
        pytest.skip("no Chromium binary found (install Debian's `chromium` package, or set SOULCHAT_CHROMIUM)")
    with HeadlessChromium(binary) as browser:
        yield browser


@pytest.fixture
def keep_screenshot(tmp_path: Path) -> Callable[[Path, str], Path]:
    """Copies a screenshot to `$SOULCHAT_ARTIFACTS/<name>` when that variable is set (CI keeps the folder)."""

    def keep(path: Path, name: str) -> Path:
        folder = os.environ.get("SOULCHAT_ARTIFACTS")
        if not folder:
            return path
        Path(folder).mkdir(parents=True, exist_ok=True)
        return Path(shutil.copyfile(path, Path(folder) / name))

    return keep
