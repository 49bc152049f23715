"""Fixtures of the robustness suite: a per-test time limit, tiny random models, hypothesis settings.

Every test here runs under a wall-clock limit (``SIGALRM``; 30 s unless ``@pytest.mark.time_limit(seconds)`` says
otherwise), so a hang fails the test instead of stalling the run. The models are random and tiny (a few thousand
weights): the suite checks that every input ends in a result or one clear error, not what is read. Tests marked
``slow`` (a child process paying for TensorFlow's import) stay out of the default run (tests/conftest.py).
"""

import signal
import threading

import pytest


DEFAULT_TIME_LIMIT = 30.0


def pytest_configure(config):
    config.addinivalue_line("markers", "time_limit(seconds): wall-clock limit of a robustness test (default 30 s)")


class TimeLimitExceeded(Exception):
    """Raised in the test's thread when it runs past its limit."""


@pytest.fixture(autouse=True)
def time_limit(request):
    """Fail a test that runs past its limit (a hang must never stall the suite)."""
    marker = request.node.get_closest_marker("time_limit")
    seconds = float(marker.args[0]) if marker else DEFAULT_TIME_LIMIT
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise TimeLimitExceeded(f"{request.node.nodeid} ran longer than {seconds:g} s (hang?)")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory):
    """Paths of a tiny random OCR model and a tiny random speech model, saved as ordinary model files."""
    from common.alphabet import Alphabet
    from common.model_file import save_model
    from ocr.task import build_ocr_model
    from speech.task import build_speech_model

    import keras

    keras.utils.set_random_seed(6)  # the same tiny models every run
    folder = tmp_path_factory.mktemp("tiny_models")
    ocr = build_ocr_model(Alphabet("abcdefghij 0123"), height=32, num_layers=1, units=8, dropout=0.0,
                          filters=(4, 4, 4), projection_units=8)
    speech = build_speech_model(num_layers=1, units=8, dropout=0.0, filters=(4, 4), projection_units=8)
    return {"ocr": save_model(ocr, folder / "ocr.keras"), "speech": save_model(speech, folder / "speech.keras")}


@pytest.fixture(scope="session")
def reader(tiny_models):
    from ocr.reader import Reader

    return Reader.load(tiny_models["ocr"])


@pytest.fixture(scope="session")
def transcriber(tiny_models):
    from speech.transcriber import Transcriber

    return Transcriber.load(tiny_models["speech"])
