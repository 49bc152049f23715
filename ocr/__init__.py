"""Read text from images: line strips and pages, with a BiLSTM-CTC model.

>>> from ocr import Reader
>>> Reader.load().read(["scan.png"])[0].text  # doctest: +SKIP
"""

import common  # noqa: F401  (pins Keras to the TensorFlow backend before anything imports Keras)
from common import __version__

__all__ = ["__version__", "Reader", "ReadResult"]


def __getattr__(name):
    # Imported lazily so that `ocr --help` and `import ocr` stay fast.
    if name in ("Reader", "ReadResult"):
        from ocr import reader

        return getattr(reader, name)
    raise AttributeError(f"module 'ocr' has no attribute {name!r}")
