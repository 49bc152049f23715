"""Transcribe speech: audio files (long ones included) to text with word times, with a BiLSTM-CTC model.

>>> from speech import Transcriber
>>> Transcriber.load().transcribe(["talk.wav"])[0].text  # doctest: +SKIP
"""

import common  # noqa: F401  (pins Keras to the TensorFlow backend before anything imports Keras)
from common import __version__

__all__ = ["__version__", "Transcriber", "Transcript"]


def __getattr__(name):
    # Imported lazily so that `speech --help` and `import speech` stay fast.
    if name in ("Transcriber", "Transcript"):
        from speech import transcriber

        return getattr(transcriber, name)
    raise AttributeError(f"module 'speech' has no attribute {name!r}")
