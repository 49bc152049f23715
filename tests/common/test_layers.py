"""Shape, config round trip and .keras save/load of each public layer and the Recognizer."""

import zipfile
import json

import keras
import numpy as np
import pytest

from common.alphabet import Alphabet
from common.encoder import BiLSTMEncoder, ProjectedLSTM
from common.errors import ModelFileError
from common.frontend import BatchNormalization, ConvFrontend
from common.model_file import FORMAT_VERSION, load_model, read_metadata, save_model
from common.recognizer import Recognizer

ALPHABET = Alphabet("abc")


def tiny_model(task="toy"):
    metadata = {"task": task, "format_version": FORMAT_VERSION, "alphabet": ALPHABET.get_config()}
    return Recognizer(
        ConvFrontend(16, filters=(4, 8), time_strides=(2, 1), feature_strides=(2, 2), projection_units=8),
        BiLSTMEncoder(num_layers=1, units=8),
        ALPHABET.num_classes,
        metadata=metadata,
    )


def inputs(batch=2, time=20, features=16):
    rng = np.random.default_rng(0)
    return {"features": rng.random((batch, time, features), dtype=np.float32),
            "lengths": np.array([time, time - 7][:batch], dtype=np.int32)}


def test_encoder_shape_config_and_mask():
    encoder = BiLSTMEncoder(num_layers=2, units=6)
    x = np.random.default_rng(0).random((2, 9, 5)).astype("float32")
    assert tuple(encoder(x).shape) == (2, 9, 12)
    again = BiLSTMEncoder.from_config(encoder.get_config())
    assert again.get_config() == encoder.get_config()
    # Padding must not change the outputs of the valid steps.
    mask = np.array([[True] * 9, [True] * 4 + [False] * 5])
    padded = x.copy()
    padded[1, 4:] = 99.0
    out_a = keras.ops.convert_to_numpy(encoder(x, mask=mask))
    out_b = keras.ops.convert_to_numpy(encoder(padded, mask=mask))
    np.testing.assert_allclose(out_a[1, :4], out_b[1, :4], atol=1e-5)


@pytest.mark.parametrize("wrap", ["bidirectional", "backwards_with_states"])
def test_projected_lstm_matches_keras_lstm_outputs_and_gradients(wrap):
    """The encoder's LSTM precomputes the input projections: with Keras' LSTM's weights it gives Keras' LSTM's
    outputs and gradients, masks, the backward direction, the final states and the previous-output rule of plain
    layers included."""
    import tensorflow as tf

    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(3, 11, 5)).astype("float32"))
    mask = tf.constant(np.arange(11)[None, :] < np.array([11, 6, 1])[:, None])

    def make(cls):
        if wrap == "bidirectional":
            return keras.layers.Bidirectional(cls(7, return_sequences=True))
        return cls(7, return_sequences=True, return_state=True, go_backwards=True)

    layers = [make(cls) for cls in (keras.layers.LSTM, ProjectedLSTM)]
    for layer in layers:
        layer.build((3, 11, 5))
    layers[1].set_weights([w + rng.normal(scale=0.1, size=w.shape) for w in layers[0].get_weights()])
    layers[0].set_weights(layers[1].get_weights())
    results = []
    for layer in layers:
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x, mask=mask, training=True)
            parts = out if isinstance(out, (list, tuple)) else [out]
            loss = sum(tf.reduce_sum(part * tf.cos(tf.range(part.shape[-1], dtype="float32") + k))
                       for k, part in enumerate(parts))
        grads = tape.gradient(loss, [x] + layer.trainable_variables)
        results.append([part.numpy() for part in parts] + [g.numpy() for g in grads])
    assert np.abs(results[0][0]).max() > 0.05  # the outputs are not all (near) zero
    for keras_value, projected_value in zip(*results):
        np.testing.assert_allclose(projected_value, keras_value, rtol=1e-4, atol=1e-5)


def test_fused_batch_normalization_matches_keras():
    """The front end's batch normalization trains through TensorFlow's fused kernel: Keras' outputs, gradients and
    moving statistics; inference and frozen layers run Keras' own code."""
    import tensorflow as tf

    rng = np.random.default_rng(2)
    x = tf.constant(rng.normal(loc=1.5, scale=2.0, size=(4, 9, 6, 5)).astype("float32"))
    layers = [cls(momentum=0.9) for cls in (keras.layers.BatchNormalization, BatchNormalization)]
    for layer in layers:
        layer.build(x.shape)
        layer.gamma.assign(rng.uniform(0.5, 1.5, size=5).astype("float32"))
        layer.beta.assign(rng.normal(size=5).astype("float32"))
    layers[1].set_weights(layers[0].get_weights())
    weights = tf.constant(rng.normal(size=x.shape).astype("float32"))
    results = []
    for layer in layers:
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * weights)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        results.append([g.numpy() for g in grads] + list(layer.get_weights())
                       + [layer(x, training=False).numpy()])
    assert np.abs(results[0][0]).max() > 0.1 and results[0][5].min() > 0.05  # the moving mean moved (from 0)
    for keras_value, fused_value in zip(*results):
        np.testing.assert_allclose(fused_value, keras_value, rtol=1e-4, atol=1e-5)
    assert [type(layer) for block in ConvFrontend(16).blocks for layer in block].count(BatchNormalization) == 3


def test_encoder_uses_projected_lstms():
    encoder = BiLSTMEncoder(num_layers=2, units=4)
    assert all(isinstance(layer.forward_layer, ProjectedLSTM) and isinstance(layer.backward_layer, ProjectedLSTM)
               for layer in encoder.recurrent_layers)


@pytest.mark.parametrize("bad", [{"num_layers": 0}, {"units": -1}, {"dropout": 1.5}])
def test_encoder_rejects_bad_arguments(bad):
    with pytest.raises(ValueError, match="Received"):
        BiLSTMEncoder(**bad)


def test_frontend_output_length_matches_shape():
    frontend = ConvFrontend(16, filters=(4, 8), time_strides=(2, 2), feature_strides=(2, 1), projection_units=10)
    for time in (1, 7, 8, 33):
        out = frontend(np.zeros((1, time, 16), dtype="float32"))
        assert out.shape[1] == int(frontend.compute_output_length(time))
        assert out.shape[2] == 10
    assert ConvFrontend.from_config(frontend.get_config()).get_config() == frontend.get_config()


@pytest.mark.parametrize("time_strides", [(2, 2), (3, 1)])
def test_frontend_frames_do_not_depend_on_batch_padding(time_strides):
    frontend = ConvFrontend(12, filters=(4, 4), time_strides=time_strides, feature_strides=(2, 2))
    x = np.random.default_rng(0).random((1, 37, 12)).astype("float32")
    valid = int(frontend.compute_output_length(37))
    reference = keras.ops.convert_to_numpy(frontend(x))[0, :valid]
    for padding in (1, 2, 3, 11):
        padded = np.concatenate([x, np.zeros((1, padding, 12), "float32")], axis=1)
        out = keras.ops.convert_to_numpy(frontend(padded))[0, :valid]
        # Frames whose receptive field stays inside the sequence must not change at all.
        np.testing.assert_allclose(out[:-2], reference[:-2], atol=1e-5)
    with pytest.raises(ValueError, match="one entry per block"):
        ConvFrontend(16, filters=(4, 8), time_strides=(2,), feature_strides=(2, 2))


def test_layers_save_and_load(tmp_path):
    for layer, shape in ((BiLSTMEncoder(1, 4), (1, 5, 3)), (ConvFrontend(8, filters=(2,), time_strides=(2,),
                                                                      feature_strides=(2,)), (1, 6, 8))):
        x = np.random.default_rng(1).random(shape).astype("float32")
        model = keras.Sequential([keras.Input(shape[1:]), layer])
        path = tmp_path / f"{type(layer).__name__}.keras"
        model.save(path)
        again = keras.saving.load_model(path, safe_mode=True)
        np.testing.assert_allclose(model.predict(x, verbose=0), again.predict(x, verbose=0), atol=1e-6)


def test_recognizer_round_trip(tmp_path):
    model = tiny_model()
    out = model(inputs())
    assert tuple(out["logits"].shape) == (2, 10, 4)
    assert keras.ops.convert_to_numpy(out["lengths"]).tolist() == [10, 7]
    path = save_model(model, tmp_path / "m.keras")
    again = load_model(path, task="toy")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(again(inputs())["logits"]),
                               keras.ops.convert_to_numpy(out["logits"]), atol=1e-6)
    assert again.metadata["alphabet"] == ALPHABET.get_config()
    assert not list(tmp_path.glob(".*tmp*")), "no temporary file is left behind"


def test_model_file_refusals(tmp_path):
    path = save_model(tiny_model(task="other"), tmp_path / "other.keras")
    with pytest.raises(ModelFileError, match="'other' task"):
        load_model(path, task="toy")
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.keras")
    junk = tmp_path / "junk.keras"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ModelFileError, match="not a Keras model file"):
        load_model(junk)
    foreign = tmp_path / "foreign.keras"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save(foreign)
    with pytest.raises(ModelFileError, match="not a model of this toolkit"):
        load_model(foreign)


def _rewrite_config(source, target, change):
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "config.json":
                config = json.loads(data)
                change(config)
                data = json.dumps(config).encode()
            zout.writestr(item, data)


def test_newer_format_and_alphabet_mismatch_refused(tmp_path):
    path = save_model(tiny_model(), tmp_path / "m.keras")
    newer = tmp_path / "newer.keras"
    _rewrite_config(path, newer, lambda c: c["config"]["metadata"].update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(ModelFileError, match="newer"):
        read_metadata(newer)
    mismatch = tmp_path / "mismatch.keras"
    _rewrite_config(path, mismatch, lambda c: c["config"]["metadata"]["alphabet"].update(characters="abcd"))
    with pytest.raises(ModelFileError, match="inconsistent"):
        read_metadata(mismatch)


def test_lambda_layer_refused_by_safe_mode(tmp_path):
    path = save_model(tiny_model(), tmp_path / "m.keras")
    evil = tmp_path / "evil.keras"

    def add_lambda(config):
        config["config"]["encoder"] = {
            "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
            "config": {"name": "x", "function": {"class_name": "__lambda__", "config": {
                "code": "4wEAAAAAAAAAAAAAAAEAAAACAAAAQwAAAHMEAAAAfABTAKkBTqkAKQHaAXhyAgAAAHICAAAA+gE8WgE8bGFtYmRhPgEAAABzAgAAAAQA",
                "defaults": None, "closure": None}}},
        }

    _rewrite_config(path, evil, add_lambda)
    with pytest.raises(ModelFileError, match="could not be loaded safely.*Lambda"):
        load_model(evil)
