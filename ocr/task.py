"""What OCR brings to the shared training path: reading line data sets, preparing strips, building models."""

import cv2
import numpy as np

from common.alphabet import Alphabet
from common.encoder import BiLSTMEncoder
from common.errors import ConfigError
from common.model_file import FORMAT_VERSION
from common.recognizer import Recognizer
from common.training import TaskSpec
from ocr.data import load_line_dataset
from ocr.defaults import ENCODER, HEIGHT
from ocr.frontend import make_frontend
from ocr.preprocessor import LinePreprocessor

__all__ = ["OcrTask", "build_ocr_model", "augment_strip", "DEFAULT_HEIGHT", "DEFAULT_ENCODER"]

DEFAULT_HEIGHT = HEIGHT  # (kept for callers of the old name; ocr.defaults holds it)
DEFAULT_ENCODER = ENCODER


def build_ocr_model(alphabet, *, height=None, preprocessor=None, num_layers=ENCODER["num_layers"],
                    units=ENCODER["units"], dropout=ENCODER["dropout"], **frontend):
    """A new OCR :class:`~common.recognizer.Recognizer` for ``alphabet``.

    Args:
        alphabet: the characters it writes.
        height: strip height in pixels (a :class:`~ocr.preprocessor.LinePreprocessor` of that height);
            default :data:`ocr.defaults.HEIGHT`.
        preprocessor: a :class:`~ocr.preprocessor.LinePreprocessor` instead of ``height``.
        num_layers, units, dropout: the BiLSTM encoder.
        frontend: ``filters``, ``time_strides``, ``feature_strides``, ``projection_units`` override
            :data:`ocr.frontend.DEFAULT_FRONTEND`.
    """
    if preprocessor is None:
        preprocessor = LinePreprocessor(height=HEIGHT if height is None else height)
    elif height is not None and height != preprocessor.height:
        raise ConfigError(f"Pass either `height` or a `preprocessor`, not two heights. Received: height={height!r}, "
                          f"preprocessor.height={preprocessor.height}")
    metadata = {"task": "ocr", "format_version": FORMAT_VERSION, "alphabet": alphabet.get_config()}
    return Recognizer(
        make_frontend(preprocessor.height, **frontend),
        BiLSTMEncoder(num_layers=num_layers, units=units, dropout=dropout, name="encoder"),
        alphabet.num_classes,
        metadata=metadata,
        preprocessor=preprocessor,
        name="ocr_recognizer",
    )


def augment_strip(strip, rng):
    """A randomly distorted copy of a strip ``(width, height)`` (ink = 1), the way lines differ between sources.

    The width is stretched or squeezed by up to 15% (fonts differ in width far more than the synthetic data
    covers); half the time the strip is sheared (slanted writing) by up to 0.3 and shifted or scaled vertically by
    up to 8%; a fifth of the time strokes are thinned or thickened by one pixel; 30% of the time a little noise is
    added. Fine-tuning on 1,000 captchas overfits without the shear and stroke changes (test CER 12.5%).
    """
    height = strip.shape[1]
    width = max(4, int(round(strip.shape[0] * rng.uniform(0.85, 1.15))))
    strip = cv2.resize(strip, (height, width), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        image = strip.T  # (height, width): y down, x along the line
        shear, scale = rng.uniform(-0.3, 0.3), rng.uniform(0.92, 1.08)
        shift = rng.uniform(-0.08, 0.08) * height
        centre = height / 2.0
        # x' = x + shear * (y - centre); y' = centre + scale * (y - centre) + shift
        matrix = np.array([[1.0, shear, -shear * centre],
                           [0.0, scale, centre * (1.0 - scale) + shift]], dtype=np.float32)
        image = cv2.warpAffine(np.ascontiguousarray(image), matrix, (image.shape[1], height),
                               flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
        strip = image.T
    if rng.random() < 0.2:
        kernel = np.ones((2, 2), np.uint8)
        strip = (cv2.dilate if rng.random() < 0.5 else cv2.erode)(np.ascontiguousarray(strip), kernel)
    if rng.random() < 0.3:
        strip = np.clip(strip + rng.normal(0, 0.05, strip.shape).astype(np.float32), 0, 1)
    return np.ascontiguousarray(strip, dtype=np.float32)


class OcrTask(TaskSpec):
    """OCR training: line images + transcripts -> strips ``(width, height)`` with ink = 1.

    Args:
        preprocessor: the :class:`~ocr.preprocessor.LinePreprocessor` of a new model; fine-tuning and resuming use
            the model's own (see :meth:`common.training.TaskSpec.use_preprocessor`). ``None``: defaults.
        height: shorthand for ``LinePreprocessor(height=height)``.

    Prepared items are uint8 strips (a quarter of the memory of float32); augmentation is :func:`augment_strip`.
    """

    name = "ocr"
    metric = "cer"

    def __init__(self, *, preprocessor=None, height=None):
        if preprocessor is not None and height is not None:
            raise ConfigError("Pass either `height` or a `preprocessor` to OcrTask, not both. "
                              f"Received: height={height!r}")
        self.preprocessor = preprocessor if preprocessor is not None else LinePreprocessor(
            height=HEIGHT if height is None else height)
        self.explicit_preprocessor = preprocessor is not None or height is not None

    @property
    def height(self):
        return self.preprocessor.height

    def load_examples(self, path):
        return [(example.image, example.text) for example in load_line_dataset(path)]

    def normalize_text(self, text):
        return self.preprocessor.normalize_text(text)

    def default_alphabet(self, texts):
        return Alphabet.from_texts(texts)

    def prepare(self, source):
        strip = self.preprocessor(source)
        return np.round(strip * 255).astype(np.uint8)

    def item_length(self, item):
        return item.shape[0]

    def featurize(self, item, rng):
        strip = item.astype(np.float32) / 255.0
        return augment_strip(strip, rng) if rng is not None else strip

    def build_model(self, alphabet, **settings):
        height = settings.pop("height", None)
        if height is not None and height != self.preprocessor.height:
            raise ConfigError(f"The model settings' height ({height}) is not the task's strip height "
                              f"({self.preprocessor.height}). Received: height={height!r}")
        return build_ocr_model(alphabet, preprocessor=self.preprocessor, **settings)
