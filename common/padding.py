"""Grouping sequences of different lengths into batches and padding them: NumPy only.

Sequences are ``(time, features)`` float arrays of different lengths. Batches group sequences of similar length
(so padding stays small), pad with zeros to the longest one, and carry the true lengths beside them. Inference
(:mod:`common.inference`) needs only this module, so running an exported model never imports TensorFlow or Keras;
the training feed (:mod:`common.batching`) builds on it.
"""

import math

import numpy as np

__all__ = ["pad_batch", "bucket_length", "length_batches"]


def pad_batch(sequences, *, multiple=1, dtype=np.float32):
    """Stack ``(time_i, features)`` arrays into ``(batch, max_time, features)`` zero-padded, plus lengths.

    Args:
        sequences: list of np.ndarray ``(time_i, features)``.
        multiple: round the padded length up to a multiple of this (fewer distinct shapes to compile).

    Returns:
        ``(batch, lengths)``: np.ndarray ``(n, T, features)`` and int32 np.ndarray ``(n,)``.
    """
    lengths = np.array([s.shape[0] for s in sequences], dtype=np.int32)
    longest = max(int(lengths.max()), 1)
    longest = int(math.ceil(longest / multiple) * multiple)
    batch = np.zeros((len(sequences), longest, sequences[0].shape[1]), dtype=dtype)
    for i, s in enumerate(sequences):
        batch[i, : s.shape[0]] = s
    return batch, lengths


def bucket_length(length):
    """``length`` rounded up to one of a few sizes per octave (a multiple of an eighth of the octave it is in, at
    least 8): at most 25% padding, and few distinct shapes for backends that compile every shape (JAX)."""
    length = max(int(length), 1)
    step = max(8, 2 ** max(0, length.bit_length() - 3))
    return int(math.ceil(length / step) * step)


def length_batches(lengths, *, batch_size, max_frames=None, rng=None, min_batch_size=1):
    """Split indices into batches of similar length.

    Args:
        lengths: the length of each item (any unit that grows with padding cost).
        batch_size: at most this many items per batch.
        max_frames: also cap ``batch items * longest length`` (bounds memory for long inputs).
        rng: a ``np.random.Generator``; when given, lengths are jittered before sorting and the batch order is
            shuffled, so epochs differ while batches stay length-homogeneous.
        min_batch_size: a batch with fewer items joins its neighbour of the closest length (under a strategy with
            ``n`` replicas, ``n``: every replica then gets at least one item). This bound wins over
            ``batch_size`` and ``max_frames``.

    Returns:
        list of int np.ndarray of indices.
    """
    lengths = np.asarray(lengths, dtype=np.float64)
    keys = lengths if rng is None else lengths * rng.uniform(0.9, 1.1, size=len(lengths))
    order = np.argsort(keys, kind="stable")
    batches, current, longest = [], [], 0.0
    for index in order:
        candidate = max(longest, lengths[index])
        too_many = len(current) >= batch_size
        too_big = max_frames is not None and current and candidate * (len(current) + 1) > max_frames
        if current and (too_many or too_big):
            batches.append(np.array(current))
            current, candidate = [], lengths[index]
        current.append(index)
        longest = candidate
    if current:
        batches.append(np.array(current))
    for i in range(len(batches) - 1, 0, -1):
        if len(batches[i]) < min_batch_size:
            batches[i - 1] = np.concatenate([batches[i - 1], batches.pop(i)])
    if batches and len(batches[0]) < min_batch_size and len(batches) > 1:
        batches[1] = np.concatenate([batches.pop(0), batches[1]])
    if rng is not None:
        rng.shuffle(batches)
    return batches
