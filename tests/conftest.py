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


@pytest.fixture(scope="session")
def wait_ready():
    """``wait_ready(client, timeout=120)``: wait until a server's ``/readyz`` answers 200 (its models are loaded)."""
    import time

    def wait(client, timeout=120):
        deadline = time.monotonic() + timeout
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, client.get("/readyz").text
            time.sleep(0.05)

    return wait
