import shutil

import numpy as np
import pytest
import soundfile as sf

from common.errors import ConfigError
from speech import synth
from speech.data import load_speech_dataset
from speech.synth import Voice, list_voices, synthesize, synthesize_dataset

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


@needs_espeak
def test_espeak_voices_listed():
    voices = list_voices()
    names = {v.name for v in voices if v.engine == "espeak-ng"}
    assert {"en-us", "en-gb"} <= names
    assert any(name.startswith("en-us+") for name in names)  # variants


@needs_espeak
def test_synthesize_one(tmp_path):
    out = synthesize("Hello there.", "en-us", tmp_path / "hello.wav", rate=1.2, pitch=0.9)
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 16000 and audio.ndim == 1 and 0.3 < audio.shape[0] / rate < 3 and np.abs(audio).max() > 0.01


@needs_espeak
def test_dataset_round_trip(tmp_path):
    voices = [Voice("espeak-ng", "en-us"), Voice("espeak-ng", "en-gb+f2")]
    out = synthesize_dataset(tmp_path / "set", 2, texts=["It costs $5.", "Good morning, Dr. Smith!"],
                             voices=voices, seed=3)
    utterances = load_speech_dataset(out)
    assert [u.text for u in utterances] == ["it costs five dollars", "good morning doctor smith"]
    assert all(u.audio.is_file() and sf.info(u.audio).samplerate == 16000 for u in utterances)
    assert all(u.speaker in {"espeak-ng:en-us", "espeak-ng:en-gb+f2"} for u in utterances)
    header, *rows = (out / "voices.tsv").read_text().splitlines()
    assert header.split("\t") == ["id", "engine", "voice", "rate", "pitch"] and len(rows) == 2
    with pytest.raises(ConfigError, match="not an empty folder"):
        synthesize_dataset(out, 1, texts=["again"], voices=voices)


def test_no_engine_degrades(tmp_path, monkeypatch):
    monkeypatch.setattr(synth.shutil, "which", lambda name: None)
    assert list_voices() == []
    with pytest.raises(ConfigError, match="no TTS engine"):
        synthesize_dataset(tmp_path / "none", 1, texts=["hello"])
    with pytest.raises(ConfigError, match="not installed"):
        synthesize("hello", "en-us", tmp_path / "x.wav")


def test_hold_out(monkeypatch):
    voices = [Voice("espeak-ng", "en-us"), Voice("espeak-ng", "en-us+f2"), Voice("espeak-ng", "en-gb"),
              Voice("flite", "slt")]
    families = synth._pick_voices(voices, ["en-us", "flite:slt"])
    assert families == {"espeak-ng:en-gb": [Voice("espeak-ng", "en-gb")]}
    with pytest.raises(ConfigError, match="no voice is left"):
        synth._pick_voices(voices[:1], ["en-us"])
