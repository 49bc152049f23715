"""The shared backbone: a stack of bidirectional LSTMs over ``(batch, time, features)``.

It knows nothing of pixels, audio or alphabets: the OCR and speech front ends turn their input into a sequence,
this encoder turns the sequence into context-aware features, and a Dense head turns those into CTC logits.
"""

import common  # noqa: F401  (pins the Keras backend)
import keras

from common.errors import ConfigError
from common.keras_compat import recurrent_loop

__all__ = ["BiLSTMEncoder", "ProjectedLSTM"]

PACKAGE = "ctc_toolkit"


def _check_positive_int(name, value, minimum=1):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(
            f"Received an invalid value for `{name}`, expected an integer >= {minimum}. Received: {name}={value!r}"
        )


@keras.saving.register_keras_serializable(package=PACKAGE)
class ProjectedLSTM(keras.layers.LSTM):
    """``keras.layers.LSTM`` with the same weights and results, which multiplies the inputs of all time steps by
    the input kernel at once, before the loop over time, instead of one step at a time inside it.

    Where no fused kernel runs the layer (Keras uses cuDNN on a GPU with TensorFlow, and this class leaves that to
    it), Keras loops over ``LSTMCell`` steps, each with a small ``(batch, features) x (features, 4 units)`` matrix
    product; one ``(batch * time, features)`` product does the same work far faster, and so does its gradient.
    The loop then only adds ``h @ recurrent_kernel``. With the front end's fused batch normalization this
    trains the shipped speech model 1.46-1.64x faster on one CPU core (benchmarks/results_speech_training_speed.md,
    results_speed.md). Cell dropout needs per-step masks: with it (or with ``unroll``) the layer runs Keras' own
    loop.

    Input shape: ``(batch, time, features)``; output as ``keras.layers.LSTM``.
    """

    def inner_loop(self, sequences, initial_state, mask, training=False):
        cell = self.cell
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        if self.unroll or cell.dropout or cell.recurrent_dropout or _fused_kernel_available():
            return super().inner_loop(sequences, initial_state, mask, training=training)
        projected = keras.ops.matmul(sequences, cell.kernel)
        if cell.use_bias:
            projected = projected + cell.bias

        def step(z, states):
            h_tm1, c_tm1 = states
            z = z + keras.ops.matmul(h_tm1, cell.recurrent_kernel)
            z_i, z_f, z_c, z_o = keras.ops.split(z, 4, axis=-1)
            c = cell.recurrent_activation(z_f) * c_tm1 + cell.recurrent_activation(z_i) * cell.activation(z_c)
            h = cell.recurrent_activation(z_o) * cell.activation(c)
            return h, [h, c]

        states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
        return recurrent_loop(step, projected, states, go_backwards=self.go_backwards, mask=mask,
                              zero_output_for_mask=self.zero_output_for_mask,
                              return_all_outputs=self.return_sequences)


def _fused_kernel_available():
    """Whether Keras runs an LSTM as one fused kernel here: cuDNN, with TensorFlow on a GPU."""
    if keras.config.backend() != "tensorflow":
        return False
    import tensorflow as tf

    return bool(tf.config.list_logical_devices("GPU"))


@keras.saving.register_keras_serializable(package=PACKAGE)
class BiLSTMEncoder(keras.layers.Layer):
    """Stacked bidirectional LSTMs that respect a padding mask.

    Args:
        num_layers: how many ``Bidirectional(LSTM)`` layers to stack.
        units: LSTM units per direction; the output has ``2 * units`` features.
        dropout: dropout rate applied between layers (and on the output) while training.

    Call arguments:
        inputs: float tensor of shape ``(batch, time, features)``.
        mask: optional bool tensor ``(batch, time)``; padded steps are False. The backward direction then starts
            at each sequence's true end, so padding does not leak into the result.
        training: whether dropout is active.

    Input shape: ``(batch, time, features)``. Output shape: ``(batch, time, 2 * units)``.

    Example:
    >>> encoder = BiLSTMEncoder(num_layers=2, units=64)
    >>> encoder(keras.ops.zeros((3, 50, 40))).shape
    TensorShape([3, 50, 128])
    """

    def __init__(self, num_layers=2, units=128, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        _check_positive_int("num_layers", num_layers)
        _check_positive_int("units", units)
        if not 0.0 <= float(dropout) < 1.0:
            raise ConfigError(f"Received an invalid value for `dropout`, expected 0 <= dropout < 1. "
                              f"Received: dropout={dropout!r}")
        self.num_layers = num_layers
        self.units = units
        self.dropout = float(dropout)
        self.supports_masking = True
        # Every LSTM stays alive until all wrappers exist: Bidirectional serializes its layer, and while a model
        # loads, Keras' shared-object scope keys configs by id(); a freed LSTM's id reused by the next one made
        # the backward copy resolve to a forward layer ("should have different `go_backwards` value"), at random.
        lstms = [ProjectedLSTM(units, return_sequences=True) for _ in range(num_layers)]
        self.recurrent_layers = [keras.layers.Bidirectional(lstm, name=f"bilstm_{i}") for i, lstm in enumerate(lstms)]
        self.dropout_layers = [keras.layers.Dropout(self.dropout) for _ in range(num_layers)]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for recurrent in self.recurrent_layers:
            recurrent.build(shape)
            shape = shape[:-1] + (2 * self.units,)
        self.built = True

    def call(self, inputs, mask=None, training=None):
        x = inputs
        for recurrent, dropout in zip(self.recurrent_layers, self.dropout_layers):
            x = recurrent(x, mask=mask, training=training)
            x = dropout(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:-1] + (2 * self.units,)

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update({"num_layers": self.num_layers, "units": self.units, "dropout": self.dropout})
        return config
