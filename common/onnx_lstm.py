"""The BiLSTM encoder and the head as ONNX's fused ``LSTM`` operator: what ``export`` writes after the front end.

tf2onnx turns a masked Keras LSTM into a ``Loop`` over time steps whose body runs a dozen small operators per step;
ONNX Runtime's ``LSTM`` kernel runs the same recurrence in one operator, with the padding handled by its
``sequence_lens`` input (the backward direction starts at each sequence's true end, as the Keras mask does). On the
shipped OCR model that made the twin ~2x faster one line per call (``benchmarks/results_ocr_vs_tesseract.md``).

:func:`append_encoder_and_head` adds, to an ONNX graph that ends with the front end's ``(batch, time, features)``
sequence and its lengths, one bidirectional ``LSTM`` node per encoder layer and the Dense head, from the Keras
weights. Gate order: Keras keeps ``i, f, c, o``, ONNX wants ``i, o, f, c``.
"""

import numpy as np

__all__ = ["front_end_model", "append_encoder_and_head", "onnx_lstm_weights"]


def front_end_model(recognizer):
    """A Keras model of the recognizer's front end alone, for the converter: ``{"features", "lengths"}`` ->
    ``{"sequence": (batch, frames, projection features), "lengths": (batch,) int32}`` (inference mode)."""
    import keras
    from keras import ops

    class FrontEnd(keras.Model):
        def __init__(self, frontend):
            super().__init__(name="front_end")
            self.frontend = frontend
            self.built = True  # the front end is (the recognizer's, built)

        def call(self, inputs):
            lengths = ops.cast(inputs["lengths"], "int32")
            sequence = self.frontend(inputs["features"], training=False, lengths=lengths)
            return {"sequence": sequence, "lengths": self.frontend.compute_output_length(lengths)}

    return FrontEnd(recognizer.frontend)


def _keras_to_onnx_gates(matrix, units):
    """Rows of a ``(4 * units, ...)`` array from Keras' gate order ``i, f, c, o`` to ONNX's ``i, o, f, c``."""
    i, f, c, o = (matrix[k * units:(k + 1) * units] for k in range(4))
    return np.concatenate([i, o, f, c], axis=0)


def onnx_lstm_weights(bidirectional, units):
    """``(W, R, B)`` of ONNX's ``LSTM`` for one Keras ``Bidirectional(LSTM)`` layer.

    Returns:
        W: float32 ``(2, 4 * units, input features)``; R: float32 ``(2, 4 * units, units)``; B: float32
        ``(2, 8 * units)`` (input biases, then recurrent biases, which Keras does not have: zeros). Direction 0 is
        the forward layer, 1 the backward one.
    """
    ws, rs, bs = [], [], []
    for layer in (bidirectional.forward_layer, bidirectional.backward_layer):
        cell = layer.cell
        kernel, recurrent = np.asarray(cell.kernel.numpy()), np.asarray(cell.recurrent_kernel.numpy())
        bias = np.asarray(cell.bias.numpy()) if cell.use_bias else np.zeros(4 * units, np.float32)
        ws.append(_keras_to_onnx_gates(kernel.T, units))
        rs.append(_keras_to_onnx_gates(recurrent.T, units))
        bs.append(np.concatenate([_keras_to_onnx_gates(bias, units), np.zeros(4 * units, np.float32)]))
    return (np.stack(ws).astype(np.float32), np.stack(rs).astype(np.float32), np.stack(bs).astype(np.float32))


def _check_plain_lstm(bidirectional):
    import keras

    for layer in (bidirectional.forward_layer, bidirectional.backward_layer):
        cell = layer.cell
        if (keras.activations.serialize(cell.activation) != "tanh"
                or keras.activations.serialize(cell.recurrent_activation) != "sigmoid"):
            raise ValueError(f"{layer.name}: only tanh/sigmoid LSTMs map onto ONNX's LSTM operator")
    if bidirectional.merge_mode != "concat":
        raise ValueError(f"{bidirectional.name}: only merge_mode='concat' is exported")


def append_encoder_and_head(graph, recognizer, *, sequence, lengths, logits="logits"):
    """Add the encoder's layers and the head to ``graph`` (an ``onnx.GraphProto``, changed in place).

    Args:
        graph: a graph with the float32 tensor ``sequence`` ``(batch, time, features)`` (the front end's output)
            and the int tensor ``lengths`` ``(batch,)`` (its valid frames per row).
        recognizer: the :class:`~common.recognizer.Recognizer` whose ``encoder`` and ``head`` weights are used.
        logits: name of the new float32 tensor ``(batch, time, num_classes)``, the head's output.

    The new tensor is added to the graph's outputs; ``sequence`` is removed from them if it was one.
    """
    from onnx import TensorProto, helper, numpy_helper

    encoder, head = recognizer.encoder, recognizer.head
    units = encoder.units
    nodes, initializers = [], []

    def constant(name, value):
        initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    # The LSTM operator refuses a length above the sequence's frames, which the front end's ceil division can
    # give for an input whose length its strides do not divide (Keras' mask just ends there): clip.
    nodes.append(helper.make_node("Shape", [sequence], ["encoder/sequence_shape"], name="encoder/shape"))
    nodes.append(helper.make_node("Gather", ["encoder/sequence_shape", constant("encoder/time_axis", np.array(1))],
                                  ["encoder/frames64"], axis=0, name="encoder/frames"))
    nodes.append(helper.make_node("Cast", ["encoder/frames64"], ["encoder/frames"], to=TensorProto.INT32,
                                  name="encoder/cast_frames"))
    nodes.append(helper.make_node("Cast", [lengths], ["encoder/lengths_int32"], to=TensorProto.INT32,
                                  name="encoder/cast_lengths"))
    lengths32 = "encoder/lengths_clipped"
    nodes.append(helper.make_node("Min", ["encoder/lengths_int32", "encoder/frames"], [lengths32],
                                  name="encoder/clip_lengths"))
    x = "encoder/time_major_0"
    nodes.append(helper.make_node("Transpose", [sequence], [x], perm=[1, 0, 2], name="encoder/to_time_major"))
    flatten = constant("encoder/flatten_directions", np.array([0, 0, -1], np.int64))
    for index, bidirectional in enumerate(encoder.recurrent_layers):
        _check_plain_lstm(bidirectional)
        w, r, b = onnx_lstm_weights(bidirectional, units)
        prefix = f"encoder/bilstm_{index}"
        y = f"{prefix}/y"  # (time, 2, batch, units)
        nodes.append(helper.make_node(
            "LSTM", [x, constant(f"{prefix}/W", w), constant(f"{prefix}/R", r), constant(f"{prefix}/B", b),
                     lengths32], [y], hidden_size=units, direction="bidirectional", name=f"{prefix}/lstm"))
        nodes.append(helper.make_node("Transpose", [y], [f"{prefix}/y_tbdh"], perm=[0, 2, 1, 3],
                                      name=f"{prefix}/directions_last"))
        x = f"{prefix}/out"  # (time, batch, 2 * units): forward, then backward, as Keras' concat
        nodes.append(helper.make_node("Reshape", [f"{prefix}/y_tbdh", flatten], [x], name=f"{prefix}/concat"))
    kernel, bias = (np.asarray(v.numpy(), np.float32) for v in (head.kernel, head.bias))
    nodes.append(helper.make_node("MatMul", [x, constant("head/kernel", kernel)], ["head/matmul"], name="head/matmul"))
    nodes.append(helper.make_node("Add", ["head/matmul", constant("head/bias", bias)], ["head/time_major"],
                                  name="head/bias_add"))
    nodes.append(helper.make_node("Transpose", ["head/time_major"], [logits], perm=[1, 0, 2], name="head/to_batch"))
    graph.node.extend(nodes)
    graph.initializer.extend(initializers)
    kept = [output for output in graph.output if output.name != sequence]
    del graph.output[:]
    graph.output.extend(kept)
    graph.output.append(helper.make_tensor_value_info(logits, TensorProto.FLOAT, [None, None, head.units]))
