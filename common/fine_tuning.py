"""Fine-tuning a model: what the data's characters mean for its output layer (head surgery), freezing, and carrying
an optimizer's state over to another optimizer.

``--alphabet union`` (the default) keeps the rows of the characters the model knows and adds rows for new ones;
``new`` builds a fresh output layer over the data's characters; ``keep`` refuses characters the model lacks.
``--freeze frontend|encoder`` trains only what comes after the frozen part. ``--widen UNITS`` grows the
encoder's LSTMs so that the grown model computes the same outputs as the old one at the start (new units enter
through zero weights, Net2Net-style) and training can use the extra capacity. :func:`average_weights` makes
one model of several trained ones of the same shape (a "model soup", e.g. two stages of one lineage).
"""

import sys

import common  # noqa: F401  (pins the Keras backend)
import keras
import numpy as np

from common.errors import AlphabetError, ConfigError

__all__ = ["alphabet_report", "resize_head", "widen_encoder", "average_weights", "adapt_head", "apply_freeze",
           "base_optimizer", "copy_optimizer_state"]


def alphabet_report(alphabet, train_texts, val_texts):
    """Count characters only in training, only in validation, and unknown to ``alphabet``; returns lines of text."""
    from collections import Counter

    train_counts = Counter("".join(train_texts))
    val_counts = Counter("".join(val_texts))

    def fmt(counts, shown=30):
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        more = f" (+{len(ranked) - shown} more)" if len(ranked) > shown else ""
        return (", ".join(f"{c!r}x{n}" for c, n in ranked[:shown]) + more) or "none"

    only_train = {c: n for c, n in train_counts.items() if c not in val_counts}
    only_val = {c: n for c, n in val_counts.items() if c not in train_counts}
    unknown = {c: n for c, n in (train_counts + val_counts).items() if c not in alphabet}
    return [
        f"characters: {len(train_counts)} in training, {len(val_counts)} in validation, model alphabet {len(alphabet)}",
        f"only in training: {fmt(only_train)}",
        f"only in validation: {fmt(only_val)}",
        f"unknown to the model: {fmt(unknown)}",
    ], unknown


def resize_head(model, alphabet):
    """A copy of ``model`` whose output layer covers ``alphabet``, keeping the rows of characters it knew.

    Characters the old alphabet had keep their trained weights; new characters start from the mean of the
    known characters' weights with a lower bias, so the model does not start out emitting them.
    """
    from common.recognizer import Recognizer

    old_alphabet = model.alphabet
    metadata = dict(model.metadata, alphabet=alphabet.get_config())
    new = Recognizer(
        keras.layers.deserialize(keras.layers.serialize(model.frontend)),
        keras.layers.deserialize(keras.layers.serialize(model.encoder)),
        alphabet.num_classes,
        metadata=metadata,
    )
    for target, source in ((new.frontend, model.frontend), (new.encoder, model.encoder)):
        target.set_weights(source.get_weights())
    kernel, bias = model.head.get_weights()
    new_kernel = np.zeros((kernel.shape[0], alphabet.num_classes), dtype=kernel.dtype)
    new_bias = np.zeros(alphabet.num_classes, dtype=bias.dtype)
    known_kernel = kernel[:, 1:].mean(axis=1) if kernel.shape[1] > 1 else kernel[:, 0]
    known_bias = (bias[1:].mean() if bias.shape[0] > 1 else 0.0) - 2.0
    new_kernel[:, 0], new_bias[0] = kernel[:, 0], bias[0]
    for i, char in enumerate(alphabet.characters, start=1):
        if char in old_alphabet:
            j = old_alphabet.characters.index(char) + 1
            new_kernel[:, i], new_bias[i] = kernel[:, j], bias[j]
        else:
            new_kernel[:, i], new_bias[i] = known_kernel, known_bias
    new.head.set_weights([new_kernel, new_bias])
    return new


def widen_encoder(model, units):
    """A copy of ``model`` with ``units`` LSTM units per direction instead of ``model.encoder.units``.

    The copy computes the same logits as ``model``: every old weight keeps its place, the new units' outputs reach
    the old units, the next layer and the head through zero weights, and the new units' own weights start from
    the layers' usual initialisers. Gradients reach the new units once the zero weights move, so fine-tuning the
    copy can use the extra capacity that the old model lacks.

    Args:
        model: a :class:`~common.recognizer.Recognizer`.
        units: the new width per direction; at least the old one (equal returns ``model`` itself).

    Raises:
        ConfigError: when ``units`` is below the model's width.
    """
    from common.recognizer import Recognizer

    old_units = model.encoder.units
    if units == old_units:
        return model
    if units < old_units:
        raise ConfigError(f"--widen can only grow the encoder: the model has {old_units} units per direction. "
                          f"Received: widen={units}")
    _log(f"widening the encoder from {old_units} to {units} units per direction")
    encoder_config = dict(keras.layers.serialize(model.encoder))
    encoder_config["config"] = dict(encoder_config["config"], units=units)
    new = Recognizer(
        keras.layers.deserialize(keras.layers.serialize(model.frontend)),
        keras.layers.deserialize(encoder_config),
        model.num_classes,
        metadata=dict(model.metadata),
    )
    new.frontend.set_weights(model.frontend.get_weights())
    # Rows of a layer's input that came from the old layer below: [forward 0..u) and [backward 0..u) of 2U.
    old_rows = np.r_[0:old_units, units:units + old_units]
    for index, (grown, old) in enumerate(zip(new.encoder.recurrent_layers, model.encoder.recurrent_layers)):
        weights = []
        rows = slice(None) if index == 0 else old_rows
        for fresh, (kernel, recurrent, bias) in zip(_split3(grown.get_weights()), _split3(old.get_weights())):
            new_kernel, new_recurrent, new_bias = fresh
            for gate in range(4):
                old_cols = slice(gate * old_units, (gate + 1) * old_units)
                cols = slice(gate * units, gate * units + old_units)
                # The old units' gates: the old weights, and zero from the new units (below and recurrent).
                new_kernel[:, cols] = 0.0
                new_kernel[rows, cols] = kernel[:, old_cols]
                new_recurrent[:, cols] = 0.0
                new_recurrent[:old_units, cols] = recurrent[:, old_cols]
                new_bias[cols] = bias[old_cols]
            weights += [new_kernel, new_recurrent, new_bias]
        grown.set_weights(weights)
    kernel, bias = model.head.get_weights()
    new_kernel = np.zeros((2 * units, kernel.shape[1]), dtype=kernel.dtype)
    new_kernel[old_rows] = kernel
    new.head.set_weights([new_kernel, bias])
    return new


def average_weights(models, weights=None):
    """Set ``models[0]``'s weights to the weighted mean of every model's, and return it.

    Averaging the weights of models that share a starting point (a model and its continued training, or two
    fine-tunings of one model) often reads better than either (Wortsman et al. 2022, "model soups"); unrelated
    models average into noise. Batch-normalization statistics are averaged like any weight.

    Args:
        models: two or more :class:`~common.recognizer.Recognizer` of the same architecture and alphabet.
        weights: one non-negative number per model (normalized to sum 1); ``None``: equal.

    Raises:
        ConfigError: fewer than two models, different alphabets or weight shapes, or bad ``weights``.
    """
    models = list(models)
    if len(models) < 2:
        raise ConfigError(f"Averaging needs at least two models. Received: {len(models)}")
    weights = [1.0] * len(models) if weights is None else [float(w) for w in weights]
    if len(weights) != len(models) or min(weights) < 0 or sum(weights) <= 0:
        raise ConfigError(f"Give one non-negative weight per model, not all zero. Received: weights={weights}, "
                          f"{len(models)} models")
    alphabets = {repr(m.metadata.get("alphabet")) for m in models}
    if len(alphabets) > 1:
        raise ConfigError("The models have different alphabets; average models of one lineage only")
    arrays = [m.get_weights() for m in models]
    shapes = [[a.shape for a in model_arrays] for model_arrays in arrays]
    if any(s != shapes[0] for s in shapes[1:]):
        raise ConfigError("The models' weights differ in shape (other widths or depths?); average models of one "
                          "architecture only")
    total = sum(weights)
    models[0].set_weights([sum(w / total * a for w, a in zip(weights, group)) for group in zip(*arrays)])
    return models[0]


def _split3(weights):
    """A Bidirectional LSTM's weights, ``[kernel, recurrent kernel, bias] * 2``, as (forward, backward) triples."""
    return weights[0:3], weights[3:6]


def adapt_head(model, policy, data_alphabet, train_texts, val_texts):
    """The base model of a fine-tuning run with its output layer fitted to the data (``--alphabet policy``).

    Args:
        model: the loaded base model.
        policy: ``"union"``, ``"new"`` or ``"keep"``.
        data_alphabet: the alphabet a new model would get for the data (``TaskSpec.default_alphabet``).
        train_texts, val_texts: the transcripts, for the report printed to stderr.

    Raises:
        AlphabetError: with ``keep``, when the data has characters the model lacks (it lists them).
    """
    alphabet = model.alphabet
    lines, unknown = alphabet_report(alphabet, train_texts, val_texts)
    for line in lines:
        _log(line)
    if policy == "keep" and unknown:
        raise AlphabetError(
            f"{len(unknown)} character(s) of the data are not in the model's alphabet: "
            f"{''.join(sorted(unknown))!r}. Use --alphabet union to add them. Received: alphabet='keep'"
        )
    if policy == "union" and unknown:
        model = resize_head(model, alphabet.union(unknown))
        _log(f"alphabet: added {len(unknown)} character(s) to the model's output layer")
    elif policy == "new":
        model = resize_head(model, data_alphabet)
        _log(f"alphabet: a new output layer over the data's {len(data_alphabet)} character(s)")
    return model


def apply_freeze(model, freeze):
    """``--freeze``: ``frontend`` trains the encoder and head, ``encoder`` the head only, ``none`` everything."""
    model.frontend.trainable = freeze == "none"
    model.encoder.trainable = freeze != "encoder"


def _log(message):
    print(message, file=sys.stderr, flush=True)


def base_optimizer(optimizer):
    """The optimizer under a LossScaleOptimizer (mixed precision), else ``optimizer``."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def copy_optimizer_state(source, target):
    """Copy the step count, learning rate and slots of ``source`` into ``target`` (both built over the same
    variables, in the same order); loss-scaling state is not copied. Returns False (and copies nothing) when
    their variables do not pair up, e.g. a run resumed with another ``--freeze``."""
    source, target = base_optimizer(source), base_optimizer(target)
    if type(source) is not type(target):
        return False
    pairs = list(zip(source.variables, target.variables))
    if len(source.variables) != len(target.variables) or any(tuple(a.shape) != tuple(b.shape) for a, b in pairs):
        return False
    for src, dst in pairs:
        dst.assign(keras.ops.convert_to_numpy(src))
    return True
