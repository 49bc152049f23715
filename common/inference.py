"""Running a trained :class:`~common.recognizer.Recognizer` on many sequences, fast.

:class:`SequencePredictor` groups sequences of similar length into batches (little padding), runs the network
through one ``tf.function`` traced once for any batch size and length, and decodes outside the graph (CTC decoding
does not compile). ``ocr.Reader`` and ``speech.Transcriber`` both sit on it.
"""

import sys
from pathlib import Path

import common  # noqa: F401  (pins the Keras backend)
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from common.alphabet import Alphabet
from common.batching import length_batches, pad_batch
from common.ctc import decode
from common.errors import ModelFileError
from common.model_file import load_model

__all__ = ["SequencePredictor", "as_input_list", "map_in_groups", "load_task_model"]


class SequencePredictor:
    """Batch, run and decode sequences with one model.

    Args:
        model: a :class:`~common.recognizer.Recognizer`.
        batch_size: most sequences per batch.
        max_batch_frames: cap on ``batch size * padded length`` (bounds memory for long inputs).

    Instances are safe to share between threads: the traced function holds no per-call state.
    """

    def __init__(self, model, *, batch_size=64, max_batch_frames=200_000):
        self.model = model
        self.alphabet = Alphabet.from_config(model.metadata["alphabet"])
        self.batch_size = batch_size
        self.max_batch_frames = max_batch_frames
        spec = [tf.TensorSpec([None, None, model.num_features], tf.float32), tf.TensorSpec([None], tf.int32)]
        self._forward = tf.function(self._call, input_signature=spec, reduce_retracing=True)

    def _call(self, features, lengths):
        out = self.model({"features": features, "lengths": lengths}, training=False)
        return out["logits"], out["lengths"]

    @property
    def time_downsampling(self):
        """Input frames per output frame."""
        return self.model.frontend.time_downsampling

    def logits(self, sequences, *, progress=False):
        """Logits of each sequence: list of float32 ``(frames_i, num_classes)``, in input order."""
        results = [None] * len(sequences)
        lengths = [s.shape[0] for s in sequences]
        batches = length_batches(lengths, batch_size=self.batch_size, max_frames=self.max_batch_frames)
        bar = tqdm(total=len(sequences), unit="item", disable=not progress, file=sys.stderr)
        for indices in batches:
            x, x_lengths = pad_batch([sequences[i] for i in indices], multiple=8)
            logits, out_lengths = self._forward(tf.constant(x), tf.constant(x_lengths))
            logits, out_lengths = logits.numpy(), out_lengths.numpy()
            for row, i in enumerate(indices):
                results[i] = logits[row, : out_lengths[row]]
            bar.update(len(indices))
        bar.close()
        return results

    def decode(self, logits_list, *, beam_width=1):
        """Decode per-sequence logits into :class:`~common.ctc.Decoded` results (in groups of similar length)."""
        results = [None] * len(logits_list)
        lengths = [lg.shape[0] for lg in logits_list]
        for indices in length_batches(lengths, batch_size=self.batch_size):
            padded, batch_lengths = pad_batch([logits_list[i] for i in indices])
            for i, decoded in zip(indices, decode(padded, batch_lengths, self.alphabet, beam_width=beam_width)):
                results[i] = decoded
        return results

    def predict(self, sequences, *, beam_width=1, progress=False):
        """Run and decode: one :class:`~common.ctc.Decoded` per ``(time, features)`` sequence."""
        return self.decode(self.logits(sequences, progress=progress), beam_width=beam_width)


def as_input_list(inputs):
    """One input (a path or a numpy array) or a sequence of them, as a list."""
    if isinstance(inputs, (str, Path)) or (isinstance(inputs, np.ndarray) and inputs.dtype != object):
        return [inputs]
    return list(inputs)


def map_in_groups(function, inputs, *, group_size, progress=False, unit="item"):
    """``function(group, offset)`` over consecutive groups of ``inputs``; returns the concatenated results.

    Only one group's data is alive at a time, so memory stays flat over many inputs; ``progress`` shows a bar on
    stderr.
    """
    results = []
    with tqdm(total=len(inputs), unit=unit, disable=not progress, file=sys.stderr) as bar:
        for first in range(0, len(inputs), group_size):
            group = function(inputs[first:first + group_size], first)
            results += group
            bar.update(len(group))
    return results


def load_task_model(path, *, default, task, train_command):
    """Load a model file for ``task``; ``None`` or ``"default"`` means the shipped ``default`` file."""
    path = Path(default) if path in (None, "default") else Path(path)
    if path == Path(default) and not path.is_file():
        raise ModelFileError(
            f"{path}: the default {task} model is missing from this installation; train one with "
            f"'{train_command}' (see MODELS.md) or pass --model."
        )
    return load_model(path, task=task)
