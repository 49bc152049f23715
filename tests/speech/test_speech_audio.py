import numpy as np
import pytest
import soundfile as sf

from common.errors import ConfigError, InputError
from speech.audio import SAMPLE_RATE, duration_seconds, load_audio


def tone(seconds, rate, *, channels=1, freq=440.0, amplitude=0.5):
    t = np.arange(int(seconds * rate)) / rate
    y = amplitude * np.sin(2 * np.pi * freq * t)
    return np.stack([y] * channels, axis=1) if channels > 1 else y


def check(y, seconds, *, peak=0.5, tol=0.02):
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(y.shape[0] - seconds * SAMPLE_RATE) <= 2
    assert np.isfinite(y).all() and np.abs(y).max() <= 1.0
    assert abs(float(np.abs(y).max()) - peak) < tol


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT"])
def test_wav_subtypes(tmp_path, subtype):
    path = tmp_path / f"{subtype}.wav"
    sf.write(path, tone(0.5, 16000), 16000, subtype=subtype)
    check(load_audio(path), 0.5)


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_sample_rates(tmp_path, rate):
    path = tmp_path / f"r{rate}.wav"
    sf.write(path, tone(0.5, rate), rate, subtype="PCM_16")
    check(load_audio(path), 0.5)
    assert duration_seconds(path) == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("fmt,suffix", [("FLAC", ".flac"), ("OGG", ".ogg"), ("MP3", ".mp3")])
def test_compressed_formats(tmp_path, fmt, suffix):
    if fmt not in sf.available_formats():
        pytest.skip(f"this libsndfile ({sf.__libsndfile_version__}) cannot write {fmt}")
    path = tmp_path / f"a{suffix}"
    sf.write(path, tone(1.0, 44100), 44100, format=fmt)
    y = load_audio(path)
    assert abs(y.shape[0] - SAMPLE_RATE) < 0.06 * SAMPLE_RATE  # MP3 encoder delay/padding
    assert 0.3 < np.abs(y).max() <= 1.0


@pytest.mark.parametrize("channels", [2, 8])
def test_multichannel_file(tmp_path, channels):
    path = tmp_path / "multi.wav"
    sf.write(path, tone(0.25, 48000, channels=channels), 48000, subtype="PCM_24")
    check(load_audio(path), 0.25)


def test_arrays():
    check(load_audio(tone(0.5, 44100, channels=2).astype(np.float32), source_rate=44100), 0.5)
    check(load_audio((tone(0.5, 16000) * 32767).astype(np.int16), source_rate=16000), 0.5)
    check(load_audio((tone(0.5, 8000) * 2**31).astype(np.int32), source_rate=8000), 0.5)
    check(load_audio(tone(0.5, 16000, channels=2).T.copy(), source_rate=16000), 0.5)  # (channels, n)
    y = load_audio(np.full(1600, 4.0), source_rate=16000)  # float over full scale is scaled, not clipped
    assert np.abs(y).max() == pytest.approx(1.0)
    source = np.zeros(100, dtype=np.float32)
    assert load_audio(source, source_rate=16000) is not source


def test_tiny_and_extreme_rates():
    assert load_audio(tone(0.01, 16000), source_rate=16000).shape == (160,)  # 10 ms
    assert load_audio(np.zeros(1, dtype=np.float32), source_rate=16000).shape == (1,)
    assert load_audio(tone(0.01, 384000), source_rate=384000).shape[0] == 160
    with pytest.raises(InputError, match="sample rate.*source_rate=1"):
        load_audio(np.zeros(100), source_rate=1)
    with pytest.raises(InputError, match="source_rate=None"):
        load_audio(np.zeros(100))


def test_bad_arrays():
    with pytest.raises(InputError, match="no audio samples"):
        load_audio(np.zeros(0), source_rate=16000)
    with pytest.raises(InputError, match="NaN or infinite"):
        load_audio(np.array([0.0, np.nan, 0.1]), source_rate=16000)
    with pytest.raises(InputError, match="NaN or infinite"):
        load_audio(np.array([[0.0, np.inf]] * 10), source_rate=16000)
    with pytest.raises(InputError, match="int64"):
        load_audio(np.zeros(10, dtype=np.int64), source_rate=16000)
    with pytest.raises(InputError, match="shape"):
        load_audio(np.zeros((2, 2, 2)), source_rate=16000)
    with pytest.raises(InputError, match="max_seconds"):
        load_audio(np.zeros(16000 * 5, dtype=np.int16), source_rate=16000, max_seconds=2)
    with pytest.raises(ConfigError):
        load_audio(np.zeros(10), source_rate=16000, max_seconds=0)


def error_of(path, **kwargs):
    with pytest.raises(InputError) as info:
        load_audio(path, **kwargs)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message and "Traceback" not in message
    return message


def test_bad_files(tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, tone(0.5, 16000), 16000, subtype="PCM_16")
    data = good.read_bytes()

    assert "not found" in error_of(tmp_path / "missing.wav")
    (tmp_path / "empty.wav").write_bytes(b"")
    assert "empty file" in error_of(tmp_path / "empty.wav")
    (tmp_path / "corrupt.wav").write_bytes(data[:12] + b"\x00" * 32 + data[44:])
    assert "corrupt" in error_of(tmp_path / "corrupt.wav")
    (tmp_path / "header_only.wav").write_bytes(data[:30])
    assert "WAV" in error_of(tmp_path / "header_only.wav")
    (tmp_path / "garbage.mp3").write_bytes(np.random.default_rng(0).bytes(4000))
    assert "not an audio file" in error_of(tmp_path / "garbage.mp3")
    (tmp_path / "notes.wav").write_text("these are not samples\n" * 20)
    assert "not an audio file" in error_of(tmp_path / "notes.wav")
    assert "folder" in error_of(tmp_path)
    assert "max_seconds" in error_of(good, max_seconds=0.25)
    with pytest.raises(InputError, match="corrupt"):
        duration_seconds(tmp_path / "corrupt.wav")


def test_bad_file_contents(tmp_path):
    nan = tmp_path / "nan.wav"
    sf.write(nan, np.array([0.0, np.nan, 0.5] * 100, dtype=np.float32), 16000, subtype="FLOAT")
    assert "NaN" in error_of(nan)
    zero = tmp_path / "zero.wav"
    sf.write(zero, np.zeros((0, 1), dtype=np.float32), 16000, subtype="PCM_16")
    assert "no audio samples" in error_of(zero)
    slow = tmp_path / "rate1.wav"
    sf.write(slow, np.zeros(100, dtype=np.float32), 1, subtype="PCM_16")
    assert "sample_rate=1" in error_of(slow)
