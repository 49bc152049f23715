"""AudioPreprocessor: the one way audio becomes a speech model's features, validated, serialized in the model."""

import keras
import numpy as np
import pytest

from common.errors import ConfigError
from common.model_file import load_model, save_model
from speech.audio import load_audio
from speech.defaults import HOP_SECONDS, NUM_MELS, SAMPLE_RATE
from speech.features import log_mel, num_frames
from speech.preprocessor import AudioPreprocessor
from speech.task import SpeechTask, build_speech_model

SAMPLE = "speech/samples/hello.wav"


def test_shape_and_the_same_features_as_log_mel():
    preprocessor = AudioPreprocessor()
    features = preprocessor(SAMPLE)
    audio = load_audio(SAMPLE)
    assert features.shape == (num_frames(audio.shape[0]), NUM_MELS) and features.dtype == np.float32
    np.testing.assert_array_equal(features, log_mel(audio))


def test_the_stored_rate_and_hop_are_used():
    """log_mel follows the model's settings, not module constants."""
    audio = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    slow = AudioPreprocessor(sample_rate=8000, num_mels=40, hop_seconds=0.02, win_seconds=0.04)
    assert slow(audio, source_rate=8000).shape == (1 + 8000 // 160, 40) == (slow.num_frames(8000), 40)
    assert AudioPreprocessor()(audio, source_rate=8000).shape == (1 + 16000 // 160, 80)  # resampled to 16 kHz
    assert slow.seconds(8000) == 1.0


def test_config_round_trip_and_keras_serialization():
    preprocessor = AudioPreprocessor(sample_rate=24000, num_mels=64, hop_seconds=0.01, win_seconds=0.03)
    assert AudioPreprocessor.from_config(preprocessor.get_config()) == preprocessor
    stored = keras.saving.serialize_keras_object(preprocessor)
    assert keras.saving.deserialize_keras_object(stored) == preprocessor
    assert preprocessor != AudioPreprocessor()


@pytest.mark.parametrize("settings, words", [
    ({"hop_seconds": 0}, "`hop_seconds`"), ({"hop_seconds": -0.01}, "`hop_seconds`"),
    ({"hop_seconds": 0.05}, "`hop_seconds`"), ({"hop_seconds": float("nan")}, "`hop_seconds`"),
    ({"win_seconds": 0}, "`win_seconds`"), ({"sample_rate": 16000.0}, "`sample_rate`"),
    ({"sample_rate": 100}, "`sample_rate`"), ({"num_mels": 0}, "`num_mels`"), ({"num_mels": "80"}, "`num_mels`"),
])
def test_invalid_settings_are_config_errors(settings, words):
    with pytest.raises(ConfigError, match=f"invalid value for {words}.*Received"):
        AudioPreprocessor(**settings)


def test_hop_must_be_whole_samples():
    with pytest.raises(ConfigError, match="whole number of samples"):
        AudioPreprocessor(hop_seconds=0.01003)


def test_the_model_saves_and_loads_its_preprocessor(tmp_path):
    preprocessor = AudioPreprocessor(num_mels=40, hop_seconds=0.0125)
    model = build_speech_model(preprocessor=preprocessor, num_layers=1, units=4, filters=(2, 2), projection_units=4)
    assert model.preprocessor == preprocessor and model.num_features == 40
    again = load_model(save_model(model, tmp_path / "m.keras"), task="speech")
    assert again.preprocessor == preprocessor


def test_the_task_uses_its_preprocessor():
    task = SpeechTask(num_mels=40)
    item = task.prepare(SAMPLE)
    assert item.dtype == np.int16
    assert task.featurize(item, None).shape == (task.item_length(item), 40)
    assert task.normalize_text("Hello, World!") == "hello world"
    assert SpeechTask().preprocessor == AudioPreprocessor(sample_rate=SAMPLE_RATE, hop_seconds=HOP_SECONDS)
    with pytest.raises(ConfigError, match="not the task's"):
        task.build_model(None, num_mels=80)
