"""The OCR front end: a small convolution stack over a line strip, folding the height into features.

A strip arrives as ``(batch, width, height)`` (time runs along the width). Three conv blocks of 16, 32 and 64
filters reduce the height 32 -> 4 and the width by 4, and the result is projected to ``projection_units`` features
per frame. The width reduction is computed from ``time_strides``
(:meth:`common.frontend.ConvFrontend.compute_output_length`). Sizes were picked by measured training speed on
2 CPU cores with the default encoder (batch 32, 320 px lines): 16-32-64 filters 156 lines/s, 24-48-96 112,
32-64-128 90; the convolutions, not the LSTMs, dominated the larger ones.
"""

from common.frontend import ConvFrontend

__all__ = ["DEFAULT_FRONTEND", "make_frontend"]

DEFAULT_FRONTEND = {
    "filters": (16, 32, 64),
    "time_strides": (2, 2, 1),
    "feature_strides": (2, 2, 2),
    "projection_units": 128,
}


def make_frontend(height, **overrides):
    """A :class:`~common.frontend.ConvFrontend` for strips of ``height`` pixels; ``overrides`` change defaults."""
    settings = dict(DEFAULT_FRONTEND, **overrides)
    return ConvFrontend(num_features=height, name="ocr_frontend", **settings)
