"""Running a trained :class:`~common.recognizer.Recognizer` on many sequences, fast.

:class:`SequencePredictor` groups sequences of similar length into batches (little padding), runs the network
through one ``tf.function`` traced once for any batch size and length, and decodes outside the graph (CTC decoding
does not compile). ``ocr.Reader`` and ``speech.Transcriber`` both sit on it. The model may also be an exported one
(:class:`~common.export.ExportedModel`: ONNX, TFLite or SavedModel), which then runs in place of the Keras network.
"""

import dataclasses
import math
import os
import sys
from pathlib import Path

import common  # noqa: F401  (pins the Keras backend)
import numpy as np
from tqdm import tqdm

from common.ctc import decode, log_softmax
from common.errors import ConfigError, InputError, ModelFileError
from common.export import ExportedModel, is_exported_path
from common.input_files import is_pil_image
from common.limits import check_beam_width, check_count, is_real_number
from common.model_file import file_sha256, load_model
from common.padding import length_batches, pad_batch

__all__ = ["SequencePredictor", "InputResult", "as_input_list", "input_name", "guard_input", "map_in_groups",
           "load_task_model", "DEFAULT_MAX_BATCH_MB", "check_max_batch_mb", "is_real_number", "check_beam_width",
           "is_pil_image", "shipped_export"]


DEFAULT_MAX_BATCH_MB = 4.0
"""Default cap (MiB) on one padded input batch, ``items * padded length * features * 4`` bytes.

The network's working memory is a model-dependent multiple of this (the first convolution alone holds ``filters``
times the input). Measured with the shipped models on 2 CPU cores (benchmarks/results_memory.md): going from 24 to
4 MiB cut the peak above the loaded model from ~330 to ~200 MB when reading lines and from ~770 to ~280 MB when
transcribing a 20-minute file, at the same or better speed. 4 MiB holds one line strip of 32,768 columns (height
32) or 131 s of 80-mel features, far more than one 20 s chunk.
"""

_PAD_MULTIPLE = 8  # padded lengths are rounded up to this (fewer distinct shapes for the traced function)


def check_max_batch_mb(value, *, flag="--max-batch-mb"):
    """Validate a ``max_batch_mb`` setting (a positive, finite number of MiB; ``None``: the default)."""
    if value is None:
        return DEFAULT_MAX_BATCH_MB
    if not is_real_number(value) or value <= 0:
        raise ConfigError(f"Received an invalid value for `max_batch_mb` ({flag}), expected a positive number of "
                          f"MiB. Received: max_batch_mb={value!r}")
    return float(value)


class SequencePredictor:
    """Batch, run and decode sequences with one model.

    Args:
        model: a :class:`~common.recognizer.Recognizer`, or an :class:`~common.export.ExportedModel`.
        batch_size: most sequences per batch.
        max_batch_mb: cap (MiB) on one padded input batch, ``items * padded length * features * 4`` bytes; batches
            are split to honour it, and a sequence that alone exceeds it is refused with an
            :class:`~common.errors.InputError` (see :meth:`check_fits`). The network's activations take a
            model-dependent multiple of this. ``None``: :data:`DEFAULT_MAX_BATCH_MB`.

    Instances are safe to share between threads: the traced function holds no per-call state.
    """

    def __init__(self, model, *, batch_size=64, max_batch_mb=DEFAULT_MAX_BATCH_MB):
        batch_size = check_count("batch_size", batch_size, flag="--batch-size")
        self.model = model
        self.alphabet = model.alphabet
        self.batch_size = int(batch_size)
        self.max_batch_mb = check_max_batch_mb(max_batch_mb)
        self.bytes_per_frame = int(model.num_features) * 4  # float32
        self.max_batch_frames = max(1, int(self.max_batch_mb * 2**20) // self.bytes_per_frame)
        if isinstance(model, ExportedModel):
            self._forward = model  # NumPy in, NumPy out: TensorFlow is not imported
        else:
            import tensorflow as tf  # (here, not at the top: training imports this module on JAX too)

            spec = [tf.TensorSpec([None, None, model.num_features], tf.float32), tf.TensorSpec([None], tf.int32)]
            traced = tf.function(self._call, input_signature=spec, reduce_retracing=True)
            self._forward = lambda x, lengths: tuple(t.numpy() for t in traced(tf.constant(x), tf.constant(lengths)))

    def _call(self, features, lengths):
        out = self.model({"features": features, "lengths": lengths}, training=False)
        return out["logits"], out["lengths"]

    @property
    def time_downsampling(self):
        """Input frames per output frame."""
        if isinstance(self.model, ExportedModel):
            return self.model.time_downsampling
        return self.model.frontend.time_downsampling

    @staticmethod
    def padded_length(length):
        """The length a sequence of ``length`` frames is padded to in a batch."""
        return max(1, int(math.ceil(int(length) / _PAD_MULTIPLE))) * _PAD_MULTIPLE

    def item_mb(self, length):
        """MiB that one sequence of ``length`` frames takes in a padded batch."""
        return self.padded_length(length) * self.bytes_per_frame / 2**20

    def fits(self, length):
        """Whether one sequence of ``length`` frames fits in a batch under ``max_batch_mb``."""
        return self.padded_length(length) <= self.max_batch_frames

    def check_fits(self, length, source=None, *, hint=""):
        """Raise :class:`~common.errors.InputError` if one sequence of ``length`` frames alone exceeds the cap.

        Args:
            length: frames of the sequence.
            source: the input it came from (named in the message).
            hint: a task-specific way out, appended to the message (e.g. lower ``--max-chunk-seconds``).
        """
        if not self.fits(length):
            raise InputError(
                f"one sequence of {int(length):,} frames needs {self.item_mb(length):.2f} MiB, more than the batch "
                f"memory limit of {self.max_batch_mb:g} MiB; raise it with --max-batch-mb N (max_batch_mb=N)"
                f"{hint}. Received: max_batch_mb={self.max_batch_mb:g}",
                source,
            )

    def logits(self, sequences, *, progress=False):
        """Logits of each sequence: list of float32 ``(frames_i, num_classes)``, in input order.

        Raises:
            InputError: a sequence alone exceeds ``max_batch_mb`` (callers check with :meth:`check_fits` first).
        """
        results = [None] * len(sequences)
        lengths = [self.padded_length(s.shape[0]) for s in sequences]
        for index, sequence in enumerate(sequences):
            self.check_fits(sequence.shape[0], f"sequence #{index}")
        batches = length_batches(lengths, batch_size=self.batch_size, max_frames=self.max_batch_frames)
        bar = tqdm(total=len(sequences), unit="item", disable=not progress, file=sys.stderr)
        for indices in batches:
            x, x_lengths = pad_batch([sequences[i] for i in indices], multiple=_PAD_MULTIPLE)
            logits, out_lengths = self._forward(x, x_lengths)
            for row, i in enumerate(indices):
                results[i] = logits[row, : out_lengths[row]]
            bar.update(len(indices))
        bar.close()
        return results

    def decode(self, logits_list, *, beam_width=1, decoder=None):
        """Decode per-sequence logits into :class:`~common.ctc.Decoded` results (in groups of similar length).

        Args:
            logits_list: list of float ``(frames_i, num_classes)``.
            beam_width: without ``decoder``, 1 for greedy decoding, more for ``keras.ops.ctc_decode``'s beam search;
                with one, its beam width (``None``: the decoder's default).
            decoder: a :class:`common.lm.BeamSearchDecoder` (language model, word lists, hotwords), or None.
        """
        beam_width = check_beam_width(beam_width)
        if decoder is not None:
            return [decoder.decode(log_softmax(lg), beam_width=beam_width) for lg in logits_list]
        beam_width = 1 if beam_width is None else beam_width
        results = [None] * len(logits_list)
        lengths = [lg.shape[0] for lg in logits_list]
        for indices in length_batches(lengths, batch_size=self.batch_size):
            padded, batch_lengths = pad_batch([logits_list[i] for i in indices])
            for i, decoded in zip(indices, decode(padded, batch_lengths, self.alphabet, beam_width=beam_width)):
                results[i] = decoded
        return results

    def predict(self, sequences, *, beam_width=1, decoder=None, progress=False):
        """Run and decode: one :class:`~common.ctc.Decoded` per ``(time, features)`` sequence (see :meth:`decode`)."""
        return self.decode(self.logits(sequences, progress=progress), beam_width=beam_width, decoder=decoder)


@dataclasses.dataclass(frozen=True)
class InputResult:
    """What the Reader and the Transcriber return per input: its ``source`` (the path, or ``"array #i"``,
    ``"bytes #i"``, ``"image #i"``) and
    ``text``; subclasses add their details and end with ``error`` (``None`` when the input was processed)."""

    source: str
    text: str

    @property
    def ok(self):
        """Whether the input was processed (``error`` is ``None``)."""
        return getattr(self, "error", None) is None

    @classmethod
    def failed(cls, source, error):
        """The result of an input that could not be processed: empty text and ``error`` set."""
        return cls(source=source, text="", error=error)


def input_name(source, index):
    """How messages and results name an input: its path, or ``"<kind> #index"`` for an in-memory one (``bytes``,
    ``image`` for a PIL image, ``array``)."""
    if isinstance(source, (str, os.PathLike)):
        return os.fsdecode(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"bytes #{index}"
    if is_pil_image(source):
        return f"image #{index}"
    return f"array #{index}"


def guard_input(function, name, *, memory_hint):
    """``(function(), None)``, or ``(None, "name: problem")`` when one input cannot be processed.

    A bad input never stops the batch: the toolkit's :class:`~common.errors.InputError`, a ``MemoryError`` (with
    ``memory_hint``, the way out) and unforeseen failures all become that input's one-line error, while a
    :class:`~common.errors.ConfigError` (a setting of the whole call, not of this input) propagates.
    """
    try:
        return function(), None
    except InputError as error:
        return None, f"{name}: {error.reason}"
    except ConfigError:
        raise
    except MemoryError:
        return None, f"{name}: not enough memory to process it; {memory_hint}"
    except Exception as error:  # noqa: BLE001 (a failure we did not foresee: report it, go on)
        return None, f"{name}: unexpected {type(error).__name__} while reading it ({error}); please report this"


_SINGLE_INPUT_TYPES = (str, os.PathLike, bytes, bytearray, memoryview)


def _is_single_input(value):
    return isinstance(value, _SINGLE_INPUT_TYPES) or is_pil_image(value) or (
        isinstance(value, np.ndarray) and value.dtype != object)


def as_input_list(inputs):
    """One input or a sequence of them, as a list.

    One input is a path (``str`` or ``os.PathLike``), a file's content (``bytes``, ``bytearray``,
    ``memoryview``), a NumPy array, or a ``PIL.Image.Image``; anything else must be a list (or other iterable) of
    those. ``None``, a lone number and a flat list of numbers (samples or pixels that were meant to be one array)
    are refused with a :class:`~common.errors.ConfigError` instead of giving one result per element.
    """
    if _is_single_input(inputs):
        return [inputs]
    expected = ("expected a path, a file's content (bytes), a NumPy array, a PIL image, or a list of them")
    if inputs is None or isinstance(inputs, (bool, int, float, complex, np.generic, dict)):
        raise ConfigError(f"Received invalid inputs, {expected}. Received: inputs={type(inputs).__name__}")
    try:
        items = list(inputs)
    except TypeError:
        raise ConfigError(f"Received invalid inputs, {expected}. Received: inputs={type(inputs).__name__}") from None
    if items and all(isinstance(item, (int, float, np.number)) for item in items):
        raise ConfigError(
            f"Received a flat list of {len(items):,} numbers, which would be {len(items):,} separate inputs; "
            f"{expected}. Wrap samples or pixels in one array: np.asarray(values). Received: inputs=list of numbers")
    return items


def map_in_groups(function, inputs, *, group_size, progress=False, unit="item", setting="group_size"):
    """``function(group, offset)`` over consecutive groups of ``inputs``; returns the concatenated results.

    Only one group's data is alive at a time, so memory stays flat over many inputs; ``progress`` shows a bar on
    stderr. ``group_size`` is checked here (an integer >= 1; ``setting`` is its name in the caller's API), so every
    caller refuses 0 the same way.
    """
    group_size = check_count(setting, group_size)
    results = []
    with tqdm(total=len(inputs), unit=unit, disable=not progress, file=sys.stderr) as bar:
        for first in range(0, len(inputs), group_size):
            group = function(inputs[first:first + group_size], first)
            results += group
            bar.update(len(group))
    return results


RUNTIME_VARIABLE = "CTC_TOOLKIT_RUNTIME"
"""Environment variable: ``keras`` runs the shipped default models through Keras/TensorFlow even where their ONNX
twin is usable (``auto``, the default, prefers the ONNX twin)."""


def shipped_export(default, *, task):
    """The ONNX twin of a shipped default model (``default.onnx`` beside ``default.keras``), or ``None``.

    The twin is used only when ONNX Runtime is installed, ``CTC_TOOLKIT_RUNTIME`` is not ``keras``, and the twin
    records the SHA-256 of the very ``.keras`` file beside it: a retrained ``.keras`` whose twin was not regenerated
    (``make onnx``) is run through Keras instead, with a warning. The twin gives the same logits (tested), and
    starts without importing TensorFlow (~2.5 s saved on every command).
    """
    import importlib.util
    import warnings

    twin = Path(default).with_suffix(".onnx")
    runtime = os.environ.get(RUNTIME_VARIABLE, "auto").strip().lower() or "auto"
    if runtime not in ("auto", "keras"):
        raise ConfigError(f"{RUNTIME_VARIABLE} must be 'auto' (ONNX twin of the default model when usable) or "
                          f"'keras'. Received: {RUNTIME_VARIABLE}={runtime!r}")
    if runtime == "keras" or not twin.is_file() or importlib.util.find_spec("onnxruntime") is None:
        return None
    exported = ExportedModel(twin, task=task)
    if not Path(default).is_file() or exported.source_sha256 != file_sha256(default):
        warnings.warn(f"{twin} was not made from {default} (regenerate it with 'make onnx'); running the .keras "
                      f"model through TensorFlow instead", stacklevel=3)
        return None
    return exported


def load_task_model(path, *, default, task, train_command, prefer_export=True):
    """Load a model file for ``task``; ``None`` or ``"default"`` means the shipped ``default`` file.

    A ``.keras`` file gives a :class:`~common.recognizer.Recognizer`; an exported model (``.onnx``, ``.tflite`` or a
    SavedModel folder, see :func:`common.export.export_model`) gives an :class:`~common.export.ExportedModel`.
    For the shipped default, its ONNX twin is returned when usable and ``prefer_export`` (see
    :func:`shipped_export`), so that inference starts without TensorFlow.
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise ConfigError(f"Expected the model as a path (str or os.PathLike) or None for the default model. "
                          f"Received: path={type(path).__name__}")
    if path in (None, "default") and prefer_export:
        exported = shipped_export(default, task=task)
        if exported is not None:
            return exported
    path = Path(default) if path in (None, "default") else Path(path)
    if path == Path(default) and not path.is_file():
        raise ModelFileError(
            f"{path}: the default {task} model is missing from this installation; train one with "
            f"'{train_command}' (see MODELS.md) or pass --model."
        )
    if is_exported_path(path):
        return ExportedModel(path, task=task)
    return load_model(path, task=task)
