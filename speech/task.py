"""What speech brings to the shared training path: reading corpora, caching audio, featurizing, building models."""

import numpy as np

from common.alphabet import Alphabet
from common.encoder import BiLSTMEncoder
from common.errors import ConfigError
from common.model_file import FORMAT_VERSION
from common.recognizer import Recognizer
from common.training import TaskSpec
from speech.data import load_speech_dataset
from speech.defaults import ENCODER, MAX_TRAIN_SECONDS
from speech.features import (add_noise, add_reverb, perturb_gain, perturb_speed, spec_augment, telephone_channel,
                             warp_vocal_tract)
from speech.frontend import make_frontend
from speech.preprocessor import AudioPreprocessor
from speech.text import CHARACTERS

__all__ = ["SpeechTask", "build_speech_model", "default_alphabet"]


def default_alphabet():
    """Lowercase letters, apostrophe and space; other characters are dropped from transcripts."""
    return Alphabet(CHARACTERS, unknown="drop")


def build_speech_model(alphabet=None, *, num_mels=None, preprocessor=None, num_layers=ENCODER["num_layers"],
                       units=ENCODER["units"], dropout=ENCODER["dropout"], **frontend):
    """A new speech :class:`~common.recognizer.Recognizer`.

    Args:
        alphabet: the characters it writes (default :func:`default_alphabet`).
        num_mels: mel bands (an :class:`~speech.preprocessor.AudioPreprocessor` with that many, the other
            settings from :mod:`speech.defaults`).
        preprocessor: an :class:`~speech.preprocessor.AudioPreprocessor` instead of ``num_mels``.
        num_layers, units, dropout: the BiLSTM encoder.
        frontend: ``filters``, ``time_strides``, ``feature_strides``, ``projection_units`` override
            :data:`speech.frontend.DEFAULT_FRONTEND`.
    """
    alphabet = alphabet or default_alphabet()
    if preprocessor is None:
        preprocessor = AudioPreprocessor() if num_mels is None else AudioPreprocessor(num_mels=num_mels)
    elif num_mels is not None and num_mels != preprocessor.num_mels:
        raise ConfigError(f"Pass either `num_mels` or a `preprocessor`, not two mel counts. Received: "
                          f"num_mels={num_mels!r}, preprocessor.num_mels={preprocessor.num_mels}")
    metadata = {"task": "speech", "format_version": FORMAT_VERSION, "alphabet": alphabet.get_config()}
    return Recognizer(
        make_frontend(preprocessor.num_mels, **frontend),
        BiLSTMEncoder(num_layers=num_layers, units=units, dropout=dropout, name="encoder"),
        alphabet.num_classes,
        metadata=metadata,
        preprocessor=preprocessor,
        name="speech_recognizer",
    )


class SpeechTask(TaskSpec):
    """Speech training: audio + transcripts -> log-mel ``(frames, num_mels)``.

    Args:
        preprocessor: the :class:`~speech.preprocessor.AudioPreprocessor` of a new model; fine-tuning and resuming
            use the model's own. ``None``: defaults.
        num_mels: shorthand for ``AudioPreprocessor(num_mels=num_mels)``.
        max_seconds: longest training utterance loaded.

    Prepared items are the samples as int16 at the preprocessor's rate (half the memory of float32); features are
    computed per epoch (~3 ms per 10 s) so that augmentation can act on the audio: speed (0.9-1.1), gain, noise at
    5-25 dB SNR, reverberation, a telephone channel (15%: 300-3400 Hz at 8 kHz, mu-law), then on the spectrogram
    vocal tract length perturbation (50%, factor 0.9-1.1) and SpecAugment.
    """

    name = "speech"
    metric = "wer"

    def __init__(self, *, preprocessor=None, num_mels=None, max_seconds=MAX_TRAIN_SECONDS):
        if preprocessor is not None and num_mels is not None:
            raise ConfigError("Pass either `num_mels` or a `preprocessor` to SpeechTask, not both. "
                              f"Received: num_mels={num_mels!r}")
        self.preprocessor = preprocessor if preprocessor is not None else (
            AudioPreprocessor() if num_mels is None else AudioPreprocessor(num_mels=num_mels))
        self.explicit_preprocessor = preprocessor is not None or num_mels is not None
        self.max_seconds = max_seconds

    @property
    def num_mels(self):
        return self.preprocessor.num_mels

    def load_examples(self, path):
        return [(u.audio, u.text) for u in load_speech_dataset(path)]

    def normalize_text(self, text):
        return self.preprocessor.normalize_text(text)

    def default_alphabet(self, texts):
        return default_alphabet()

    def prepare(self, source):
        audio = self.preprocessor.load(source, max_seconds=self.max_seconds)
        return np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)

    def item_length(self, item):
        return self.preprocessor.num_frames(item.shape[0])

    def featurize(self, item, rng):
        audio = item.astype(np.float32) / 32767.0
        if rng is not None:
            if rng.random() < 0.5:
                audio = perturb_speed(audio, rng)
            audio = perturb_gain(audio, rng)
            if rng.random() < 0.2:
                audio = add_reverb(audio, rng, sample_rate=self.preprocessor.sample_rate)
            if rng.random() < 0.5:
                audio = add_noise(audio, rng)
            if rng.random() < 0.15:
                audio = telephone_channel(audio, rng, sample_rate=self.preprocessor.sample_rate)
        features = self.preprocessor.features(audio)
        if rng is not None:
            if rng.random() < 0.5:
                features = warp_vocal_tract(features, rng, sample_rate=self.preprocessor.sample_rate)
            features = spec_augment(features, rng)
        return features

    def build_model(self, alphabet, **settings):
        num_mels = settings.pop("num_mels", None)
        if num_mels is not None and num_mels != self.preprocessor.num_mels:
            raise ConfigError(f"The model settings' num_mels ({num_mels}) is not the task's ({self.num_mels}). "
                              f"Received: num_mels={num_mels!r}")
        return build_speech_model(alphabet, preprocessor=self.preprocessor, **settings)
