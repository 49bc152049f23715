"""Tests here marked ``slow`` (the marker is declared in setup.cfg) stay out of the default run; select them with
``-m slow``."""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords and HERE in Path(item.path).resolve().parents:
            item.add_marker(skip)
