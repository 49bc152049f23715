
import numpy as np
import pytest

from common.errors import ConfigError
from speech.chunking import split_on_silence

SR = 16000
BURSTS = [(0.5, 2.0), (3.0, 4.2), (5.0, 5.3), (7.5, 11.0)]  # seconds


def bursts(noise=1e-4):
    y = np.zeros(12 * SR, dtype=np.float32)
    for start, end in BURSTS:
        t = np.arange(int(start * SR), int(end * SR))
        y[t] = 0.5 * np.sin(2 * np.pi * 300 * t / SR)
    y += noise * np.random.default_rng(0).standard_normal(y.shape).astype(np.float32)
    return y


def test_boundaries_of_tone_bursts():
    chunks = split_on_silence(bursts(), max_chunk_seconds=2.0, pad_seconds=0.0)
    # The 3.5 s burst is cut once; the others stay apart (merging would exceed 2 s).
    expected = [(0.5, 2.0), (3.0, 4.2), (5.0, 5.3), (7.5, None), (None, 11.0)]
    assert len(chunks) == len(expected)
    for (start, end), (want_start, want_end) in zip(chunks, expected):
        if want_start is not None:
            assert abs(start / SR - want_start) <= 0.05
        if want_end is not None:
            assert abs(end / SR - want_end) <= 0.05
    assert chunks[3][1] == chunks[4][0]  # a cut drops nothing


def test_merging_and_padding():
    chunks = split_on_silence(bursts())  # defaults: 20 s, 0.1 s padding, no merge across > 2 s of silence
    assert [(round(s / SR, 2), round(e / SR, 2)) for s, e in chunks] == [(0.4, 5.4), (7.4, 11.1)]


def test_unbroken_tone_is_cut_without_loss():
    y = (0.5 * np.sin(2 * np.pi * 200 * np.arange(90 * SR) / SR)).astype(np.float32)
    chunks = split_on_silence(y)
    assert all(end - start <= 20 * SR for start, end in chunks)
    assert chunks[0][0] == 0 and chunks[-1][1] == y.shape[0]
    assert all(a[1] == b[0] for a, b in zip(chunks, chunks[1:]))


def test_silence_and_validation():
    assert split_on_silence(np.zeros(5 * SR, dtype=np.float32)) == []
    assert split_on_silence(np.zeros(0, dtype=np.float32)) == []
    assert split_on_silence(np.full(3, 0.5, dtype=np.float32)) == [(0, 3)]
    with pytest.raises(ConfigError, match="max_chunk_seconds"):
        split_on_silence(bursts(), max_chunk_seconds=0)
    with pytest.raises(ValueError):
        split_on_silence(np.zeros((10, 2), dtype=np.float32))


def test_one_hour_is_covered_by_bounded_chunks():
    rng = np.random.default_rng(0)
    y = np.zeros(3600 * SR, dtype=np.float32)
    position = 0
    while position < y.shape[0] - 10 * SR:
        length = int(rng.uniform(0.5, 30) * SR)
        y[position:position + length] = 0.3
        position += length + int(rng.uniform(0.1, 2) * SR)
    chunks = split_on_silence(y)  # its speed is measured in benchmarks/speed.py, not asserted here
    covered = np.zeros(y.shape[0], dtype=bool)
    for start, end in chunks:
        assert end - start <= 20 * SR
        covered[start:end] = True
    assert not (y > 0)[~covered].any()
    assert all(a[1] <= b[0] for a, b in zip(chunks, chunks[1:]))
