"""The speech front end: 2-D convolutions over a log-mel spectrogram that subsample time by 3.

A spectrogram arrives as ``(batch, frames, mel_bins)`` at 100 frames/s. Two conv blocks reduce time by 3
(to ~33 frames/s, about two frames per spoken character) and the mel axis by 4, and the result is projected to
``projection_units`` features per frame. The output length comes from ``time_strides``
(:meth:`common.frontend.ConvFrontend.compute_output_length`).
"""

from common.frontend import ConvFrontend

__all__ = ["DEFAULT_FRONTEND", "make_frontend"]

DEFAULT_FRONTEND = {
    "filters": (32, 32),
    "time_strides": (3, 1),
    "feature_strides": (2, 2),
    "projection_units": 192,
}


def make_frontend(num_mels, **overrides):
    """A :class:`~common.frontend.ConvFrontend` for ``num_mels``-bin spectrograms; ``overrides`` change defaults."""
    settings = dict(DEFAULT_FRONTEND, **overrides)
    return ConvFrontend(num_features=num_mels, name="speech_frontend", **settings)
