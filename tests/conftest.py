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


def _split_confidences(value, found):
    """``value`` (nested dicts and lists) without its ``confidence`` entries, which are appended to ``found``."""
    if isinstance(value, dict):  # in key order, so that equal dicts give their confidences in the same order
        found.extend(value[k] for k in sorted(value) if k == "confidence")
        return {k: _split_confidences(value[k], found) for k in sorted(value) if k != "confidence"}
    if isinstance(value, (list, tuple)):
        return [_split_confidences(v, found) for v in value]
    return value


@pytest.fixture
def assert_same_but_confidences():
    """``check(a, b)``: two results (nested dicts and lists, e.g. ``to_dict()`` records) are equal but for their
    ``confidence`` entries, which differ by less than 0.01 on average and 0.001 at the median. The shipped OCR twin
    has int8 weights (ocr/defaults.py TWIN_QUANTIZATION) whose activations are quantized per batch, so a line read
    in another batch gets slightly other confidences."""
    import numpy as np

    def check(a, b):
        found_a, found_b = [], []
        assert _split_confidences(a, found_a) == _split_confidences(b, found_b)
        assert len(found_a) == len(found_b)
        if found_a:
            difference = np.abs(np.subtract(found_a, found_b))
            assert difference.mean() < 0.01 and np.median(difference) < 0.001, difference

    return check
