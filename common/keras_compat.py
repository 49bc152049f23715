"""The one place that touches Keras' private API; each use says why, and which Keras behaviour it works around.

Keras 3.15 is what these were written against. When a Keras upgrade breaks one of them, this module is the only
file to mend.
"""

__all__ = ["all_layers", "PrebuiltFit", "recurrent_loop"]


def all_layers(model):
    """Every layer inside ``model``, nested ones included, ``model`` first (Keras' ``_flatten_layers``).

    ``model.layers`` lists direct children only; layers that build their own inner layers (the front end's
    convolutions and batch normalizations, the encoder's LSTMs) are reached only this way.
    """
    return list(model._flatten_layers())


class PrebuiltFit:
    """Mixin for a model that is built in ``__init__`` and whose optimizer is built before ``fit``.

    Keras' ``fit`` first builds the model symbolically from one batch (``_maybe_symbolic_build``). For such a model
    there is nothing left to build, and under ``MultiWorkerMirroredStrategy`` that step fails on dict inputs
    (keras-team/keras#20329): skip it once the optimizer is built.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if getattr(self, "optimizer", None) is not None and self.optimizer.built:
            return
        super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)


def recurrent_loop(step, inputs, initial_states, *, go_backwards, mask, zero_output_for_mask, return_all_outputs):
    """Keras' backend loop over time (``keras.src.backend.rnn``), the one every Keras RNN layer runs on: masking,
    reversal and the backend's loop (TensorFlow's ``while_loop``, JAX's ``scan``) as ``keras.layers.LSTM`` has them.
    Keras has no public entry point to it (``keras.ops.scan`` knows no masks); :class:`common.encoder.ProjectedLSTM`
    needs it to feed the loop precomputed input projections.

    Args:
        step: ``step(inputs_t, states) -> (output_t, new_states)``.
        inputs: tensor ``(batch, time, features)``.
        initial_states: list of tensors ``(batch, units)``.

    Returns: ``(last_output, outputs, new_states)``, as ``keras.layers.RNN.inner_loop``.
    """
    from keras.src import backend

    return backend.rnn(step, inputs, list(initial_states), go_backwards=go_backwards, mask=mask, unroll=False,
                       input_length=inputs.shape[1],
                       zero_output_for_mask=zero_output_for_mask, return_all_outputs=return_all_outputs)
