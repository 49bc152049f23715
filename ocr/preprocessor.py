"""``LinePreprocessor``: the one way an OCR model's input becomes features, stored inside the model file.

>>> import numpy as np
>>> preprocessor = LinePreprocessor(height=32)
>>> line = np.full((40, 200), 255, np.uint8); line[10:30, 20:180] = 0
>>> preprocessor(line).shape
(219, 32)
"""

import common  # noqa: F401  (pins the Keras backend)
from common.alphabet import normalize_text
from common.limits import check_count
from common.preprocessor import Preprocessor
from ocr.defaults import HEIGHT, MIN_CONTRAST, MIN_WIDTH, POLARITY
from ocr.images import check_polarity, load_image, preprocess_line

__all__ = ["LinePreprocessor"]


class LinePreprocessor(Preprocessor):
    """Text-line image -> strip ``(width, height)`` float32, ink = 1, background = 0 (see
    :func:`ocr.images.preprocess_line` for the steps).

    Args:
        height: strip height in pixels, the model's number of input features (8..512).
        min_width: narrowest strip in pixels.
        polarity: ``"auto"`` (decide per line), ``"dark_on_light"`` or ``"light_on_dark"``.
        min_contrast: gray levels between the dark and light reference levels below which a line is blank.

    Call arguments:
        source: a path, or a NumPy image (gray or color, any dtype :func:`ocr.images.load_image` takes).
        max_pixels: refuse larger images (decompression bombs).

    Output: float32 ``(width, height)``.
    """

    task = "ocr"

    def __init__(self, height=HEIGHT, min_width=MIN_WIDTH, polarity=POLARITY, min_contrast=MIN_CONTRAST):
        self.height = check_count("height", height, minimum=8, maximum=512)
        self.min_width = check_count("min_width", min_width, maximum=4096)
        self.polarity = check_polarity(polarity)
        self.min_contrast = check_count("min_contrast", min_contrast, maximum=255)

    @property
    def num_features(self):
        return self.height

    def load(self, source, *, max_pixels=None):
        """A ``uint8`` grayscale image (see :func:`ocr.images.load_image`)."""
        return load_image(source) if max_pixels is None else load_image(source, max_pixels=max_pixels)

    def features(self, gray, *, source=None, return_box=False):
        """The strip of one line image; with ``return_box`` also the region of ``gray`` it shows."""
        return preprocess_line(gray, height=self.height, min_width=self.min_width, polarity=self.polarity,
                               min_contrast=self.min_contrast, source=source, return_box=return_box)

    def __call__(self, source, *, max_pixels=None):
        name = source if isinstance(source, str) or hasattr(source, "__fspath__") else None  # never bytes: content
        return self.features(self.load(source, max_pixels=max_pixels), source=name)

    def normalize_text(self, text):
        """Unicode normalization, then surrounding whitespace stripped (a line's transcript)."""
        return normalize_text(text).strip()

    def get_config(self):
        return {"height": self.height, "min_width": self.min_width, "polarity": self.polarity,
                "min_contrast": self.min_contrast}
