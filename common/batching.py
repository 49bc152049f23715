"""Padding, length bucketing and the training data feed shared by both tasks.

Sequences are ``(time, features)`` float arrays of different lengths. Batches group sequences of similar length
(so padding stays small), pad with zeros to the longest one, and carry the true lengths beside them.
"""

import math

import common  # noqa: F401  (pins the Keras backend)
import keras
import numpy as np

__all__ = ["pad_batch", "length_batches", "CTCDataset"]


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


def length_batches(lengths, *, batch_size, max_frames=None, rng=None):
    """Split indices into batches of similar length.

    Args:
        lengths: the length of each item (any unit that grows with padding cost).
        batch_size: at most this many items per batch.
        max_frames: also cap ``batch items * longest length`` (bounds memory for long inputs).
        rng: a ``np.random.Generator``; when given, lengths are jittered before sorting and the batch order is
            shuffled, so epochs differ while batches stay length-homogeneous.

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
    if rng is not None:
        rng.shuffle(batches)
    return batches


class CTCDataset(keras.utils.PyDataset):
    """Batches ``({"features", "lengths"}, {"labels", "label_lengths"})`` for :class:`~common.recognizer.Recognizer`.

    Args:
        items: one prepared item per example (whatever ``featurize`` takes: a cached image strip, audio samples).
        labels: list of int np.ndarray label ids, one per item (already encoded with the alphabet).
        featurize: ``featurize(item, rng)`` -> float32 ``(time, features)``; ``rng`` is a ``np.random.Generator``
            when augmenting, else ``None``.
        lengths: approximate time length of each item, for bucketing.
        batch_size: items per batch.
        augment: pass a generator to ``featurize`` (training) or ``None`` (validation).
        shuffle: reshuffle the batches every epoch.
        seed: seed of the shuffling and augmentation.
        max_frames: cap of ``batch items * longest length`` per batch.
    """

    def __init__(self, items, labels, featurize, lengths, *, batch_size=32, augment=False, shuffle=True,
                 seed=0, max_frames=None, **kwargs):
        super().__init__(**kwargs)
        if not len(items) == len(labels) == len(lengths):
            raise ValueError(
                f"items, labels and lengths must pair up. Received: {len(items)}, {len(labels)}, {len(lengths)}"
            )
        self.items = items
        self.labels = labels
        self.featurize = featurize
        self.lengths = np.asarray(lengths)
        self.batch_size = batch_size
        self.augment = augment
        self.shuffle = shuffle
        self.max_frames = max_frames
        self.rng = np.random.default_rng(seed)
        self.epoch = 0
        self._make_batches()

    def _make_batches(self):
        rng = self.rng if self.shuffle else None
        self.batches = length_batches(self.lengths, batch_size=self.batch_size, max_frames=self.max_frames, rng=rng)

    def __len__(self):
        return len(self.batches)

    def on_epoch_end(self):
        self.epoch += 1
        if self.shuffle:
            self._make_batches()

    def __getitem__(self, index):
        indices = self.batches[index]
        rng = np.random.default_rng((self.rng.bit_generator.seed_seq.entropy, self.epoch, index)) if self.augment else None
        features = [self.featurize(self.items[i], rng) for i in indices]
        x, lengths = pad_batch(features)
        labels = [self.labels[i] for i in indices]
        label_lengths = np.array([len(lab) for lab in labels], dtype=np.int32)
        padded = np.zeros((len(labels), max(1, int(label_lengths.max()))), dtype=np.int32)
        for i, lab in enumerate(labels):
            padded[i, : len(lab)] = lab
        return {"features": x, "lengths": lengths}, {"labels": padded, "label_lengths": label_lengths}
