"""Shared test setup: the repository on sys.path, quiet TensorFlow, no GPU, and one rule for ``slow`` tests: marked
tests (the marker is declared in setup.cfg) stay out of the default run; select them with ``-m slow``."""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
import common  # noqa: E402,F401  (pins the backend before any test imports Keras)


def pytest_collection_modifyitems(config, items):
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="slow: run with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
