"""``AudioPreprocessor``: the one way a speech model's input becomes features, stored inside the model file.

>>> import numpy as np
>>> preprocessor = AudioPreprocessor()
>>> preprocessor(np.zeros(16000, np.float32), source_rate=16000).shape
(101, 80)
"""

import math

import common  # noqa: F401  (pins the Keras backend)
import numpy as np

from common.errors import ConfigError
from common.preprocessor import Preprocessor
from speech.audio import MAX_SOURCE_RATE, MIN_SOURCE_RATE, load_audio
from speech.defaults import HOP_SECONDS, NUM_MELS, SAMPLE_RATE, WIN_SECONDS
from speech.features import log_mel, num_frames
from speech.text import normalize_transcript

__all__ = ["AudioPreprocessor"]


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and math.isfinite(value)


class AudioPreprocessor(Preprocessor):
    """Audio -> normalized log-mel features ``(frames, num_mels)`` (see :func:`speech.features.log_mel`).

    Args:
        sample_rate: Hz the audio is resampled to before the features (4,000..96,000).
        num_mels: mel bands, the model's number of input features (1..512).
        hop_seconds: seconds between frames (more than 0, at most ``win_seconds``; a whole number of samples).
        win_seconds: seconds under each frame's Hann window (at most 0.2).

    Call arguments:
        source: a path, or a NumPy array of samples at ``source_rate``.
        source_rate: the rate of an array (Hz); files carry their own.
        max_seconds: refuse longer inputs (``None``: no limit).

    Output: float32 ``(frames, num_mels)``, ``frames = 1 + samples // hop``.
    """

    task = "speech"

    def __init__(self, sample_rate=SAMPLE_RATE, num_mels=NUM_MELS, hop_seconds=HOP_SECONDS, win_seconds=WIN_SECONDS):
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) \
                or not max(MIN_SOURCE_RATE, 4000) <= sample_rate <= min(MAX_SOURCE_RATE, 96000):
            raise ConfigError(f"Received an invalid value for `sample_rate`, expected an integer rate in Hz in "
                              f"[4000, 96000] (usually {SAMPLE_RATE}). Received: sample_rate={sample_rate!r}")
        if isinstance(num_mels, bool) or not isinstance(num_mels, (int, np.integer)) or not 1 <= num_mels <= 512:
            raise ConfigError(f"Received an invalid value for `num_mels`, expected an integer in [1, 512] (usually "
                              f"{NUM_MELS}). Received: num_mels={num_mels!r}")
        if not _is_number(win_seconds) or not 0 < win_seconds <= 0.2:
            raise ConfigError(f"Received an invalid value for `win_seconds`, expected seconds in (0, 0.2] (usually "
                              f"{WIN_SECONDS}). Received: win_seconds={win_seconds!r}")
        if not _is_number(hop_seconds) or not 0 < hop_seconds <= win_seconds:
            raise ConfigError(f"Received an invalid value for `hop_seconds`, expected seconds in (0, win_seconds="
                              f"{win_seconds}] (usually {HOP_SECONDS}). Received: hop_seconds={hop_seconds!r}")
        hop_samples = hop_seconds * sample_rate
        if abs(hop_samples - round(hop_samples)) > 1e-6:
            raise ConfigError(f"`hop_seconds` must be a whole number of samples at {sample_rate} Hz, or word times "
                              f"drift. Received: hop_seconds={hop_seconds!r}")
        self.sample_rate = int(sample_rate)
        self.num_mels = int(num_mels)
        self.hop_seconds = float(hop_seconds)
        self.win_seconds = float(win_seconds)

    @property
    def num_features(self):
        return self.num_mels

    def load(self, source, *, source_rate=None, max_seconds=None):
        """Mono float32 samples at :attr:`sample_rate` (see :func:`speech.audio.load_audio`)."""
        return load_audio(source, sample_rate=self.sample_rate, source_rate=source_rate, max_seconds=max_seconds)

    def features(self, audio):
        """Log-mel features of samples at :attr:`sample_rate`."""
        return log_mel(audio, sample_rate=self.sample_rate, num_mels=self.num_mels, hop_seconds=self.hop_seconds,
                       win_seconds=self.win_seconds)

    def __call__(self, source, *, source_rate=None, max_seconds=None):
        return self.features(self.load(source, source_rate=source_rate, max_seconds=max_seconds))

    def num_frames(self, num_samples):
        """Frames :meth:`features` gives for ``num_samples`` samples."""
        return num_frames(num_samples, sample_rate=self.sample_rate, hop_seconds=self.hop_seconds)

    def seconds(self, num_samples):
        """Duration of ``num_samples`` samples."""
        return num_samples / self.sample_rate

    def normalize_text(self, text):
        """Lowercase letters, apostrophes and single spaces (:func:`speech.text.normalize_transcript`)."""
        return normalize_transcript(text)

    def get_config(self):
        return {"sample_rate": self.sample_rate, "num_mels": self.num_mels, "hop_seconds": self.hop_seconds,
                "win_seconds": self.win_seconds}
