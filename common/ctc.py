"""CTC loss and decoding, wrapped once for both tasks.

The loss equals ``keras.ops.ctc_loss`` with true per-sample label lengths and output lengths; it must be
fed logits (or log-probabilities), never softmax probabilities. Decoding happens outside any compiled graph, in
NumPy: greedy decoding is the best path (argmax per frame, repeats merged, blanks removed, exactly what
``keras.ops.ctc_decode(strategy="greedy")`` computes), and beam search goes through
``keras.ops.ctc_decode(strategy="beam_search")``. Either way the chosen labels are aligned to frames, so each
character comes back with its first and last frame and a confidence; page layout, character boxes and word
timestamps are built on those positions.

Keras is imported only by the loss and beam search, TensorFlow only by the loss on the TensorFlow backend; on the
opt-in JAX backend (``CTC_TOOLKIT_BACKEND=jax``, see :mod:`common`) the loss goes through ``keras.ops.ctc_loss``.
"""

import dataclasses

import common  # noqa: F401  (pins the Keras backend)
import numpy as np

from common.alphabet import BLANK_ID
from common.errors import ConfigError

__all__ = ["ctc_loss", "feasible", "counted_ctc_loss", "CharInfo", "Decoded", "decode", "decoded_from_labels",
           "log_softmax", "align"]


def ctc_loss(labels, logits, label_lengths, logit_lengths):
    """Per-sample CTC negative log-likelihood.

    Args:
        labels: int tensor ``(batch, max_label_length)``; ids ``1..n``, padding value irrelevant.
        logits: float tensor ``(batch, time, num_classes)``, raw logits with blank = 0.
        label_lengths: int tensor ``(batch,)``, true length of each label.
        logit_lengths: int tensor ``(batch,)``, valid frames of each sample.

    Returns:
        float tensor ``(batch,)``.

    This gives exactly what ``keras.ops.ctc_loss(..., mask_index=0)`` gives (a test checks it) for every feasible
    sample, but on TensorFlow passes the labels to TensorFlow's sparse-label kernel: with dense labels TensorFlow
    runs a scan-based implementation that was measured 9x slower on CPU (a quarter of a training step). A sample
    whose label cannot fit in its frames (an utterance spoken too fast for the front end's stride) gets a loss of 0
    and no gradient, instead of stopping training.
    """
    import keras

    if keras.config.backend() == "tensorflow":
        return _tensorflow_ctc_loss(labels, logits, label_lengths, logit_lengths)
    return _keras_ctc_loss(labels, logits, label_lengths, logit_lengths)


def _tensorflow_ctc_loss(labels, logits, label_lengths, logit_lengths):
    import tensorflow as tf

    labels = tf.cast(labels, tf.int32)
    label_lengths = tf.cast(label_lengths, tf.int32)
    indices = tf.where(tf.sequence_mask(label_lengths, maxlen=tf.shape(labels)[1]))
    # The kernel reserves the last class for the blank: move ours (0) there and shift the labels down by one.
    values = tf.gather_nd(labels, indices) - 1
    sparse = tf.SparseTensor(indices, values, tf.cast(tf.shape(labels), tf.int64))
    logits = tf.cast(logits, tf.float32)
    logits = tf.concat([logits[..., 1:], logits[..., :1]], axis=-1)
    return tf.compat.v1.nn.ctc_loss(
        sparse,
        logits,
        tf.cast(logit_lengths, tf.int32),
        preprocess_collapse_repeated=False,
        ctc_merge_repeated=True,
        ignore_longer_outputs_than_inputs=True,
        time_major=False,
    )


def feasible(labels, label_lengths, logit_lengths):
    """Whether each label fits in its frames: CTC needs one frame per character plus a blank between equal
    neighbours. Returns a bool tensor ``(batch,)``."""
    from keras import ops

    labels = ops.cast(labels, "int32")
    label_lengths = ops.cast(label_lengths, "int32")
    positions = ops.arange(1, ops.shape(labels)[1], dtype="int32")
    repeats = ops.logical_and(ops.equal(labels[:, 1:], labels[:, :-1]),
                              ops.expand_dims(positions, 0) < ops.expand_dims(label_lengths, 1))
    needed = label_lengths + ops.sum(ops.cast(repeats, "int32"), axis=1)
    return needed <= ops.cast(logit_lengths, "int32")


def counted_ctc_loss(labels, logits, label_lengths, logit_lengths):
    """Per-sample CTC loss and which samples count: the toolkit's one rule for a batch's mean loss.

    A sample counts when its label fits in its frames (:func:`feasible`) and its loss is finite; the others get a
    loss of 0 and no gradient. The mean loss of a batch (or a validation set) is ``sum(loss) / count``: training
    (:meth:`common.recognizer.Recognizer.compute_loss`) and validation (``val_loss``) both use it.

    Returns:
        ``(loss, counts)``: float tensors ``(batch,)``; ``counts`` is 1.0 where the sample counts, else 0.0.
    """
    from keras import ops

    loss = ctc_loss(labels, logits, label_lengths, logit_lengths)
    counts = ops.logical_and(feasible(labels, label_lengths, logit_lengths), ops.isfinite(loss))
    loss = ops.where(counts, loss, ops.zeros_like(loss))
    return loss, ops.cast(counts, loss.dtype)


def _keras_ctc_loss(labels, logits, label_lengths, logit_lengths):
    """``keras.ops.ctc_loss`` (other backends), with infeasible samples set to 0 before the loss, not after.

    The JAX implementation gives an infeasible sample a huge finite loss (and NaN gradients are possible), so such
    a sample is computed with an empty label and its loss then replaced by 0: no gradient flows from it.
    """
    from keras import ops

    labels = ops.cast(labels, "int32")
    label_lengths = ops.cast(label_lengths, "int32")
    logit_lengths = ops.cast(logit_lengths, "int32")
    fits = feasible(labels, label_lengths, logit_lengths)
    loss = ops.ctc_loss(labels, ops.cast(logits, "float32"), ops.where(fits, label_lengths, 0), logit_lengths,
                        mask_index=BLANK_ID)
    return ops.where(fits, loss, ops.zeros_like(loss))


@dataclasses.dataclass(frozen=True)
class CharInfo:
    """One decoded character: its text, confidence in [0, 1], and first/last frame (inclusive)."""

    char: str
    confidence: float
    start: int
    end: int


@dataclasses.dataclass(frozen=True)
class Decoded:
    """A decoded sequence: ``text``, a ``confidence`` in [0, 1], and ``characters`` with frame positions.

    ``alternatives``: with n-best decoding (:class:`common.lm.BeamSearchDecoder`), the best texts as
    ``(text, log score)`` pairs, best (this text) first; otherwise empty.
    """

    text: str
    confidence: float
    characters: tuple
    alternatives: tuple = ()

    def to_dict(self):
        data = {
            "text": self.text,
            "confidence": self.confidence,
            "characters": [dataclasses.asdict(c) for c in self.characters],
        }
        if self.alternatives:
            data["alternatives"] = [{"text": t, "score": s} for t, s in self.alternatives]
        return data


def log_softmax(logits):
    """Numerically stable log-softmax over the last axis of a NumPy array."""
    logits = np.asarray(logits, dtype=np.float32)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _greedy_path(log_probs):
    """Best path labels and, per label, its frame span: list of (label, start, end).

    Runs of one label merge into one span; a blank between two runs of the same label keeps them apart."""
    best = log_probs.argmax(axis=-1)
    if best.size == 0:
        return []
    change = np.flatnonzero(best[1:] != best[:-1]) + 1
    starts = np.concatenate(([0], change))
    ends = np.concatenate((change, [best.size])) - 1
    labels = best[starts]
    keep = labels != BLANK_ID
    return [[int(label), int(start), int(end)] for label, start, end in zip(labels[keep], starts[keep], ends[keep])]


def align(log_probs, labels):
    """Viterbi-align ``labels`` to frames; returns one ``[label, start, end]`` span per label.

    Args:
        log_probs: np.ndarray ``(time, num_classes)`` of log-probabilities.
        labels: sequence of ids (no blanks).

    The spans are the frames where the most likely CTC path emits each label (first to last frame, inclusive).
    """
    labels = [int(v) for v in labels]
    num_frames = log_probs.shape[0]
    if not labels:
        return []
    extended = np.full(2 * len(labels) + 1, BLANK_ID, dtype=np.int64)
    extended[1::2] = labels
    num_states = len(extended)
    neg_inf = -np.inf
    # A transition skipping a blank is allowed into a label different from the label two states back.
    can_skip = np.zeros(num_states, dtype=bool)
    can_skip[3::2] = extended[3::2] != extended[1:-2:2]
    score = np.full(num_states, neg_inf)
    score[0] = log_probs[0, extended[0]]
    score[1] = log_probs[0, extended[1]]
    back = np.zeros((num_frames, num_states), dtype=np.int8)
    for t in range(1, num_frames):
        stay = score
        step = np.concatenate(([neg_inf], score[:-1]))
        skip = np.where(can_skip, np.concatenate(([neg_inf, neg_inf], score[:-2])), neg_inf)
        choices = np.stack([stay, step, skip])
        move = choices.argmax(axis=0)
        score = choices[move, np.arange(num_states)] + log_probs[t, extended]
        back[t] = move
    state = num_states - 1 if num_states == 1 or score[-1] >= score[-2] else num_states - 2
    if not np.isfinite(score[state]):
        return []
    spans = {}
    for t in range(num_frames - 1, -1, -1):
        if state % 2 == 1:
            index = state // 2
            start_end = spans.get(index)
            spans[index] = [labels[index], t, start_end[2] if start_end else t]
        state -= int(back[t, state]) if t > 0 else 0
    return [spans[i] for i in sorted(spans)]


def decode(logits, lengths, alphabet, *, beam_width=1):
    """Decode a batch of logits into text with confidences and frame positions.

    Args:
        logits: np.ndarray ``(batch, time, num_classes)`` of raw logits (blank = 0).
        lengths: np.ndarray ``(batch,)`` of valid frames per sample.
        alphabet: the :class:`~common.alphabet.Alphabet` the model writes.
        beam_width: 1 for greedy (best path) decoding; more for beam search through ``keras.ops.ctc_decode``.

    Returns:
        list of :class:`Decoded`, one per sample. A character's confidence is its mean posterior over the frames
        it was aligned to; the line confidence is the mean of the character confidences (for an empty result,
        the mean probability of the blank).
    """
    logits = np.asarray(logits, dtype=np.float32)
    lengths = np.asarray(lengths).astype(np.int64).reshape(-1)
    if logits.ndim != 3 or logits.shape[0] != lengths.shape[0]:
        raise ConfigError(
            "decode expects logits (batch, time, classes) and one length per sample. "
            f"Received: logits.shape={logits.shape}, lengths.shape={lengths.shape}"
        )
    if logits.shape[-1] != alphabet.num_classes:
        raise ConfigError(
            f"The logits have {logits.shape[-1]} classes but the alphabet needs {alphabet.num_classes} "
            f"({len(alphabet)} characters + blank). Received: logits.shape={logits.shape}"
        )
    lengths = np.clip(lengths, 0, logits.shape[1])
    log_probs = log_softmax(logits)
    beam_labels = None
    if beam_width > 1 and logits.shape[1] > 0:
        from keras import ops  # only beam search needs Keras (and so TensorFlow); greedy decoding is NumPy

        decoded, _ = ops.ctc_decode(
            logits, lengths.astype(np.int32), strategy="beam_search", beam_width=int(beam_width),
            top_paths=1, mask_index=BLANK_ID,
        )
        beam_labels = ops.convert_to_numpy(decoded)[0]
    results = []
    for b in range(logits.shape[0]):
        frames = log_probs[b, : lengths[b]]
        if frames.shape[0] == 0:
            results.append(Decoded("", 0.0, ()))
        elif beam_labels is None:
            results.append(_decoded_from_spans(frames, _greedy_path(frames), alphabet))
        else:
            results.append(decoded_from_labels(frames, [v for v in beam_labels[b] if v > 0], alphabet))
    return results


def decoded_from_labels(log_probs, labels, alphabet):
    """A :class:`Decoded` for chosen ``labels`` (ids, no blanks), Viterbi-aligned to ``log_probs`` (time, classes)."""
    return _decoded_from_spans(log_probs, align(log_probs, labels), alphabet)


def _decoded_from_spans(frames, spans, alphabet):
    """Characters with confidences (mean posterior over their frames) and the line confidence (their mean; for an
    empty result, the mean probability of the blank)."""
    if not spans:
        confidence = float(np.exp(frames[:, BLANK_ID]).mean()) if frames.shape[0] else 0.0
        return Decoded("", confidence, ())
    labels, starts, ends = (np.asarray(column, dtype=np.int64) for column in zip(*spans))
    sizes = ends - starts + 1
    offsets = np.cumsum(sizes) - sizes
    # every (frame, label) pair of every span, in span order: one gather instead of a slice per character
    frame_index = np.arange(int(sizes.sum())) - np.repeat(offsets, sizes) + np.repeat(starts, sizes)
    posteriors = np.exp(frames[frame_index, np.repeat(labels, sizes)])
    confidences = np.add.reduceat(posteriors, offsets) / sizes
    chars = tuple(CharInfo(alphabet.decode([label]), float(confidence), int(start), int(end))
                  for label, confidence, start, end in zip(labels, confidences, starts, ends))
    return Decoded("".join(c.char for c in chars), float(np.mean([c.confidence for c in chars])), chars)
