"""What the OCR and speech tasks share: alphabet, encoder, CTC, recognizer, training, model files, metrics.

Importing this package pins Keras to the TensorFlow backend, so that a user's ``KERAS_BACKEND`` cannot silently
switch it (the models, CTC decoding and speed figures are all measured on TensorFlow).
"""

import os
import sys

__all__ = ["BACKEND"]

BACKEND = "tensorflow"

if "keras" in sys.modules:
    _keras = sys.modules["keras"]
    _active = getattr(getattr(_keras, "config", None), "backend", lambda: BACKEND)()
    if _active != BACKEND:
        raise ImportError(
            f"This toolkit runs on Keras' TensorFlow backend, but Keras was already imported with the "
            f"'{_active}' backend. Import this toolkit before Keras, or unset KERAS_BACKEND. "
            f"Received: backend={_active}"
        )
os.environ["KERAS_BACKEND"] = BACKEND
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
