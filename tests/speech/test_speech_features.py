import numpy as np
import pytest

from common.errors import ConfigError, InputError
from speech.features import (NUM_MELS, add_noise, add_reverb, log_mel, num_frames, perturb_gain, perturb_speed,
                             spec_augment)


def speechlike(seconds=1.0, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 16000)) / 16000
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
    y = envelope * (0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.shape))
    return y.astype(np.float32)


@pytest.mark.parametrize("n", [0, 1, 159, 160, 400, 16000, 16001])
def test_shapes_and_silence(n):
    features = log_mel(np.zeros(n, dtype=np.float32))
    assert features.shape == (num_frames(n), NUM_MELS) and features.dtype == np.float32
    assert np.isfinite(features).all() and not features.any()  # silence normalizes to zeros


def test_normalized_per_bin():
    features = log_mel(speechlike(), num_mels=40)
    assert features.shape == (101, 40)
    assert np.abs(features.mean(axis=0)).max() < 1e-4
    assert np.allclose(features.std(axis=0), 1.0, atol=1e-3)
    assert np.isfinite(log_mel(speechlike(0.01))).all()  # a 10 ms clip
    assert log_mel(speechlike(), sample_rate=8000).shape[0] == num_frames(16000, sample_rate=8000)


def test_bad_settings():
    with pytest.raises(ConfigError):
        log_mel(np.zeros(100, dtype=np.float32), num_mels=0)
    with pytest.raises(ValueError):
        log_mel(np.zeros((100, 2), dtype=np.float32))


def test_augmentation():
    y = speechlike()
    copy = y.copy()
    rng = np.random.default_rng(0)
    faster = perturb_speed(y, rng, low=1.1, high=1.1)
    assert abs(faster.shape[0] - 16000 / 1.1) < 20
    for out in (perturb_gain(y, rng), add_noise(y, rng), add_reverb(y, rng),
                add_noise(y, rng, kinds=("babble",)), add_noise(y, rng, kinds=("pink",))):
        assert out.shape == y.shape and out.dtype == np.float32
        assert np.isfinite(out).all() and np.abs(out).max() <= 1.0
    noisy = add_noise(y, rng, snr_db=(10, 10), kinds=("white",))
    snr = 10 * np.log10(np.mean(y.astype(np.float64) ** 2) / np.mean((noisy - y).astype(np.float64) ** 2))
    assert snr == pytest.approx(10, abs=0.5)
    assert np.array_equal(y, copy)  # inputs are never modified
    assert not add_noise(np.zeros(100, dtype=np.float32), rng).any()
    with pytest.raises(ConfigError):
        add_noise(y, rng, kinds=("traffic",))


def test_spec_augment():
    features = log_mel(speechlike(2.0))
    masked = spec_augment(features, np.random.default_rng(1), freq_width=20, time_width_fraction=0.1)
    assert masked.shape == features.shape and masked is not features
    assert (masked == 0).any() and not np.array_equal(masked, features)
    assert np.array_equal(spec_augment(features, np.random.default_rng(1), num_freq_masks=0, num_time_masks=0),
                          features)
    assert spec_augment(features[:1], np.random.default_rng(0)).shape == (1, NUM_MELS)


@pytest.mark.parametrize("sample_rate, n_fft, num_mels", [(16000, 512, 80), (22050, 1024, 64), (8000, 256, 40)])
def test_mel_filterbank_equals_librosas(sample_rate, n_fft, num_mels):
    """Ours is computed with NumPy (importing librosa's filters costs ~3 s of start-up); it must stay librosa's."""
    librosa = pytest.importorskip("librosa")
    from speech.features import _mel_basis

    ours = _mel_basis(sample_rate, n_fft, num_mels)
    theirs = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=num_mels)
    assert ours.shape == theirs.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-7)


def test_telephone_channel_keeps_the_voice_band_and_removes_what_is_above_4_khz():
    from speech.features import telephone_channel

    t = np.arange(16000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 1000 * t) + 0.3 * np.sin(2 * np.pi * 6000 * t)).astype(np.float32)
    out = telephone_channel(audio, np.random.default_rng(0), mu_law_probability=1.0)
    spectrum = np.abs(np.fft.rfft(out))
    assert out.shape == audio.shape and out.dtype == np.float32
    assert spectrum[1000] > 100 * spectrum[6000]
    assert spectrum[1000] > 0.5 * np.abs(np.fft.rfft(audio))[1000]


def test_warp_vocal_tract_moves_formants_by_the_factor_and_keeps_frames():
    import librosa

    from speech.features import warp_vocal_tract

    centers = librosa.mel_frequencies(n_mels=NUM_MELS + 2, fmin=0.0, fmax=8000.0)[1:-1]  # Hz of each mel bin
    formant = int(np.argmin(np.abs(centers - 1500.0)))  # a "formant" near 1.5 kHz, below the knee
    features = np.tile(np.exp(-0.5 * (np.arange(NUM_MELS) - formant) ** 2), (50, 1)).astype(np.float32)
    up = warp_vocal_tract(features, np.random.default_rng(0), low=1.1, high=1.1)
    down = warp_vocal_tract(features, np.random.default_rng(0), low=0.9, high=0.9)
    assert up.shape == features.shape and up.dtype == np.float32
    assert abs(int(np.argmax(up[0])) - int(np.argmin(np.abs(centers - 1.1 * centers[formant])))) <= 1
    assert abs(int(np.argmax(down[0])) - int(np.argmin(np.abs(centers - 0.9 * centers[formant])))) <= 1
    assert int(np.argmax(up[0])) > formant > int(np.argmax(down[0]))
    assert np.allclose(warp_vocal_tract(features, np.random.default_rng(0), low=1.0, high=1.0), features, atol=1e-5)
    before = features.copy()
    warp_vocal_tract(features, np.random.default_rng(3))
    assert np.array_equal(features, before)  # the input is never modified
    with pytest.raises(InputError, match="shape"):
        warp_vocal_tract(features[0], np.random.default_rng(0))
