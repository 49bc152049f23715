"""The shared backbone: a stack of bidirectional LSTMs over ``(batch, time, features)``.

It knows nothing of pixels, audio or alphabets: the OCR and speech front ends turn their input into a sequence,
this encoder turns the sequence into context-aware features, and a Dense head turns those into CTC logits.
"""

import common  # noqa: F401  (pins the Keras backend)
import keras

from common.errors import ConfigError

__all__ = ["BiLSTMEncoder"]

PACKAGE = "ctc_toolkit"


def _check_positive_int(name, value, minimum=1):
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(
            f"Received an invalid value for `{name}`, expected an integer >= {minimum}. Received: {name}={value!r}"
        )


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
        lstms = [keras.layers.LSTM(units, return_sequences=True) for _ in range(num_layers)]
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
