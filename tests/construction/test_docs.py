import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["templates", "parsing", "privacy", "dedup"])
def test_docstring_examples_hold(module):
    result = doctest.testmod(importlib.import_module(f"soulchat.construction.{module}"))
    assert result.attempted > 0 and result.failed == 0
