"""Every kind of bad audio ends in a valid result or one clear InputError: ``load_audio``,
``Transcriber.transcribe``, ``speech transcribe``.

Hand-made cases cover the kinds named in issue #6 (broken headers, 0 samples, NaN / inf samples, 8 channels, 1 Hz
and 384 kHz rates, garbage named .mp3, ...); hypothesis mutates valid files byte by byte and draws arrays.
"""

import os
import struct
import tempfile

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st

from common.errors import ConfigError, InputError
from robustness_support import FUZZ, mutated_files, outcome
from speech.audio import SAMPLE_RATE, duration_seconds, load_audio
from speech.cli import main as speech_main


def _tone(seconds=0.5, rate=SAMPLE_RATE, channels=1):
    y = 0.3 * np.sin(np.arange(int(seconds * rate)) * (2 * np.pi * 220 / rate)).astype(np.float32)
    return np.tile(y[:, None], (1, channels)) if channels > 1 else y


def _encode(samples, rate, fmt, subtype=None):
    with tempfile.TemporaryDirectory() as folder:  # a real file: libsndfile finishes some headers on close only
        path = os.path.join(folder, "audio")
        sf.write(path, samples, rate, format=fmt, subtype=subtype)
        with open(path, "rb") as handle:
            return handle.read()


def _wav_header(*, channels=1, rate=SAMPLE_RATE, bits=16, data_bytes=0, riff_bytes=None, fmt_code=1):
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_code, channels, rate, rate * block, block, bits)
    riff = 4 + 8 + len(fmt) + 8 + data_bytes if riff_bytes is None else riff_bytes
    return b"RIFF" + struct.pack("<I", riff) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + \
        b"data" + struct.pack("<I", data_bytes)


def _patched(data, offset, value):
    data = bytearray(data)
    data[offset:offset + len(value)] = value
    return bytes(data)


def _with(samples, index, value):
    samples = samples.copy()
    samples[index] = value
    return samples


WAV = _encode(_tone(), SAMPLE_RATE, "WAV")
FLAC = _encode(_tone(), SAMPLE_RATE, "FLAC")
OGG = _encode(_tone(), SAMPLE_RATE, "OGG")
MP3 = _encode(_tone(), SAMPLE_RATE, "MP3")

# name -> (file name, bytes or a callable giving them, expectation, words the error must contain)
CASES = {
    "header_only_20_bytes": ("h1.wav", lambda: WAV[:20], "error", "corrupt or truncated"),
    # libsndfile calls it corrupt; where ffmpeg is installed, its fallback reads the header and finds 0 channels
    "header_zero_channels": ("h2.wav", lambda: _patched(WAV, 22, struct.pack("<H", 0)), "error", "corrupt|channel"),
    "header_rate_zero": ("h3.wav", lambda: _patched(WAV, 24, struct.pack("<I", 0)), "error", "sample rate"),
    "header_13_bits": ("h4.wav", lambda: _patched(WAV, 34, struct.pack("<H", 13)), "either", ""),
    "header_data_size_huge": ("h5.wav", lambda: _patched(WAV, 40, struct.pack("<I", 0xFFFFFFF0)), "ok", ""),
    "header_riff_size_huge": ("h6.wav", lambda: _patched(WAV, 4, struct.pack("<I", 0xFFFFFFF0)), "ok", ""),
    "header_riff_not_wave": ("h7.wav", lambda: _patched(WAV, 8, b"AVI "), "error", "WAV"),
    "header_unknown_codec": ("h8.wav", lambda: _patched(WAV, 20, struct.pack("<H", 0x1234)), "error", "WAV"),
    "flac_magic_then_garbage": ("h9.flac", lambda: b"fLaC" + bytes(range(256)) * 40, "error", "FLAC"),
    "ogg_magic_then_garbage": ("h10.ogg", lambda: b"OggS" + bytes(range(256)) * 40, "error", "OGG"),
    "zero_samples": ("z1.wav", lambda: _wav_header(), "error", "no audio samples"),
    "zero_samples_aiff": ("z2.aiff", lambda: _encode(np.zeros(0, np.float32), SAMPLE_RATE, "AIFF"), "error",
                          "no audio samples"),
    "empty_file": ("z3.wav", lambda: b"", "error", "empty file"),
    "one_sample": ("z4.wav", lambda: _encode(_tone()[:1], SAMPLE_RATE, "WAV"), "ok", ""),
    "one_sample_44k": ("z5.wav", lambda: _encode(_tone()[:1], 44100, "WAV"), "ok", ""),
    "nan_samples": ("n1.wav", lambda: _encode(_with(_tone(), 100, np.nan), SAMPLE_RATE, "WAV", "FLOAT"),
                    "error", "NaN"),
    "inf_samples": ("n2.wav", lambda: _encode(_with(_tone(), -1, -np.inf), SAMPLE_RATE, "WAV", "DOUBLE"),
                    "error", "infinite"),
    "huge_float_samples": ("n3.wav", lambda: _encode(_tone() * 1e30, SAMPLE_RATE, "WAV", "FLOAT"), "ok", ""),
    "channels_8": ("c1.wav", lambda: _encode(_tone(channels=8), SAMPLE_RATE, "WAV"), "ok", ""),
    "channels_8_flac": ("c2.flac", lambda: _encode(_tone(channels=8), SAMPLE_RATE, "FLAC"), "ok", ""),
    "channels_100": ("c3.wav", lambda: _encode(_tone(0.05, channels=100), SAMPLE_RATE, "WAV"), "error",
                     "channel count"),
    "rate_1_hz": ("r1.wav", lambda: _encode(_tone(10, 1), 1, "WAV"), "error", "sample rate"),
    "rate_3999_hz": ("r2.wav", lambda: _encode(_tone(0.5, 3999), 3999, "WAV"), "error", "sample rate"),
    "rate_8_khz": ("r3.wav", lambda: _encode(_tone(0.5, 8000), 8000, "WAV"), "ok", ""),
    "rate_384_khz": ("r4.wav", lambda: _encode(_tone(0.2, 384_000), 384_000, "WAV"), "ok", ""),
    "rate_1_mhz": ("r5.wav", lambda: _encode(_tone(0.01, 1_000_000), 1_000_000, "WAV"), "error", "sample rate"),
    "garbage_named_mp3": ("g1.mp3", lambda: bytes(range(7, 256)) * 80, "error", "not an audio file"),
    "text_named_mp3": ("g2.mp3", lambda: b"this is not audio at all\n" * 400, "error", "not an audio file"),
    "zeros_named_mp3": ("g3.mp3", lambda: bytes(50_000), "error", "not an audio file"),
    "mpeg_sync_then_garbage": ("g4.mp3", lambda: b"\xff\xfb\x90\x00" + bytes(range(256)) * 40, "error", "MP3"),
    "id3_then_garbage": ("g5.mp3", lambda: b"ID3\x04\x00\x00\x00\x00\x00\x10" + bytes(range(256)) * 8, "error",
                         "MP3"),
    "garbage_named_wav": ("g6.wav", lambda: bytes(range(3, 256)) * 80, "error", "not an audio file"),
    "png_named_wav": ("g7.wav", lambda: b"\x89PNG\r\n\x1a\n" + bytes(500), "error", "not an audio file"),
    "wav_named_mp3": ("g8.mp3", lambda: WAV, "ok", ""),
    "flac_named_wav": ("g9.wav", lambda: FLAC, "ok", ""),
    "truncated_wav_odd_bytes": ("t1.wav", lambda: WAV[:-1], "ok", ""),
    "truncated_flac": ("t2.flac", lambda: FLAC[: len(FLAC) // 2], "error", "corrupt or truncated"),
    "truncated_ogg": ("t3.ogg", lambda: OGG[: len(OGG) // 2], "error", "corrupt or truncated"),
    "truncated_mp3": ("t4.mp3", lambda: MP3[: len(MP3) // 2], "either", "corrupt"),
}


def _write(folder, name):
    filename, content, _, _ = CASES[name]
    path = folder / filename
    path.write_bytes(content())
    return path


def _check_audio(y):
    assert y.dtype == np.float32 and y.ndim == 1 and y.shape[0] >= 1
    assert np.isfinite(y).all() and float(np.abs(y).max()) <= 1.0


@pytest.mark.parametrize("name", sorted(CASES))
def test_load_audio_case(tmp_path, name):
    path = _write(tmp_path, name)
    kind, value = outcome(lambda: load_audio(path), source=path)
    expected, words = CASES[name][2], CASES[name][3]
    if expected != "either":
        assert kind == expected, f"{name}: {value}"
    if kind == "ok":
        _check_audio(value)
    else:
        assert any(w in value.lower() for w in words.lower().split("|")), value
        assert "does not exist" not in value  # libsndfile's wording for "no decoder took it"
    # The header reader obeys the same rule.
    outcome(lambda: duration_seconds(path), source=path)


def test_missing_file_and_folder(tmp_path):
    assert "file not found" in outcome(lambda: load_audio(tmp_path / "nope.wav"), source="nope.wav")[1]
    assert "is a folder" in outcome(lambda: load_audio(tmp_path), source=tmp_path)[1]


# --- the Transcriber and `speech transcribe` over a batch of all the cases ---------------------------------------


@pytest.fixture(scope="module")
def case_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("audio_cases")
    return {name: _write(folder, name) for name in sorted(CASES)}


@pytest.mark.time_limit(60)
def test_transcriber_transcribes_the_rest_of_a_bad_batch(transcriber, case_files):
    names = sorted(case_files)
    arrays = [_tone(), np.full(100, np.nan, np.float32), np.zeros(0, np.float32), _tone(0.1, channels=8)]
    results = transcriber.transcribe([case_files[n] for n in names] + arrays, sample_rate=SAMPLE_RATE)
    assert len(results) == len(names) + len(arrays)
    for name, result in zip(names, results):
        expected = CASES[name][2]
        if expected == "ok":
            assert result.ok, f"{name}: {result.error}"
        elif expected == "error":
            assert not result.ok and str(case_files[name]) in result.error and "\n" not in result.error, name
        assert "unexpected" not in (result.error or ""), result.error
    tail = results[len(names):]
    assert [r.ok for r in tail] == [True, False, False, True]
    assert tail[1].error.startswith(f"array #{len(names) + 1}: ") and "NaN" in tail[1].error


@pytest.mark.time_limit(60)
def test_speech_transcribe_cli_outputs_the_rest_and_exits_nonzero(tiny_models, case_files, capfd):
    names = sorted(case_files)
    status = speech_main(["transcribe", "--model", str(tiny_models["speech"]), "--format", "json",
                          *(str(case_files[n]) for n in names)])
    out, err = capfd.readouterr()
    assert "Traceback" not in err
    good = [n for n in names if CASES[n][2] == "ok"]
    bad = [n for n in names if CASES[n][2] == "error"]
    assert status == min(len(bad), 100)  # the exit status counts the failed inputs
    assert len([line for line in out.splitlines() if line.startswith("{")]) >= len(good)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    for name in bad:
        assert sum(str(case_files[name]) in line for line in errors) == 1, name
    assert f"of {len(names)} files failed" in err


# --- hypothesis: mutated files and drawn arrays ------------------------------------------------------------------

SEEDS = {"wav": WAV, "flac": FLAC, "ogg": OGG, "mp3": MP3,
         "wav8": _encode(_tone(0.1, channels=8), SAMPLE_RATE, "WAV", "PCM_24"),
         "aiff": _encode(_tone(0.1), 22050, "AIFF")}




@FUZZ
@given(mutated_files(SEEDS, header_bytes=48, suffixes=lambda kind: [kind.rstrip("8"), "wav", "mp3", "bin"]))
def test_fuzzed_audio_files(tmp_path_factory, case):
    data, suffix = case
    path = tmp_path_factory.mktemp("fuzz") / f"fuzzed.{suffix}"
    path.write_bytes(data)
    kind, value = outcome(lambda: load_audio(path, max_seconds=600), source=path)
    if kind == "ok":
        _check_audio(value)


@st.composite
def sample_arrays(draw):
    length = draw(st.sampled_from([0, 1, 2, 7, 160, 4000]))
    channels = draw(st.sampled_from([None, 1, 2, 8, 65]))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.float16, np.int16, np.int32, np.uint8, np.int8,
                                  np.int64, np.bool_]))
    fill = draw(st.sampled_from([0.0, 0.25, -1.0, 1e6, np.nan, np.inf]))
    shape = (length,) if channels is None else (length, channels)
    with np.errstate(all="ignore"):
        samples = np.full(shape, fill).astype(dtype)
    if length > 1 and dtype in (np.float32, np.float64) and np.isfinite(fill):
        samples = samples + np.linspace(-0.1, 0.1, length).reshape((-1,) + (1,) * (samples.ndim - 1))
    rate = draw(st.sampled_from([1, 3999, 4000, 8000, 16000, 22050.5, 44100, 384_000, 768_000, 0, -16000]))
    return samples, rate


@FUZZ
@given(sample_arrays())
def test_drawn_arrays(case):
    samples, rate = case
    kind, value = outcome(lambda: load_audio(samples, source_rate=rate), source="audio array")
    if kind == "ok":
        _check_audio(value)


def test_settings_errors_are_config_errors():
    with pytest.raises(ConfigError, match="max_seconds"):
        load_audio(_tone(), source_rate=SAMPLE_RATE, max_seconds=0)
    with pytest.raises(ConfigError, match="sample_rate"):
        load_audio(_tone(), source_rate=SAMPLE_RATE, sample_rate=1)
    with pytest.raises(InputError, match="source_rate"):
        load_audio(_tone())
