"""Padding, length bucketing and the training data feed shared by both tasks.

Sequences are ``(time, features)`` float arrays of different lengths. Batches group sequences of similar length
(so padding stays small), pad with zeros to the longest one, and carry the true lengths beside them.

Under a ``tf.distribute`` strategy, :func:`distribute_dataset` feeds the same batches to ``fit``: each batch is the
*global* batch of one step, cut into one contiguous share per replica (and per worker), so the replicas see
distinct items and together exactly the batch one device would see. Padding and length bucketing themselves live
in :mod:`common.padding` (NumPy only, what inference needs).
"""

import common  # noqa: F401  (pins the Keras backend)
import keras
import numpy as np

from common.padding import bucket_length, length_batches, pad_batch  # noqa: F401  (this module's API too)
from common.errors import ConfigError

__all__ = ["pad_batch", "bucket_length", "length_batches", "CTCDataset", "replica_shares", "to_tf_dataset",
           "distribute_dataset", "to_batch_generator", "feed"]


class CTCDataset(keras.utils.PyDataset):
    """Batches ``({"features", "lengths"}, {"labels", "label_lengths"})`` for :class:`~common.recognizer.Recognizer`.

    An epoch's batches, and the augmentation of each of them, are a function of ``(seed, epoch)`` only: any number
    of readers (a Keras iterator, one per worker, a resumed run starting at epoch ``k``) see the same batches.

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
        min_batch_size: fewest items per batch (see :func:`length_batches`).
        bucket: pad every batch's time and label lengths up to :func:`bucket_length` (few distinct shapes).
    """

    def __init__(self, items, labels, featurize, lengths, *, batch_size=32, augment=False, shuffle=True,
                 seed=0, max_frames=None, min_batch_size=1, bucket=False, **kwargs):
        super().__init__(**kwargs)
        if not len(items) == len(labels) == len(lengths):
            raise ConfigError(
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
        self.min_batch_size = min_batch_size
        self.seed = seed
        self.bucket = bucket
        self.epoch = 0
        self.batches = self.epoch_batches(0)

    def epoch_batches(self, epoch):
        """The batches (arrays of item indices) of ``epoch``, in the order they are fed."""
        rng = np.random.default_rng((self.seed, epoch)) if self.shuffle else None
        return length_batches(self.lengths, batch_size=self.batch_size, max_frames=self.max_frames, rng=rng,
                              min_batch_size=self.min_batch_size)

    def make_batch(self, indices, *, epoch, index):
        """The padded batch of items ``indices``, fed as batch ``index`` of ``epoch`` (which seeds augmentation)."""
        rng = np.random.default_rng((self.seed, epoch, index)) if self.augment else None
        features = [self.featurize(self.items[i], rng) for i in indices]
        x, lengths = pad_batch(features)
        labels = [self.labels[i] for i in indices]
        label_lengths = np.array([len(lab) for lab in labels], dtype=np.int32)
        width = max(1, int(label_lengths.max()))
        if self.bucket:
            x = np.pad(x, ((0, 0), (0, bucket_length(x.shape[1]) - x.shape[1]), (0, 0)))
            width = bucket_length(width)
        padded = np.zeros((len(labels), width), dtype=np.int32)
        for i, lab in enumerate(labels):
            padded[i, : len(lab)] = lab
        return {"features": x, "lengths": lengths}, {"labels": padded, "label_lengths": label_lengths}

    def __len__(self):
        return len(self.batches)

    def on_epoch_end(self):
        self.epoch += 1
        if self.shuffle:
            self.batches = self.epoch_batches(self.epoch)

    def __getitem__(self, index):
        return self.make_batch(self.batches[index], epoch=self.epoch, index=index)


def replica_shares(batch_items, num_replicas):
    """Cut ``batch_items`` items into ``num_replicas`` contiguous shares, sizes differing by at most one.

    Returns:
        list of ``slice`` objects, one per replica (empty slices when there are fewer items than replicas).
    """
    bounds = np.linspace(0, batch_items, num_replicas + 1).round().astype(int)
    return [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]


def _signature(dataset):
    import tensorflow as tf

    num_features = dataset.featurize(dataset.items[0], None).shape[-1]
    return (
        {"features": tf.TensorSpec((None, None, num_features), tf.float32),
         "lengths": tf.TensorSpec((None,), tf.int32)},
        {"labels": tf.TensorSpec((None, None), tf.int32), "label_lengths": tf.TensorSpec((None,), tf.int32)},
    )


def _batch_jobs(dataset, first_epoch):
    """``(indices, epoch, index)`` of every batch of ``dataset`` from ``first_epoch`` on, epoch after epoch. Each
    call starts afresh and changes nothing in ``dataset`` (Keras opens one iterator to build the model under a
    strategy and then another to train)."""
    epoch = first_epoch
    while True:
        for index, indices in enumerate(dataset.epoch_batches(epoch)):
            yield indices, epoch, index
        epoch += 1


def _endless(dataset, pieces, first_epoch):
    """The batches of ``dataset`` from ``first_epoch`` on; ``pieces(batch)`` yields what is fed for each batch."""
    for indices, epoch, index in _batch_jobs(dataset, first_epoch):
        yield from pieces(dataset.make_batch(indices, epoch=epoch, index=index))


def to_tf_dataset(dataset, *, first_epoch=0, workers=1):
    """Feed ``dataset`` to ``fit`` on one device: an endless ``tf.data.Dataset`` of its batches from ``first_epoch``
    on (a resumed run's first epoch).

    Every dimension but the feature size is left open. (Given the :class:`CTCDataset` itself, Keras fixes the
    shapes it saw in the first two batches, and fails later on a batch whose longest label differs.) Pass
    ``steps_per_epoch=len(dataset)`` to ``fit``. ``workers`` threads compute the batches ahead
    (:func:`to_batch_generator`).
    """
    import tensorflow as tf

    return tf.data.Dataset.from_generator(
        lambda: to_batch_generator(dataset, first_epoch=first_epoch, workers=workers),
        output_signature=_signature(dataset)).prefetch(2)


def distribute_dataset(dataset, strategy, *, first_epoch=0):
    """Feed ``dataset`` to ``fit`` under a ``tf.distribute`` strategy.

    Every batch of ``dataset`` is one step's *global* batch: replica ``r`` of ``n`` (counted across all workers)
    gets share ``r`` of it (:func:`replica_shares`), padded to the global batch's length, so the replicas together
    see exactly the items one device would. Every worker builds the same batches (same data, same seed) and keeps
    only its own replicas' shares, so all workers run the same number of steps; ``tf.data`` auto-sharding is not
    used. The stream is endless, as in :func:`to_tf_dataset`: pass ``steps_per_epoch=len(dataset)`` to ``fit``.

    Args:
        dataset: a :class:`CTCDataset` whose batches hold at least ``strategy.num_replicas_in_sync`` items
            (``min_batch_size``).
        strategy: a ``tf.distribute.Strategy``.
        first_epoch: the epoch to start from (a resumed run's first epoch).

    Returns:
        a distributed dataset of ``({"features", "lengths"}, {"labels", "label_lengths"})``.
    """
    import tensorflow as tf

    signature = _signature(dataset)

    def dataset_fn(context):
        num_replicas = context.num_replicas_in_sync
        num_local = num_replicas // context.num_input_pipelines
        first = context.input_pipeline_id * num_local

        def pieces(batch):
            x, y = batch
            shares = replica_shares(len(x["lengths"]), num_replicas)
            # distribute_datasets_from_function hands a worker's elements to its replicas in turn.
            for share in shares[first:first + num_local]:
                yield {k: v[share] for k, v in x.items()}, {k: v[share] for k, v in y.items()}

        return tf.data.Dataset.from_generator(lambda: _endless(dataset, pieces, first_epoch),
                                              output_signature=signature).prefetch(num_local)

    return strategy.distribute_datasets_from_function(dataset_fn)


def to_batch_generator(dataset, *, first_epoch=0, workers=1):
    """Feed ``dataset`` to ``fit`` on backends other than TensorFlow: an endless generator of its batches from
    ``first_epoch`` on, computed ahead by ``workers`` threads (in order). Pass ``steps_per_epoch=len(dataset)``."""
    import collections
    import concurrent.futures

    def batches():
        with concurrent.futures.ThreadPoolExecutor(max(1, workers)) as pool:
            todo = _batch_jobs(dataset, first_epoch)

            def submit():
                indices, epoch, index = next(todo)
                return pool.submit(dataset.make_batch, indices, epoch=epoch, index=index)

            pending = collections.deque(submit() for _ in range(max(1, workers) + 1))
            while True:
                batch = pending.popleft().result()
                pending.append(submit())
                yield batch

    return batches()


def feed(dataset, *, strategy=None, first_epoch=0, workers=1):
    """What ``fit`` trains on for this backend: :func:`to_tf_dataset` (TensorFlow), :func:`distribute_dataset`
    (under a strategy), else :func:`to_batch_generator`. The batches are the same on every path."""
    if strategy is not None:
        return distribute_dataset(dataset, strategy, first_epoch=first_epoch)
    if keras.config.backend() == "tensorflow":
        return to_tf_dataset(dataset, first_epoch=first_epoch, workers=workers)
    return to_batch_generator(dataset, first_epoch=first_epoch, workers=workers)
