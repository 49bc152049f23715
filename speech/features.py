"""Log-mel features and training augmentation for 16 kHz speech.

:func:`log_mel` turns samples into ``(frames, num_mels)``: by default (:mod:`speech.defaults`; a model's
:class:`~speech.preprocessor.AudioPreprocessor` passes its own settings) a 25 ms Hann window every 10 ms
(centered frames, so ``num_frames(n) = 1 + n // hop``), an 80-band mel power spectrogram, ``log(power + 1e-6)``,
then per-utterance normalization (each mel bin to zero mean and unit variance over the utterance). The same function
serves training and inference, so a model never sees features computed two ways.

Augmentation functions take a ``numpy.random.Generator`` and return new arrays (the input is never modified):
audio-side :func:`perturb_speed`, :func:`perturb_gain`, :func:`add_noise`, :func:`add_reverb`,
:func:`telephone_channel`, and feature-side :func:`warp_vocal_tract` and :func:`spec_augment`.

>>> import numpy as np
>>> features = log_mel(np.zeros(16000, dtype=np.float32))
>>> features.shape == (num_frames(16000), NUM_MELS)
True
"""

import functools

import numpy as np

from common.errors import ConfigError, InputError
from speech.defaults import HOP_SECONDS, NUM_MELS, SAMPLE_RATE, WIN_SECONDS

__all__ = [
    "NUM_MELS",
    "HOP_SECONDS",
    "WIN_SECONDS",
    "LOG_FLOOR",
    "log_mel",
    "num_frames",
    "spec_augment",
    "warp_vocal_tract",
    "perturb_speed",
    "perturb_gain",
    "add_noise",
    "add_reverb",
    "telephone_channel",
]

LOG_FLOOR = 1e-6
"""Added to the mel power before the log, so silence gives a finite value."""

_STD_FLOOR = 1e-3  # normalization never divides by less (silent or constant bins stay at 0)


def _frame_sizes(sample_rate, hop_seconds=HOP_SECONDS, win_seconds=WIN_SECONDS):
    """(win_length, hop_length, n_fft) in samples."""
    win = max(1, int(round(win_seconds * sample_rate)))
    hop = max(1, int(round(hop_seconds * sample_rate)))
    return win, hop, 1 << (win - 1).bit_length()


def _hz_to_mel(hz):
    """Slaney's mel scale (librosa's default, ``htk=False``): linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel):
    mel = np.asarray(mel, dtype=np.float64)
    return np.where(mel >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0)), mel * (200.0 / 3))


@functools.lru_cache(maxsize=8)
def _mel_basis(sample_rate, n_fft, num_mels):
    """Triangular mel filters ``(num_mels, 1 + n_fft // 2)`` from 0 Hz to Nyquist, area-normalized (Slaney).

    The same matrix as ``librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=num_mels)`` (a test compares
    them), computed here because importing librosa's filters pulls in SciPy's signal module and numba: ~3 s on
    every ``transcribe``.
    """
    fft_hz = np.linspace(0.0, sample_rate / 2.0, 1 + n_fft // 2)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(sample_rate / 2.0), num_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_hz[None, :]
    rising = -ramps[:-2] / widths[:-1, None]
    falling = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling)).astype(np.float32)
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None].astype(np.float32)
    return weights


@functools.lru_cache(maxsize=8)
def _window(win, n_fft):
    window = np.zeros(n_fft, dtype=np.float32)
    start = (n_fft - win) // 2
    window[start:start + win] = np.hanning(win + 1)[:-1]  # periodic Hann, centered in the FFT frame
    return window


def num_frames(num_samples, *, sample_rate=SAMPLE_RATE, hop_seconds=HOP_SECONDS):
    """Frames :func:`log_mel` gives for ``num_samples`` samples.

    Parameters
    ----------
    num_samples : int >= 0
    sample_rate : int > 0
        Hz.
    hop_seconds : float > 0
        Seconds between frames.

    Returns
    -------
    frames : int
        ``1 + num_samples // hop`` (0 for no samples), with ``hop`` = ``hop_seconds`` in samples.
    """
    num_samples = int(num_samples)
    if num_samples <= 0:
        return 0
    return 1 + num_samples // _frame_sizes(sample_rate, hop_seconds)[1]


def log_mel(audio, *, sample_rate=SAMPLE_RATE, num_mels=NUM_MELS, hop_seconds=HOP_SECONDS, win_seconds=WIN_SECONDS):
    """Normalized log-mel spectrogram.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
        Mono samples, nominally in [-1, 1] (see :func:`speech.audio.load_audio`).
    sample_rate : int > 0
        Rate of ``audio`` (Hz).
    num_mels : int > 0
        Mel bands between 0 Hz and ``sample_rate / 2``.
    hop_seconds, win_seconds : float > 0
        Seconds between frames, and under each frame's window (a model's
        :class:`~speech.preprocessor.AudioPreprocessor` passes its own).

    Returns
    -------
    features : np.ndarray [shape=(num_frames(n), num_mels), dtype=float32]
        Per utterance, every mel bin has zero mean and unit variance (bins that do not vary, such as those of
        digital silence, are 0). Empty audio gives ``(0, num_mels)``.
    """
    if not (isinstance(num_mels, (int, np.integer)) and 0 < num_mels <= 512):
        raise ConfigError(f"`num_mels` must be a positive integer (usually 80). Received: num_mels={num_mels!r}")
    if not (isinstance(sample_rate, (int, np.integer)) and sample_rate >= 1000):
        raise ConfigError(f"`sample_rate` must be an integer rate in Hz (usually 16000). "
                          f"Received: sample_rate={sample_rate!r}")
    y = np.asarray(audio)
    if y.ndim != 1 or y.dtype.kind not in "fiu":
        raise InputError(f"log_mel expects mono samples of shape (n,); mix down or use speech.audio.load_audio. "
                         f"Received: shape={y.shape}, dtype={y.dtype}", "audio array")
    if not all(isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and np.isfinite(v)
               for v in (hop_seconds, win_seconds)) or not 0 < hop_seconds <= win_seconds <= 1.0:
        raise ConfigError(f"`hop_seconds` and `win_seconds` must be seconds with 0 < hop <= window <= 1 (usually "
                          f"0.01 and 0.025). Received: hop_seconds={hop_seconds!r}, win_seconds={win_seconds!r}")
    y = y.astype(np.float32, copy=False)
    win, hop, n_fft = _frame_sizes(sample_rate, hop_seconds, win_seconds)
    count = num_frames(y.shape[0], sample_rate=sample_rate, hop_seconds=hop_seconds)
    if count == 0:
        return np.zeros((0, num_mels), dtype=np.float32)
    # Centered frames: frame t covers samples [t * hop - n_fft / 2, t * hop + n_fft / 2), zero-padded at the ends.
    padded = np.zeros(count * hop + n_fft, dtype=np.float32)
    padded[n_fft // 2:n_fft // 2 + y.shape[0]] = y
    frames = np.lib.stride_tricks.as_strided(padded, shape=(count, n_fft), strides=(hop * 4, 4), writeable=False)
    import scipy.fft

    spectrum = scipy.fft.rfft(frames * _window(win, n_fft), axis=1)  # complex64: float32 in, float32 out
    power = spectrum.real ** 2 + spectrum.imag ** 2
    features = np.log(power @ _mel_basis(int(sample_rate), n_fft, int(num_mels)).T + np.float32(LOG_FLOOR))
    features -= features.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)  # float64: silence -> 0
    features /= np.maximum(features.std(axis=0, keepdims=True, dtype=np.float64), _STD_FLOOR).astype(np.float32)
    return features.astype(np.float32, copy=False)


# --- augmentation ------------------------------------------------------------------------------------------------


def _check_range(name, value, *, low=None, high=None):
    """A (low, high) pair or a single number -> (low, high) floats."""
    pair = (value, value) if np.isscalar(value) else tuple(value)
    if len(pair) != 2 or not all(np.isfinite(v) for v in pair) or pair[0] > pair[1] \
            or (low is not None and pair[0] < low) or (high is not None and pair[1] > high):
        bounds = f" within [{low}, {high}]" if low is not None or high is not None else ""
        raise ConfigError(f"`{name}` must be a number or a (low, high) pair{bounds} with low <= high. "
                          f"Received: {name}={value!r}")
    return float(pair[0]), float(pair[1])


def _as_audio(audio):
    y = np.asarray(audio, dtype=np.float32)
    if y.ndim != 1:
        raise InputError(f"expected mono samples of shape (n,). Received: shape={y.shape}", "audio array")
    return y


def _as_features(features):
    """A float32 copy of ``features`` (the caller may change it in place), checked to be ``(frames, num_mels)``."""
    x = np.array(features, dtype=np.float32)
    if x.ndim != 2:
        raise InputError(f"expected features of shape (frames, num_mels). Received: shape={x.shape}", "features")
    return x


def _fit(y):
    """Scale down (never up) so that the peak is at most 1."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if peak > 1.0:
        y = y * np.float32(1.0 / peak)
    return y.astype(np.float32, copy=False)


def spec_augment(features, rng, *, num_freq_masks=2, freq_width=15, num_time_masks=2, time_width_fraction=0.05):
    """SpecAugment: zero random bands of mel bins and of frames (0 is the mean of normalized features).

    Parameters
    ----------
    features : np.ndarray [shape=(frames, num_mels)]
    rng : np.random.Generator
    num_freq_masks : int >= 0
        Frequency masks, each ``0..freq_width`` bins wide.
    freq_width : int >= 0
        Widest frequency mask (bins).
    num_time_masks : int >= 0
        Time masks, each ``0..time_width_fraction * frames`` frames wide.
    time_width_fraction : float in [0, 1]
        Widest time mask as a fraction of the utterance.

    Returns
    -------
    masked : np.ndarray [shape=(frames, num_mels), dtype=float32]
    """
    x = _as_features(features)
    if not 0.0 <= time_width_fraction <= 1.0:
        raise ConfigError(f"`time_width_fraction` must be in [0, 1]. "
                          f"Received: time_width_fraction={time_width_fraction!r}")
    frames, bins = x.shape
    for _ in range(int(num_freq_masks)):
        width = int(rng.integers(0, min(int(freq_width), bins) + 1))
        start = int(rng.integers(0, bins - width + 1))
        x[:, start:start + width] = 0.0
    max_time = int(time_width_fraction * frames)
    for _ in range(int(num_time_masks)):
        width = int(rng.integers(0, max_time + 1))
        start = int(rng.integers(0, frames - width + 1))
        x[start:start + width, :] = 0.0
    return x


def warp_vocal_tract(features, rng, *, sample_rate=SAMPLE_RATE, low=0.9, high=1.1, boundary_hz=4800.0):
    """Vocal tract length perturbation (VTLP, Jaitly & Hinton 2013) of a mel spectrogram: formants move by a random
    factor while duration and pitch stay, so that one voice stands for speakers with shorter or longer vocal tracts.

    Frequencies ``f`` up to ``boundary_hz * min(alpha, 1) / alpha`` move to ``alpha * f``; above it, a straight line
    takes the rest of the band to Nyquist (which stays put). Each mel bin of the output is read, by linear
    interpolation between bins, from where the warp took it.

    Parameters
    ----------
    features : np.ndarray [shape=(frames, num_mels)]
        Log-mel features whose bins span 0 Hz to Nyquist on Slaney's mel scale (as :func:`log_mel` gives).
    rng : np.random.Generator
    sample_rate : int > 0
        Hz of the audio the features came from.
    low, high : float > 0
        Range of the warp factor ``alpha`` (drawn uniformly).
    boundary_hz : float > 0
        Where the linear part ends for ``alpha = 1``.

    Returns
    -------
    warped : np.ndarray [shape=(frames, num_mels), dtype=float32]
    """
    x = _as_features(features)
    if not 0.0 < low <= high:
        raise ConfigError(f"`low` and `high` must satisfy 0 < low <= high. Received: low={low!r}, high={high!r}")
    bins = x.shape[1]
    if bins < 2 or x.shape[0] == 0:
        return x
    alpha = float(rng.uniform(low, high))
    nyquist = sample_rate / 2.0
    centers = _mel_to_hz(np.linspace(_hz_to_mel(0.0), _hz_to_mel(nyquist), bins + 2)[1:-1])
    knee = min(boundary_hz * min(alpha, 1.0) / alpha, nyquist * 0.999)
    moved = np.where(centers <= knee, alpha * centers,
                     nyquist - (nyquist - alpha * knee) / (nyquist - knee) * (nyquist - centers))
    position = np.interp(centers, moved, np.arange(bins, dtype=np.float64))  # where each output bin reads from
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, bins - 1)
    weight = (position - below).astype(np.float32)
    return x[:, below] * (1.0 - weight) + x[:, above] * weight


def perturb_speed(audio, rng, *, low=0.9, high=1.1):
    """Speed perturbation by resampling (tempo and pitch change together, as in Kaldi's recipes).

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
    rng : np.random.Generator
    low, high : float > 0
        Range of the speed factor (> 1: faster and shorter).

    Returns
    -------
    y : np.ndarray [shape=(about n / factor,), dtype=float32]
    """
    low, high = _check_range("low/high", (low, high), low=0.25, high=4.0)
    y = _as_audio(audio)
    factor = float(rng.uniform(low, high))
    if y.size < 2 or abs(factor - 1.0) < 1e-3:
        return y.copy()
    import soxr

    return _fit(soxr.resample(y, SAMPLE_RATE * factor, SAMPLE_RATE, quality="MQ"))


def perturb_gain(audio, rng, *, gain_db=(-6.0, 6.0)):
    """Multiply by a random gain, then scale down if the result would clip.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
    rng : np.random.Generator
    gain_db : (float, float)
        Range of the gain in dB.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
    """
    low, high = _check_range("gain_db", gain_db, low=-60.0, high=60.0)
    y = _as_audio(audio)
    return _fit(y * np.float32(10.0 ** (rng.uniform(low, high) / 20.0)))


def _noise(kind, n, rng, audio):
    if kind == "white":
        return rng.standard_normal(n).astype(np.float32)
    if kind == "pink":  # 1/f power: shape white noise's spectrum by 1/sqrt(f)
        spectrum = np.fft.rfft(rng.standard_normal(n))
        spectrum[1:] /= np.sqrt(np.arange(1, spectrum.shape[0]))
        spectrum[0] = 0.0
        return np.fft.irfft(spectrum, n=n).astype(np.float32)
    # babble: several reversed, shifted copies of the utterance itself (speech-shaped, unintelligible)
    noise = np.zeros(n, dtype=np.float32)
    for _ in range(int(rng.integers(3, 7))):
        noise += np.roll(audio[::-1], int(rng.integers(0, n))) * np.float32(rng.uniform(0.5, 1.0))
    return noise


def add_noise(audio, rng, *, snr_db=(5.0, 25.0), kinds=("white", "pink", "babble")):
    """Add noise at a random signal-to-noise ratio.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
    rng : np.random.Generator
    snr_db : (float, float)
        Range of the SNR in dB (speech power over noise power).
    kinds : sequence of str
        Noise kinds to draw from: ``"white"``, ``"pink"`` (1/f) and ``"babble"`` (speech-shaped, made from
        reversed shifted copies of the utterance).

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        Scaled down if the sum would clip. Silent input comes back unchanged.
    """
    low, high = _check_range("snr_db", snr_db, low=-30.0, high=100.0)
    unknown = [k for k in kinds if k not in ("white", "pink", "babble")]
    if not kinds or unknown:
        raise ConfigError(f"`kinds` must name noises among 'white', 'pink', 'babble'. Received: kinds={kinds!r}")
    y = _as_audio(audio)
    power = float(np.mean(np.square(y, dtype=np.float64))) if y.size else 0.0
    if power <= 0.0:
        return y.copy()
    noise = _noise(kinds[int(rng.integers(len(kinds)))], y.shape[0], rng, y)
    noise_power = float(np.mean(np.square(noise, dtype=np.float64)))
    if noise_power <= 0.0:
        return y.copy()
    snr = rng.uniform(low, high)
    scale = np.sqrt(power / (noise_power * 10.0 ** (snr / 10.0)))
    return _fit(y + noise * np.float32(scale))


def add_reverb(audio, rng, *, rt60=(0.15, 0.8), drr_db=(0.0, 12.0), sample_rate=SAMPLE_RATE):
    """Convolve with a synthetic room impulse response: a direct impulse plus exponentially decaying noise.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
    rng : np.random.Generator
    rt60 : (float, float)
        Range of the reverberation time (seconds for the tail to decay by 60 dB).
    drr_db : (float, float)
        Range of the direct-to-reverberant energy ratio (dB; lower is more reverberant).
    sample_rate : int > 0
        Hz.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        Same length, with about the input's RMS level.
    """
    rt_low, rt_high = _check_range("rt60", rt60, low=0.01, high=5.0)
    drr_low, drr_high = _check_range("drr_db", drr_db, low=-20.0, high=40.0)
    y = _as_audio(audio)
    if y.size == 0:
        return y.copy()
    rt = float(rng.uniform(rt_low, rt_high))
    length = max(2, int(rt * sample_rate))
    delay = int(rng.uniform(0.001, 0.005) * sample_rate)  # the first reflections arrive a few ms late
    t = np.arange(length - delay) / sample_rate
    tail = rng.standard_normal(length - delay) * np.exp(-6.9078 * t / rt)  # 60 dB = e^-6.9078 in amplitude
    tail *= np.sqrt(10.0 ** (-rng.uniform(drr_low, drr_high) / 10.0) / max(np.sum(tail ** 2), 1e-12))
    impulse = np.zeros(length)
    impulse[0] = 1.0
    impulse[delay:] += tail
    from scipy.signal import fftconvolve

    wet = fftconvolve(y, impulse.astype(np.float32), mode="full")[:y.shape[0]]
    rms_in, rms_out = np.sqrt(np.mean(y.astype(np.float64) ** 2)), np.sqrt(np.mean(wet.astype(np.float64) ** 2))
    if rms_out > 0:
        wet = wet * np.float32(rms_in / rms_out)
    return _fit(wet)


def telephone_channel(audio, rng, *, sample_rate=SAMPLE_RATE, mu_law_probability=0.5):
    """A telephone line: band-limit to 300-3400 Hz through 8 kHz sampling, with G.711 mu-law quantisation.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
        Samples at ``sample_rate``.
    rng : np.random.Generator
    sample_rate : int > 0
        Hz (a multiple of 8000 is resampled exactly; others through a polyphase filter as well).
    mu_law_probability : float in [0, 1]
        Chance of the 8-bit mu-law quantisation step (G.711) after the band limit.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        Same length and rate, with nothing above 4 kHz and little below 300 Hz.
    """
    _check_range("mu_law_probability", (mu_law_probability, mu_law_probability), low=0.0, high=1.0)
    y = _as_audio(audio)
    if y.size == 0:
        return y.copy()
    from math import gcd

    from scipy.signal import butter, resample_poly, sosfilt

    g = gcd(int(sample_rate), 8000)
    narrow = resample_poly(y.astype(np.float64), 8000 // g, int(sample_rate) // g)
    narrow = sosfilt(butter(4, [300.0, 3400.0], btype="bandpass", fs=8000, output="sos"), narrow)
    if rng.random() < mu_law_probability:
        peak = max(float(np.max(np.abs(narrow))), 1e-9)
        x = np.clip(narrow / peak, -1.0, 1.0)
        mu = 255.0
        coded = np.round(np.sign(x) * np.log1p(mu * np.abs(x)) / np.log1p(mu) * 127.0) / 127.0
        narrow = np.sign(coded) * np.expm1(np.abs(coded) * np.log1p(mu)) / mu * peak
    wide = resample_poly(narrow, int(sample_rate) // g, 8000 // g)[:y.shape[0]]
    if wide.shape[0] < y.shape[0]:
        wide = np.pad(wide, (0, y.shape[0] - wide.shape[0]))
    return _fit(wide)
