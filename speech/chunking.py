"""Split long recordings into chunks a model can take at once, at silences.

:func:`split_on_silence` measures the energy of every 10 ms frame (a view over the samples: no copy of the
audio), marks frames within ``top_db`` of the loudest as voiced, closes gaps shorter than ``min_silence_seconds``,
cuts voiced stretches longer than ``max_chunk_seconds`` at their quietest frame, merges neighbours while they fit
in ``max_chunk_seconds`` and adds a little silence around each chunk. An hour of 16 kHz audio takes a fraction
of a second and a few megabytes beyond the audio itself.

>>> import numpy as np
>>> y = np.zeros(5 * 16000, dtype=np.float32)
>>> y[16000:32000] = 0.5 * np.sin(np.arange(16000) * 0.2)
>>> split_on_silence(y, pad_seconds=0.0)
[(16000, 32000)]
"""

import numpy as np

from common.errors import ConfigError, InputError
from speech.defaults import MAX_CHUNK_SECONDS, MIN_CHUNK_SECONDS, SAMPLE_RATE

__all__ = ["split_on_silence", "FRAME_SECONDS", "FLOOR_DB"]

FRAME_SECONDS = 0.010
"""Resolution of the silence detector (s)."""

FLOOR_DB = -70.0
"""Frames quieter than this (dB relative to full scale: RMS of 1.0 is 0 dB) are silent whatever ``top_db`` says."""

_MAX_MERGE_GAP_SECONDS = 2.0  # chunks are not merged across longer silences (they only cost time)
_CUT_PENALTY_DB_PER_SECOND = 1.0  # when cutting a long stretch, prefer late cuts unless an earlier one is quieter


def _check(name, value, minimum, *, exclusive=False):
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and np.isfinite(value) and (value > minimum if exclusive else value >= minimum)
    if not ok:
        relation = ">" if exclusive else ">="
        raise ConfigError(f"`{name}` must be a number {relation} {minimum}. Received: {name}={value!r}")


def _frame_db(y, hop):
    """Energy of consecutive ``hop``-sample frames in dB full scale, shape (ceil(n / hop),)."""
    full = y.shape[0] // hop
    energy = np.empty(full + (1 if y.shape[0] % hop else 0), dtype=np.float64)
    frames = y[:full * hop].reshape(full, hop)
    energy[:full] = np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / hop  # no squared copy
    if energy.shape[0] > full:
        tail = y[full * hop:].astype(np.float64)
        energy[full] = np.dot(tail, tail) / tail.shape[0]
    return 10.0 * np.log10(np.maximum(energy, 1e-20))


def _runs(mask):
    """(start, end) frame index pairs (end exclusive) of the True runs of a boolean array."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    return edges.reshape(-1, 2)


def _cut_long(start, end, db, max_frames):
    """Cut [start, end) into pieces of at most max_frames, each cut at a quiet frame of the piece's second half."""
    pieces = []
    while end - start > max_frames:
        low, high = start + max(1, max_frames // 2), start + max_frames  # cut frame in [low, high]
        score = db[low:high + 1] + _CUT_PENALTY_DB_PER_SECOND * FRAME_SECONDS * np.arange(high - low, -1, -1)
        cut = low + int(np.argmin(score))
        pieces.append((start, cut))
        start = cut
    pieces.append((start, end))
    return pieces


def split_on_silence(audio, *, sample_rate=SAMPLE_RATE, max_chunk_seconds=MAX_CHUNK_SECONDS, min_silence_seconds=0.3,
                     top_db=35.0, pad_seconds=0.1):
    """Sample ranges of the speech in ``audio``, each at most ``max_chunk_seconds`` long.

    Parameters
    ----------
    audio : np.ndarray [shape=(n,)]
        Mono samples in [-1, 1].
    sample_rate : int > 0
        Hz.
    max_chunk_seconds : float >= 0.5
        Longest chunk (s); default :data:`speech.defaults.MAX_CHUNK_SECONDS`. Voiced stretches longer than this are
        cut at their quietest frame in the last half of the allowed length; no sample of them is dropped.
    min_silence_seconds : float >= 0
        Quieter stretches shorter than this (s) do not separate speech.
    top_db : float > 0
        Frames more than this many dB below the loudest frame (or below ``FLOOR_DB``) are silence.
    pad_seconds : float >= 0
        Silence kept before and after each chunk (s), at most half of the gap to its neighbours, and never beyond
        ``max_chunk_seconds``.

    Returns
    -------
    chunks : list of (int, int)
        ``(start, end)`` sample indices (end exclusive), in order and not overlapping, covering every voiced
        frame; neighbouring short chunks are merged while the result fits ``max_chunk_seconds`` (but not across
        silences longer than 2 s). Silence, or empty audio, gives ``[]``.
    """
    y = np.asarray(audio)
    if y.ndim != 1 or y.dtype.kind != "f":
        raise InputError(f"split_on_silence expects mono float samples of shape (n,) (see speech.audio.load_audio). "
                         f"Received: shape={y.shape}, dtype={y.dtype}", "audio array")
    if not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
        raise ConfigError(f"`sample_rate` must be a positive integer (Hz). Received: sample_rate={sample_rate!r}")
    _check("max_chunk_seconds", max_chunk_seconds, MIN_CHUNK_SECONDS)
    _check("min_silence_seconds", min_silence_seconds, 0.0)
    _check("top_db", top_db, 0.0, exclusive=True)
    _check("pad_seconds", pad_seconds, 0.0)
    if y.shape[0] == 0:
        return []
    hop = max(1, int(round(FRAME_SECONDS * sample_rate)))
    db = _frame_db(y, hop)
    loudest = float(db.max())
    if loudest <= FLOOR_DB:
        return []
    voiced = db > max(loudest - top_db, FLOOR_DB)

    # Voiced runs, with short silences closed.
    runs = _runs(voiced)
    min_gap = int(round(min_silence_seconds / FRAME_SECONDS))
    regions = [[int(runs[0, 0]), int(runs[0, 1])]]
    for start, end in runs[1:]:
        if start - regions[-1][1] < min_gap:
            regions[-1][1] = int(end)
        else:
            regions.append([int(start), int(end)])

    # Room for padding inside the maximum, then cut long regions and merge short neighbours.
    max_frames = int(max_chunk_seconds / FRAME_SECONDS)
    pad = int(round(min(pad_seconds, max_chunk_seconds / 4) * sample_rate))
    body_frames = max(1, max_frames - (2 * pad + hop - 1) // hop)
    pieces = [piece for start, end in regions for piece in _cut_long(start, end, db, body_frames)]
    max_gap = int(_MAX_MERGE_GAP_SECONDS / FRAME_SECONDS)
    chunks = [list(pieces[0])]
    for start, end in pieces[1:]:
        if end - chunks[-1][0] <= body_frames and start - chunks[-1][1] <= max_gap:
            chunks[-1][1] = end
        else:
            chunks.append([start, end])

    # Frames -> samples, padded into at most half of each neighbouring gap.
    n, max_samples = y.shape[0], int(round(max_chunk_seconds * sample_rate))
    bounds = [(start * hop, min(end * hop, n)) for start, end in chunks]
    result = []
    for index, (start, end) in enumerate(bounds):
        left_limit = 0 if index == 0 else (bounds[index - 1][1] + start + 1) // 2
        right_limit = n if index == len(bounds) - 1 else (end + bounds[index + 1][0]) // 2
        room = max(0, max_samples - (end - start))
        left = min(pad, start - left_limit, room // 2)
        right = min(pad, right_limit - end, room - left)
        result.append((int(start - left), int(end + right)))
    return result
