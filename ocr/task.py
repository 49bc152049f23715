"""What OCR brings to the shared training path: reading line data sets, preparing strips, building models."""

import cv2
import numpy as np

from common.alphabet import Alphabet, normalize_text
from common.encoder import BiLSTMEncoder
from common.model_file import FORMAT_VERSION
from common.recognizer import Recognizer
from common.training import TaskSpec
from ocr.data import load_line_dataset
from ocr.frontend import make_frontend
from ocr.images import load_image, preprocess_line

__all__ = ["OcrTask", "build_ocr_model", "DEFAULT_HEIGHT", "DEFAULT_ENCODER"]

DEFAULT_HEIGHT = 32
DEFAULT_ENCODER = {"num_layers": 2, "units": 128, "dropout": 0.1}


def build_ocr_model(alphabet, *, height=DEFAULT_HEIGHT, num_layers=2, units=128, dropout=0.1, **frontend):
    """A new OCR :class:`~common.recognizer.Recognizer` for ``alphabet`` and strips of ``height`` pixels.

    ``frontend`` keys (``filters``, ``time_strides``, ``feature_strides``, ``projection_units``) override
    :data:`ocr.frontend.DEFAULT_FRONTEND`.
    """
    metadata = {
        "task": "ocr",
        "format_version": FORMAT_VERSION,
        "alphabet": alphabet.get_config(),
        "preprocessing": {"height": height},
    }
    return Recognizer(
        make_frontend(height, **frontend),
        BiLSTMEncoder(num_layers=num_layers, units=units, dropout=dropout, name="encoder"),
        alphabet.num_classes,
        metadata=metadata,
        name="ocr_recognizer",
    )


class OcrTask(TaskSpec):
    """OCR training: line images + transcripts -> strips ``(width, height)`` with ink = 1.

    Prepared items are uint8 strips (a quarter of the memory of float32). Augmentation stretches or squeezes the
    strip's width by up to 15% (fonts differ in width far more than the synthetic data can cover) and adds a
    little noise.
    """

    name = "ocr"
    metric = "cer"

    def __init__(self, *, height=DEFAULT_HEIGHT):
        self.height = height

    def load_examples(self, path):
        return [(example.image, example.text) for example in load_line_dataset(path)]

    def normalize_text(self, text):
        return normalize_text(text).strip()

    def default_alphabet(self, texts):
        return Alphabet.from_texts(texts)

    def prepare(self, source):
        strip = preprocess_line(load_image(source), height=self.height, source=source)
        return np.round(strip * 255).astype(np.uint8)

    def item_length(self, item):
        return item.shape[0]

    def featurize(self, item, rng):
        strip = item.astype(np.float32) / 255.0
        if rng is not None:
            scale = rng.uniform(0.85, 1.15)
            width = max(4, int(round(strip.shape[0] * scale)))
            strip = cv2.resize(strip, (strip.shape[1], width), interpolation=cv2.INTER_LINEAR)
            if rng.random() < 0.3:
                strip = np.clip(strip + rng.normal(0, 0.05, strip.shape).astype(np.float32), 0, 1)
        return strip

    def build_model(self, alphabet, **settings):
        settings.setdefault("height", self.height)
        return build_ocr_model(alphabet, **settings)
