"""The model both tasks train: task front end -> shared encoder -> Dense head of CTC logits.

:class:`Recognizer` takes ``{"features": (batch, time, num_features), "lengths": (batch,)}`` and returns
``{"logits": (batch, frames, num_classes), "lengths": (batch,)}``, where ``frames`` and the output lengths come from
the front end's :meth:`compute_output_length`. Its loss is the CTC loss with true per-sample lengths; ``fit``
expects targets ``{"labels": (batch, max_label_length), "label_lengths": (batch,)}``. ``metadata`` is a plain
dict (task, format version, alphabet, serialized preprocessor) stored inside the ``.keras`` file; read it through
the typed properties :attr:`Recognizer.task`, :attr:`Recognizer.alphabet` and :attr:`Recognizer.preprocessor`.

Mixed precision: built under the ``mixed_float16`` dtype policy, the front end and encoder compute in float16, but
the head always computes in float32 (its softmax and the CTC loss need the range), so the logits are float32
whatever the policy. Distribution: under a ``tf.distribute`` strategy, each replica's loss is its share of the
global batch's mean (see :meth:`Recognizer.compute_loss`), so the summed gradients equal one device's on the whole
batch.
"""

import common  # noqa: F401  (pins the Keras backend)
import keras
from keras import ops

from common.alphabet import Alphabet
from common.ctc import counted_ctc_loss
from common.encoder import BiLSTMEncoder
from common.errors import ConfigError
from common.frontend import ConvFrontend
from common.keras_compat import PrebuiltFit
from common.preprocessor import PACKAGE, preprocessor_from_metadata, register_with_keras, upgrade_metadata

register_with_keras()  # the tasks' preprocessors defined before Keras was imported

__all__ = ["Recognizer"]


def _layer(value, cls):
    if isinstance(value, keras.layers.Layer):
        return value
    if isinstance(value, dict):
        return keras.saving.deserialize_keras_object(value) if "class_name" in value else cls(**value)
    raise ConfigError(f"Expected a {cls.__name__} or its config. Received: {type(value).__name__}")


def _replica_context():
    """TensorFlow's replica context (``None`` outside ``strategy.run``, and on other Keras backends)."""
    if keras.config.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf.distribute.get_replica_context()


def _in_multi_worker_run():
    """Whether this runs under a ``MultiWorkerMirroredStrategy`` spanning several workers."""
    if keras.config.backend() != "tensorflow":
        return False
    import tensorflow as tf

    strategy = tf.distribute.get_strategy()
    return (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
            and strategy.num_replicas_in_sync > len(strategy.extended.worker_devices))


@keras.saving.register_keras_serializable(package=PACKAGE)
class Recognizer(PrebuiltFit, keras.Model):
    """Front end, shared BiLSTM encoder and a Dense head of ``num_classes`` logits.

    Args:
        frontend: a :class:`~common.frontend.ConvFrontend` (or its config).
        encoder: a :class:`~common.encoder.BiLSTMEncoder` (or its config).
        num_classes: alphabet size + 1 (blank = 0).
        metadata: dict stored with the model (task, alphabet, preprocessor, format version); format 1's flat
            ``"preprocessing"`` settings are upgraded to the task's preprocessor.
        preprocessor: a :class:`~common.preprocessor.Preprocessor` to store in ``metadata`` (it must give the
            front end's ``num_features``).

    Call arguments:
        inputs: dict with ``"features"`` float ``(batch, time, num_features)`` and ``"lengths"`` int ``(batch,)``.
        training: whether dropout / batch normalization run in training mode.

    Output: dict with ``"logits"`` ``(batch, frames, num_classes)`` and ``"lengths"`` ``(batch,)``.
    """

    def __init__(self, frontend, encoder, num_classes, metadata=None, preprocessor=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
            raise ConfigError(
                f"Received an invalid value for `num_classes`, expected an integer >= 2 (blank + 1 character). "
                f"Received: num_classes={num_classes!r}"
            )
        self.frontend = _layer(frontend, ConvFrontend)
        self.encoder = _layer(encoder, BiLSTMEncoder)
        self.num_classes = num_classes
        metadata = upgrade_metadata(metadata or {}, source=self.name)
        if preprocessor is not None:
            metadata["preprocessor"] = keras.saving.serialize_keras_object(preprocessor)
        self.metadata = metadata
        # Checked if present; a model file without one for a task that needs one is refused when it is read
        # (common.model_file.read_metadata), and by the Reader and the Transcriber.
        self._preprocessor = preprocessor_from_metadata(metadata, source=self.name,
                                                        num_features=self.frontend.num_features, required=False)
        # float32 whatever the policy: float16 logits would overflow the softmax and the CTC loss.
        self.head = keras.layers.Dense(num_classes, name="logits", dtype="float32")
        num_features = self.frontend.num_features
        for layer, shape in (
            (self.frontend, (None, None, num_features)),
            (self.encoder, (None, None, self.frontend.projection_units)),
            (self.head, (None, None, 2 * self.encoder.units)),
        ):
            if not layer.built:
                layer.build(shape)
        self.built = True

    @property
    def num_features(self):
        return self.frontend.num_features

    @property
    def task(self):
        """The task the model serves (``"ocr"``, ``"speech"``), from its metadata."""
        return self.metadata.get("task")

    @property
    def alphabet(self):
        """The :class:`~common.alphabet.Alphabet` of the head's classes (blank = 0 excluded)."""
        return Alphabet.from_config(self.metadata["alphabet"])

    @property
    def preprocessor(self):
        """The :class:`~common.preprocessor.Preprocessor` that turns an input into this model's features
        (``None`` for a task without one)."""
        return self._preprocessor

    def call(self, inputs, training=None):
        features = inputs["features"]
        lengths = ops.cast(inputs["lengths"], "int32")
        x = self.frontend(features, training=training, lengths=lengths)
        out_lengths = self.frontend.compute_output_length(lengths)
        mask = ops.expand_dims(ops.arange(ops.shape(x)[1], dtype="int32"), 0) < ops.expand_dims(out_lengths, 1)
        x = self.encoder(x, mask=mask, training=training)
        logits = self.head(x)
        return {"logits": logits, "lengths": out_lengths}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Mean CTC loss over the batch's samples that count (label fits its frames, finite loss).

        Under a ``tf.distribute`` strategy with several replicas, each replica returns the sum of its samples'
        losses divided by the number of finite samples in the *global* batch (all-reduced across replicas). The
        strategy sums the replicas' gradients, so the update equals one device's on the whole batch, also when
        the replicas got unequal shares of it.
        """
        # The toolkit's one loss-mean rule (common.ctc.counted_ctc_loss): a label that needs more frames than an
        # (augmented, sped-up) input has is left out of the batch's mean.
        per_sample, counts = counted_ctc_loss(y["labels"], y_pred["logits"], y["label_lengths"], y_pred["lengths"])
        count = ops.sum(counts)
        replica = _replica_context()
        num_replicas = replica.num_replicas_in_sync if replica is not None else 1
        if num_replicas > 1:
            count = replica.all_reduce("SUM", ops.stop_gradient(count))
        loss = ops.sum(per_sample) / ops.maximum(count, 1.0)
        if self.losses:
            # Weight penalties are the same on every replica: each adds its share.
            loss = loss + ops.cast(ops.sum(self.losses), loss.dtype) / num_replicas
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        results = super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)
        if _in_multi_worker_run():
            # With several workers, Keras averages a step's logs across workers along axis 0, which a scalar lacks
            # (keras-team/keras#20585): give each a length-1 axis; the average is a scalar again.
            results = {name: ops.reshape(value, (1,)) for name, value in results.items()}
        return results

    def get_config(self):
        return {
            "name": self.name,
            "frontend": keras.saving.serialize_keras_object(self.frontend),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "num_classes": self.num_classes,
            "metadata": self.metadata,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
