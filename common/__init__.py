"""What the OCR and speech tasks share: alphabet, encoder, CTC, recognizer, training, model files, metrics.

Importing this package pins Keras to the TensorFlow backend, so that a user's ``KERAS_BACKEND`` cannot silently
switch it (the models, CTC decoding and speed figures are all measured on TensorFlow).

The one exception is an explicit opt-in for training on a machine without TensorFlow (a GPU machine that has JAX,
see ``recipes/speech_gpu.py``): ``CTC_TOOLKIT_BACKEND=jax`` pins Keras to the JAX backend instead. Models, the
CTC loss (:func:`common.ctc.ctc_loss`), greedy decoding and the one trainer (:func:`common.training.train`,
``ocr train`` / ``speech train``) then work; inference speed-ups, export and beam search stay TensorFlow's. A
model file trained either way loads under the other.
"""

import os
import sys

__all__ = ["BACKEND", "BACKENDS", "__version__"]

__version__ = "0.1.0"
"""The toolkit's version (``ocr --version``, ``speech --version``, setup.cfg reads it from here)."""

BACKENDS = ("tensorflow", "jax")
"""Backends this toolkit can pin: TensorFlow (the default) and JAX (opt-in, for training without TensorFlow)."""

BACKEND = os.environ.get("CTC_TOOLKIT_BACKEND", "").strip().lower() or "tensorflow"
if BACKEND not in BACKENDS:
    raise ImportError(
        f"CTC_TOOLKIT_BACKEND must be one of {BACKENDS} (unset means 'tensorflow'; 'jax' is only for training on "
        f"a machine without TensorFlow). Received: CTC_TOOLKIT_BACKEND={os.environ['CTC_TOOLKIT_BACKEND']!r}"
    )

if "keras" in sys.modules:
    _keras = sys.modules["keras"]
    _active = getattr(getattr(_keras, "config", None), "backend", lambda: BACKEND)()
    if _active != BACKEND:
        raise ImportError(
            f"This toolkit runs on Keras' {BACKEND} backend, but Keras was already imported with the "
            f"'{_active}' backend. Import this toolkit before Keras, or unset KERAS_BACKEND. "
            f"Received: backend={_active}"
        )
os.environ["KERAS_BACKEND"] = BACKEND
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
