"""Convolutional front ends that turn a 2-D input (time x features) into a shorter feature sequence.

Both tasks present their input the same way, as ``(batch, time, features)``: an OCR line strip is transposed so
that time runs along the image width and the features are the pixel rows; a spectrogram has time frames and mel
bins. :class:`ConvFrontend` treats that as a one-channel image, runs conv blocks that may subsample time and
features, folds what is left of the feature axis into channels, and projects it to ``projection_units``. Each task
picks its own filters and strides (``ocr/frontend.py``, ``speech/frontend.py``); the output length is always
computed from the strides by :meth:`ConvFrontend.compute_output_length`, never hard-coded.
"""

import math

import common  # noqa: F401  (pins the Keras backend)
import keras
from keras import ops

from common.errors import ConfigError

__all__ = ["BatchNormalization", "ConvFrontend"]

PACKAGE = "ctc_toolkit"


def _as_int_tuple(name, values, minimum=1):
    values = tuple(values)
    if not values or any(not isinstance(v, int) or isinstance(v, bool) or v < minimum for v in values):
        raise ConfigError(
            f"Received an invalid value for `{name}`, expected a non-empty list of integers >= {minimum}. "
            f"Received: {name}={values!r}"
        )
    return values


@keras.saving.register_keras_serializable(package=PACKAGE)
class BatchNormalization(keras.layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` that trains through TensorFlow's fused kernel.

    Keras 3 normalizes a training batch with separate moment, subtract, scale and shift operations, each a pass
    over the whole tensor and each with its own gradient; after the front end's first convolution that tensor is
    ``(batch, time, features, 32)`` at full resolution, and those passes were the largest single cost of a speech
    training step on CPU. ``FusedBatchNormV3`` does the forward and the backward pass in one kernel each. The
    results are Keras' (the moving statistics use the biased batch variance, as Keras does); other backends,
    masks, synchronized (multi-replica) statistics, renormalization and inference run Keras' own code.

    The class keeps Keras' name: a ``.keras`` file stores a layer's weights under its class name (snake case), so
    model files written with Keras' layer load into this one, and the other way round.

    Input shape: ``(batch, height, width, channels)``, normalized over the last axis.
    """

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and mask is None and not self.synchronized and not self.renorm
                and keras.config.backend() == "tensorflow" and len(inputs.shape) == 4
                and self.axis in (3, -1)):
            return super().call(inputs, training=training, mask=mask)
        import tensorflow as tf

        x = ops.cast(inputs, "float32")
        channels = x.shape[-1]
        gamma = ops.cast(self.gamma, "float32") if self.scale else tf.ones((channels,), "float32")
        beta = ops.cast(self.beta, "float32") if self.center else tf.zeros((channels,), "float32")
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(x, gamma, beta, epsilon=self.epsilon,
                                                                   data_format="NHWC", is_training=True)
        # The kernel returns the unbiased (Bessel-corrected) variance; Keras keeps the biased one.
        count = ops.cast(ops.prod(ops.shape(x)[:-1]), "float32")
        variance = variance * (count - 1.0) / ops.maximum(count, 1.0)
        self.moving_mean.assign(ops.cast(self.moving_mean, "float32") * self.momentum
                                + ops.stop_gradient(mean) * (1.0 - self.momentum))
        self.moving_variance.assign(ops.cast(self.moving_variance, "float32") * self.momentum
                                    + ops.stop_gradient(variance) * (1.0 - self.momentum))
        return ops.cast(outputs, self.compute_dtype)


@keras.saving.register_keras_serializable(package=PACKAGE)
class ConvFrontend(keras.layers.Layer):
    """Conv blocks over ``(batch, time, features)``, then a projection to a feature sequence.

    Each block is ``Conv2D(3x3, same) -> BatchNormalization -> ReLU -> MaxPool(time_stride, feature_stride)``
    (run as pool, then ReLU: the same values).

    Args:
        num_features: size of the input's last axis (image height in pixels, or number of mel bins).
        filters: output channels of each block, e.g. ``(32, 64, 96)``.
        time_strides: pooling factor along time of each block (same length as ``filters``).
        feature_strides: pooling factor along features of each block (same length as ``filters``).
        projection_units: size of each output frame (a Dense projection of the folded features).
        dropout: dropout on the projected frames while training.

    Call arguments:
        inputs: float tensor ``(batch, time, num_features)``.
        training: whether batch normalization and dropout run in training mode.
        lengths: optional int tensor ``(batch,)``, the valid frames of each sequence. When given, every block's
            input is zero past the sequence's end, so the valid output frames
            (:meth:`compute_output_length`) are exactly those of the sequence alone, whatever the batch's padding.

    Input shape: ``(batch, time, num_features)``.
    Output shape: ``(batch, ceil(time / prod(time_strides)), projection_units)``.

    Example:
    >>> frontend = ConvFrontend(num_features=32, filters=(16, 32), time_strides=(2, 2), feature_strides=(2, 2))
    >>> frontend(keras.ops.zeros((2, 100, 32))).shape
    TensorShape([2, 25, 128])
    """

    def __init__(
        self,
        num_features,
        filters=(32, 64, 96),
        time_strides=(2, 2, 1),
        feature_strides=(2, 2, 2),
        projection_units=128,
        dropout=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(num_features, int) or num_features < 1:
            raise ConfigError(
                f"Received an invalid value for `num_features`, expected a positive integer. "
                f"Received: num_features={num_features!r}"
            )
        self.num_features = num_features
        self.filters = _as_int_tuple("filters", filters)
        self.time_strides = _as_int_tuple("time_strides", time_strides)
        self.feature_strides = _as_int_tuple("feature_strides", feature_strides)
        if not len(self.filters) == len(self.time_strides) == len(self.feature_strides):
            raise ConfigError(
                "`filters`, `time_strides` and `feature_strides` need one entry per block. Received: "
                f"filters={self.filters}, time_strides={self.time_strides}, feature_strides={self.feature_strides}"
            )
        self.projection_units = int(projection_units)
        self.dropout = float(dropout)
        self.blocks = []
        for i, (num_filters, ts, fs) in enumerate(zip(self.filters, self.time_strides, self.feature_strides)):
            block = [
                keras.layers.Conv2D(num_filters, 3, padding="same", use_bias=False, name=f"conv_{i}"),
                BatchNormalization(momentum=0.9, name=f"norm_{i}"),
            ]
            # Pooling before the ReLU gives the same values (a ReLU is monotone: it commutes with a maximum) and
            # the same gradients save for ties, with the ReLU on a tensor time_stride * feature_stride smaller.
            if ts > 1 or fs > 1:
                block.append(keras.layers.MaxPooling2D((ts, fs), padding="same", name=f"pool_{i}"))
            block.append(keras.layers.ReLU(name=f"relu_{i}"))
            self.blocks.append(block)
        self.projection = keras.layers.Dense(self.projection_units, activation="relu", name="projection")
        self.projection_dropout = keras.layers.Dropout(self.dropout)

    @property
    def folded_features(self):
        """Features per frame after the last block: remaining feature bins times channels."""
        size = self.num_features
        for fs in self.feature_strides:
            size = math.ceil(size / fs)
        return size * self.filters[-1]

    def build(self, input_shape):
        shape = (None, None, self.num_features, 1)
        for block in self.blocks:
            for layer in block:
                layer.build(shape)
                shape = layer.compute_output_shape(shape)
        self.projection.build((None, None, self.folded_features))
        self.built = True

    def call(self, inputs, training=None, lengths=None):
        # Pad time to a multiple of the total stride: "same" pooling of a length the stride does not divide would
        # put part of its padding in front, shifting every window, so a sequence's frames would depend on how
        # much padding its batch happened to need.
        downsampling = self.time_downsampling
        if downsampling > 1:
            extra = (-ops.shape(inputs)[1]) % downsampling
            inputs = ops.pad(inputs, [[0, 0], [0, extra], [0, 0]])
        x = ops.expand_dims(inputs, -1)
        if lengths is not None:
            lengths = ops.cast(lengths, "int32")
            x = self._zero_padding(x, lengths)
        for block, ts in zip(self.blocks, self.time_strides):
            for layer in block:
                x = layer(x, training=training)
            if lengths is not None:
                # Past a sequence's end a block's output is not zero (batch normalization shifts it), and the next
                # block's 3-wide convolution would read it into the last valid frames; a sequence alone in its
                # batch instead meets the convolution's own zero padding there. Zeroing the frames past each
                # block's valid length makes the two the same, so a sequence reads the same whatever else (and
                # however much padding) is in its batch.
                if ts > 1:
                    lengths = (lengths + (ts - 1)) // ts
                x = self._zero_padding(x, lengths)
        shape = ops.shape(x)
        x = ops.reshape(x, (shape[0], shape[1], self.folded_features))
        x = self.projection(x)
        return self.projection_dropout(x, training=training)

    @staticmethod
    def _zero_padding(x, lengths):
        """``x`` ``(batch, time, features, channels)`` with the frames at and past each ``lengths`` set to 0."""
        valid = ops.expand_dims(ops.arange(ops.shape(x)[1], dtype="int32"), 0) < ops.expand_dims(lengths, 1)
        return x * ops.cast(ops.reshape(valid, (ops.shape(x)[0], ops.shape(x)[1], 1, 1)), x.dtype)

    def compute_output_length(self, lengths):
        """Frames out for ``lengths`` frames in (a tensor or int): ``ceil`` division by each time stride."""
        for ts in self.time_strides:
            if ts > 1:
                lengths = (lengths + (ts - 1)) // ts
        return lengths

    @property
    def time_downsampling(self):
        """Input frames per output frame."""
        return math.prod(self.time_strides)

    def compute_output_shape(self, input_shape):
        time = input_shape[1]
        if time is not None:
            time = self.compute_output_length(time)
        return (input_shape[0], time, self.projection_units)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_features": self.num_features,
                "filters": list(self.filters),
                "time_strides": list(self.time_strides),
                "feature_strides": list(self.feature_strides),
                "projection_units": self.projection_units,
                "dropout": self.dropout,
            }
        )
        return config
