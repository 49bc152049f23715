"""What speech brings to the shared training path: reading corpora, caching audio, featurizing, building models."""

import numpy as np

from common.alphabet import Alphabet
from common.encoder import BiLSTMEncoder
from common.model_file import FORMAT_VERSION
from common.recognizer import Recognizer
from common.training import TaskSpec
from speech.audio import SAMPLE_RATE, load_audio
from speech.data import load_speech_dataset
from speech.features import (HOP_SECONDS, NUM_MELS, add_noise, add_reverb, log_mel, num_frames, perturb_gain,
                             perturb_speed, spec_augment, telephone_channel)
from speech.frontend import make_frontend
from speech.text import CHARACTERS, normalize_transcript

__all__ = ["SpeechTask", "build_speech_model", "default_alphabet"]


def default_alphabet():
    """Lowercase letters, apostrophe and space; other characters are dropped from transcripts."""
    return Alphabet(CHARACTERS, unknown="drop")


def build_speech_model(alphabet=None, *, num_mels=NUM_MELS, num_layers=3, units=192, dropout=0.15, **frontend):
    """A new speech :class:`~common.recognizer.Recognizer`.

    ``frontend`` keys (``filters``, ``time_strides``, ``feature_strides``, ``projection_units``) override
    :data:`speech.frontend.DEFAULT_FRONTEND`.
    """
    alphabet = alphabet or default_alphabet()
    metadata = {
        "task": "speech",
        "format_version": FORMAT_VERSION,
        "alphabet": alphabet.get_config(),
        "preprocessing": {"sample_rate": SAMPLE_RATE, "num_mels": num_mels, "hop_seconds": HOP_SECONDS,
                          "text_normalization": "speech.text.normalize_transcript"},
    }
    return Recognizer(
        make_frontend(num_mels, **frontend),
        BiLSTMEncoder(num_layers=num_layers, units=units, dropout=dropout, name="encoder"),
        alphabet.num_classes,
        metadata=metadata,
        name="speech_recognizer",
    )


class SpeechTask(TaskSpec):
    """Speech training: audio + transcripts -> log-mel ``(frames, num_mels)``.

    Prepared items are the 16 kHz samples as int16 (half the memory of float32); features are computed per
    epoch (~3 ms per 10 s) so that augmentation can act on the audio: speed (0.9-1.1), gain, noise at 5-25 dB SNR,
    reverberation, a telephone channel (15%: 300-3400 Hz at 8 kHz, mu-law), then SpecAugment on the spectrogram.
    """

    name = "speech"
    metric = "wer"

    def __init__(self, *, num_mels=NUM_MELS, max_seconds=30.0):
        self.num_mels = num_mels
        self.max_seconds = max_seconds

    def load_examples(self, path):
        return [(u.audio, u.text) for u in load_speech_dataset(path)]

    def normalize_text(self, text):
        return normalize_transcript(text)

    def default_alphabet(self, texts):
        return default_alphabet()

    def prepare(self, source):
        audio = load_audio(source, max_seconds=self.max_seconds)
        return np.round(np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)

    def item_length(self, item):
        return num_frames(item.shape[0])

    def featurize(self, item, rng):
        audio = item.astype(np.float32) / 32767.0
        if rng is not None:
            if rng.random() < 0.5:
                audio = perturb_speed(audio, rng)
            audio = perturb_gain(audio, rng)
            if rng.random() < 0.2:
                audio = add_reverb(audio, rng)
            if rng.random() < 0.5:
                audio = add_noise(audio, rng)
            if rng.random() < 0.15:
                audio = telephone_channel(audio, rng)
        features = log_mel(audio, sample_rate=SAMPLE_RATE, num_mels=self.num_mels)
        if rng is not None:
            features = spec_augment(features, rng)
        return features

    def build_model(self, alphabet, **settings):
        settings.setdefault("num_mels", self.num_mels)
        return build_speech_model(alphabet, **settings)
