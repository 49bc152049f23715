"""Exporting a Recognizer to SavedModel, TFLite and ONNX: same logits, same text, atomic and safe writes."""

import json

import numpy as np
import pytest
from PIL import Image

from common.alphabet import Alphabet
from common.ctc import decode
from common.errors import ConfigError, ModelFileError
from common.export import FORMATS, ExportedModel, export_model, format_of
from common.model_file import save_model
from ocr.cli import main as ocr_main
from ocr.reader import Reader
from ocr.task import build_ocr_model
from speech.task import build_speech_model
from speech.transcriber import Transcriber

pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

HEIGHT = 16
TINY_FRONTEND = {"filters": (4, 8), "time_strides": (2, 1), "feature_strides": (2, 2), "projection_units": 8}
# TFLite is exported with a fixed batch of 2, so a batch of 3 also runs the split-and-pad path.
EXPORTS = {"savedmodel": ("tiny_savedmodel", None), "onnx": ("tiny.onnx", None), "tflite": ("tiny.tflite", 2)}


def tiny_ocr_model(seed=0):
    import keras

    keras.utils.set_random_seed(seed)
    # Dropout on: an export that ran the network in training mode would not match.
    return build_ocr_model(Alphabet("abc "), height=HEIGHT, num_layers=1, units=8, dropout=0.5, **TINY_FRONTEND)


def batch(time=40, lengths=(40, 23, 9)):
    rng = np.random.default_rng(1)
    return rng.random((len(lengths), time, HEIGHT), dtype=np.float32), np.array(lengths, dtype=np.int32)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    model = tiny_ocr_model()
    keras_file = save_model(model, root / "tiny.keras")
    paths = {}
    for format, (name, batch_size) in EXPORTS.items():
        paths[format] = export_model(model, root / name, format=format, batch_size=batch_size)
    return model, keras_file, paths


@pytest.mark.parametrize("format", FORMATS)
def test_exported_logits_and_text_match_keras(exported, format):
    model, _, paths = exported
    features, lengths = batch()
    expected = model({"features": features, "lengths": lengths}, training=False)
    expected_logits, expected_lengths = expected["logits"].numpy(), expected["lengths"].numpy()

    runtime = ExportedModel(paths[format], task="ocr")
    assert runtime.format == format and runtime.batch_size == EXPORTS[format][1]
    assert runtime.metadata == model.metadata and runtime.time_downsampling == 2
    logits, out_lengths = runtime(features, lengths)
    assert logits.shape == expected_logits.shape and logits.dtype == np.float32
    np.testing.assert_array_equal(out_lengths, expected_lengths)
    for row, length in enumerate(expected_lengths):  # padded frames are not part of the contract
        np.testing.assert_allclose(logits[row, :length], expected_logits[row, :length], atol=1e-4)
    texts = [d.text for d in decode(logits, out_lengths, runtime.alphabet)]
    assert texts == [d.text for d in decode(expected_logits, expected_lengths, runtime.alphabet)]
    assert any(texts)


def test_reader_and_transcriber_read_the_same_through_an_exported_model(exported, tmp_path):
    _, keras_file, paths = exported
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 255, size=(24, width), dtype=np.uint8) for width in (60, 97, 140)]
    expected = [r.to_dict() for r in Reader.load(keras_file).read(images)]
    for format in ("onnx", "tflite"):
        assert [r.to_dict() for r in Reader.load(paths[format]).read(images)] == expected

    speech_model = build_speech_model(num_mels=HEIGHT, num_layers=1, units=8, dropout=0.0, **TINY_FRONTEND)
    exported_speech = export_model(speech_model, tmp_path / "speech_savedmodel")
    audio = [rng.normal(0, 0.1, 16000 * seconds).astype(np.float32) for seconds in (1, 2)]
    expected = [t.to_dict() for t in Transcriber(speech_model).transcribe(audio, sample_rate=16000)]
    assert [t.to_dict() for t in Transcriber.load(exported_speech).transcribe(audio, sample_rate=16000)] == expected
    with pytest.raises(ModelFileError, match="'speech' task, not for 'ocr'"):
        Reader.load(exported_speech)


def test_export_refuses_to_clobber_and_replaces_atomically(exported):
    model, _, paths = exported
    folder = paths["savedmodel"].parent
    before = sorted(p.name for p in folder.iterdir())
    for path in (paths["savedmodel"], paths["onnx"]):
        with pytest.raises(ConfigError, match="exists already"):
            export_model(model, path)
    export_model(model, paths["savedmodel"], overwrite=True)
    assert sorted(p.name for p in folder.iterdir()) == before  # no temporary or old folder left behind
    assert ExportedModel(paths["savedmodel"]).num_classes == model.num_classes


def test_export_checks_its_arguments(exported, tmp_path):
    model, _, _ = exported
    assert [format_of(p) for p in ("a.onnx", "b.TFLITE", "c", "d.keras")] == ["onnx", "tflite", "savedmodel",
                                                                             "savedmodel"]
    with pytest.raises(ConfigError, match="needs a path ending in .onnx"):
        export_model(model, tmp_path / "x.tflite", format="onnx")
    with pytest.raises(ConfigError, match="Unknown export format"):
        export_model(model, tmp_path / "x", format="torchscript")
    with pytest.raises(ConfigError, match="batch_size=0"):
        export_model(model, tmp_path / "x.onnx", batch_size=0)
    assert not list(tmp_path.iterdir())


def test_exported_model_refuses_foreign_files(exported, tmp_path):
    _, _, paths = exported
    with pytest.raises(ModelFileError, match="'ocr' task, not for 'speech'"):
        ExportedModel(paths["onnx"], task="speech")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="not a readable onnx model"):
        ExportedModel(junk)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelFileError, match="not a SavedModel folder"):
        ExportedModel(tmp_path / "empty")
    with pytest.raises(ModelFileError, match="not found"):
        ExportedModel(tmp_path / "missing.tflite")


def test_cli_export_then_read(exported, tmp_path, capsys):
    _, keras_file, paths = exported
    out = tmp_path / "cli_savedmodel"
    assert ocr_main(["export", "--model", str(keras_file), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    image = tmp_path / "line.png"
    Image.fromarray(np.random.default_rng(3).integers(0, 255, size=(20, 90), dtype=np.uint8)).save(image)
    read = {}
    for model in (keras_file, out):
        assert ocr_main(["read", "--json", "--layout", "line", "--model", str(model), str(image)]) == 0
        read[model] = capsys.readouterr().out
    assert read[out] == read[keras_file] and json.loads(read[out])["text"]
    info = json.loads((out / "assets.extra" / "ctc_toolkit.json").read_text())
    assert info["metadata"]["task"] == "ocr" and info["inputs"] == ["features", "feature_lengths"]
    assert ocr_main(["export", "--model", str(keras_file), "--out", str(out)]) == 2
    assert "exists already" in capsys.readouterr().err
    assert ocr_main(["export", "--model", str(paths["onnx"]), "--out", str(tmp_path / "again.onnx")]) == 2
    assert "exported already" in capsys.readouterr().err


def _int8_ops(path):
    """Integer and (de)quantization operators of an ONNX graph, its loop bodies included."""
    import onnx

    def walk(graph):
        for node in graph.node:
            yield node.op_type
            for attribute in node.attribute:
                if attribute.type == onnx.AttributeProto.GRAPH:
                    yield from walk(attribute.g)

    return [op for op in walk(onnx.load(str(path)).graph) if "Integer" in op or "Quantize" in op]


@pytest.mark.parametrize("mode", ["dynamic", "dynamic_matmul", "dynamic_recurrent", "static"])
def test_quantized_onnx_runs_like_the_export(exported, tmp_path, mode):
    from common.export import quantize_onnx

    model, _, paths = exported
    features, lengths = batch()
    calibration = [(features[i:i + 1], lengths[i:i + 1]) for i in range(len(lengths))]
    out = quantize_onnx(paths["onnx"], tmp_path / f"{mode}.onnx", mode=mode, calibration=calibration)
    assert _int8_ops(out) and not _int8_ops(paths["onnx"])
    if mode == "dynamic_recurrent":  # int8 LSTMs, float convolutions
        assert "DynamicQuantizeLSTM" in _int8_ops(out) and "ConvInteger" not in _int8_ops(out)
    runtime, reference = ExportedModel(out, task="ocr"), ExportedModel(paths["onnx"], task="ocr")
    assert (runtime.quantization, reference.quantization) == (mode, None)
    assert runtime.metadata == model.metadata and runtime.alphabet.characters == reference.alphabet.characters
    logits, out_lengths = runtime(features, lengths)
    expected, expected_lengths = reference(features, lengths)
    np.testing.assert_array_equal(out_lengths, expected_lengths)
    assert logits.shape == expected.shape
    for row, length in enumerate(expected_lengths):  # close to the fp32 logits, not equal to them
        error = np.abs(logits[row, :length] - expected[row, :length]).max()
        assert 0 < error < 0.25 * np.abs(expected[row, :length]).max()
    with pytest.raises(ConfigError, match="exists already"):
        quantize_onnx(paths["onnx"], out, mode=mode, calibration=calibration)


def test_cli_export_quantize_writes_an_int8_twin_of_the_keras_file(exported, tmp_path, capsys):
    from common.model_file import file_sha256

    _, keras_file, _ = exported
    out = tmp_path / "twin.onnx"
    assert ocr_main(["export", "--model", str(keras_file), "--out", str(out), "--quantize", "dynamic_recurrent"]) == 0
    assert capsys.readouterr().out.strip() == str(out)
    twin = ExportedModel(out, task="ocr")
    assert twin.quantization == "dynamic_recurrent" and "DynamicQuantizeLSTM" in _int8_ops(out)
    assert twin.source_sha256 == file_sha256(keras_file)
    assert [p.name for p in tmp_path.iterdir()] == ["twin.onnx"]  # the float32 export in between is gone
    assert ocr_main(["export", "--model", str(keras_file), "--out", str(out), "--quantize", "dynamic"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert ocr_main(["export", "--model", str(keras_file), "--out", str(tmp_path / "m.tflite"),
                     "--quantize", "dynamic"]) == 2
    assert "--quantize writes ONNX" in capsys.readouterr().err


def test_quantize_onnx_checks_its_arguments(exported, tmp_path):
    from common.export import quantize_onnx

    _, keras_file, paths = exported
    with pytest.raises(ConfigError, match="mode='int4'"):
        quantize_onnx(paths["onnx"], tmp_path / "q.onnx", mode="int4")
    with pytest.raises(ConfigError, match="calibration"):
        quantize_onnx(paths["onnx"], tmp_path / "q.onnx", mode="static")
    with pytest.raises(ConfigError, match=r"reads and writes \.onnx"):
        quantize_onnx(keras_file, tmp_path / "q.onnx")


def test_onnx_threads_come_from_the_environment_when_not_given(monkeypatch):
    """``CTC_TOOLKIT_ONNX_THREADS`` (what ``serve --threads`` sets) sizes each forward pass; a bad value is one clear
    error naming the variable."""
    from common.errors import ConfigError
    from common.export import ONNX_THREADS_VARIABLE, onnx_threads_from_environment

    monkeypatch.delenv(ONNX_THREADS_VARIABLE, raising=False)
    assert onnx_threads_from_environment() is None
    monkeypatch.setenv(ONNX_THREADS_VARIABLE, " 3 ")
    assert onnx_threads_from_environment() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(ONNX_THREADS_VARIABLE, bad)
        with pytest.raises(ConfigError, match=ONNX_THREADS_VARIABLE):
            onnx_threads_from_environment()


def test_onnx_export_runs_the_encoder_as_fused_lstm_operators(tmp_path):
    """The ONNX twin runs each BiLSTM layer as one ``LSTM`` operator (not a ``Loop`` over time steps, ~2-4x slower
    for a few lines), and still gives Keras' logits: two layers, ragged lengths, one of a single frame, and a length
    past the padded input that the front end's ceil division turns into more frames than the sequence has (inputs
    are padded to a multiple of the time stride, as ``SequencePredictor`` pads them)."""
    import keras
    import onnx

    keras.utils.set_random_seed(3)
    model = build_ocr_model(Alphabet("abc "), height=HEIGHT, num_layers=2, units=6, dropout=0.5, **TINY_FRONTEND)
    path = export_model(model, tmp_path / "two_layers.onnx")
    ops = [node.op_type for node in onnx.load(path).graph.node]
    assert ops.count("LSTM") == 2 and "Loop" not in ops and "Scan" not in ops
    features, lengths = batch(time=40, lengths=(43, 17, 1))  # 43: 22 frames by the front end's arithmetic, of 20
    expected = model({"features": features, "lengths": lengths}, training=False)
    logits, out_lengths = ExportedModel(path)(features, lengths)
    np.testing.assert_array_equal(out_lengths, expected["lengths"].numpy())
    for row, length in enumerate(expected["lengths"].numpy()):
        length = min(int(length), logits.shape[1])
        np.testing.assert_allclose(logits[row, :length], expected["logits"].numpy()[row, :length], atol=1e-4)
