"""Model files that are not ours, damaged, newer, for the other task, or carry code are refused with one clear
line: through ``load_model``, ``Reader.load`` / ``Transcriber.load`` and the command lines.

tests/common/test_layers.py already covers: a missing file, bytes that are not a zip, a plain Keras model, a newer
format version, an alphabet that does not match the output layer, a Lambda layer in our model, and a speech model
loaded as OCR. These are the rest.
"""

import json
import zipfile

import keras
import pytest

from common.errors import ModelFileError
from common.model_file import FORMAT_VERSION, load_model, read_metadata
from ocr.cli import main as ocr_main
from ocr.reader import Reader
from robustness_support import outcome
from speech.cli import main as speech_main
from speech.transcriber import Transcriber


def _rewrite(source, target, *, config=None, drop=(), add=None):
    """Copy a .keras archive, changing config.json with ``config(dict)`` (or replacing it with bytes)."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, "w") as zout:
        for item in zin.infolist():
            if item.filename in drop:
                continue
            data = zin.read(item.filename)
            if item.filename == "config.json" and config is not None:
                if callable(config):
                    loaded = json.loads(data)
                    config(loaded)
                    data = json.dumps(loaded).encode()
                else:
                    data = config
            zout.writestr(item, data)
        for name, data in (add or {}).items():
            zout.writestr(name, data)
    return target


def _custom_layer(config):
    config["config"]["encoder"] = {"module": "evil.layers", "class_name": "Backdoor", "registered_name":
                                   "evil>Backdoor", "config": {"name": "encoder"}}


def _lambda_in_frontend(config):
    config["config"]["frontend"] = {"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                                    "config": {"name": "x", "function": {"class_name": "__lambda__", "config": {
                                        "code": "print('owned')", "defaults": None, "closure": None}}}}


def _set_metadata(**changes):
    def change(config):
        config["config"]["metadata"].update(changes)
    return change


def _remove_metadata(key):
    def change(config):
        config["config"]["metadata"].pop(key, None)
    return change


# name -> (how to make it from our OCR model file, words the error must contain)
CASES = {
    "zip_without_config": (lambda src, dst: _rewrite(src, dst, drop=("config.json",)), "not a Keras model file"),
    "config_not_json": (lambda src, dst: _rewrite(src, dst, config=b"{not json"), "not a Keras model file"),
    "config_a_list": (lambda src, dst: _rewrite(src, dst, config=b"[1, 2, 3]"), "not a model of this toolkit"),
    "truncated_archive": (lambda src, dst: dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2]),
                          "not a Keras model file"),
    "no_format_version": (lambda src, dst: _rewrite(src, dst, config=_remove_metadata("format_version")),
                          "no format version"),
    "format_version_string": (lambda src, dst: _rewrite(src, dst, config=_set_metadata(format_version="2")),
                              "format version"),
    "format_version_far_future": (lambda src, dst: _rewrite(src, dst, config=_set_metadata(format_version=10**6)),
                                  "newer than this toolkit reads"),
    "inner_config_a_list": (lambda src, dst: _rewrite(src, dst, config=lambda c: c.update(config=[1])),
                            "no format version"),
    "metadata_a_string": (lambda src, dst: _rewrite(src, dst, config=lambda c: c["config"].update(metadata="x")),
                          "no format version"),
    "no_alphabet": (lambda src, dst: _rewrite(src, dst, config=_remove_metadata("alphabet")), "no valid alphabet"),
    "alphabet_garbage": (lambda src, dst: _rewrite(src, dst, config=_set_metadata(alphabet=[1, 2])),
                         "no valid alphabet"),
    "unknown_custom_object": (lambda src, dst: _rewrite(src, dst, config=_custom_layer),
                              "could not be loaded"),
    "lambda_in_frontend": (lambda src, dst: _rewrite(src, dst, config=_lambda_in_frontend), "could not be loaded"),
    "weights_missing": (lambda src, dst: _rewrite(src, dst, drop=("model.weights.h5",)), "could not be loaded"),
    "weights_garbage": (lambda src, dst: _rewrite(src, dst, drop=("model.weights.h5",),
                                                  add={"model.weights.h5": b"\x89HDF\r\n\x1a\n" + bytes(100)}),
                        "could not be loaded"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_model_file_case(tmp_path, tiny_models, name):
    make, words = CASES[name]
    path = tmp_path / f"{name}.keras"
    make(tiny_models["ocr"], path)
    kind, message = outcome(lambda: load_model(path, task="ocr"), source=path, errors=(ModelFileError,))
    assert kind == "error" and words in message, message
    assert "owned" not in message


def test_a_folder_and_another_suffix(tmp_path, tiny_models):
    kind, message = outcome(lambda: load_model(tmp_path), source=tmp_path, errors=(ModelFileError,))
    assert kind == "error"
    h5 = tmp_path / "model.h5"
    keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]).save_weights(tmp_path / "w.weights.h5")
    h5.write_bytes((tmp_path / "w.weights.h5").read_bytes())
    kind, message = outcome(lambda: read_metadata(h5), source=h5, errors=(ModelFileError,))
    assert kind == "error" and "not a Keras model file" in message


def test_the_other_tasks_model_through_the_apis(tiny_models):
    with pytest.raises(ModelFileError, match=r"model for the 'speech' task, not for 'ocr'"):
        Reader.load(tiny_models["speech"])
    with pytest.raises(ModelFileError, match=r"model for the 'ocr' task, not for 'speech'"):
        Transcriber.load(tiny_models["ocr"])
    with pytest.raises(ModelFileError, match="Reader needs an OCR model"):
        Reader(load_model(tiny_models["speech"]))
    with pytest.raises(ModelFileError, match="Transcriber needs a speech model"):
        Transcriber(load_model(tiny_models["ocr"]))


def test_the_other_tasks_model_through_the_clis(tiny_models, tmp_path, capfd):
    image = tmp_path / "x.png"
    image.write_bytes(b"irrelevant")
    assert ocr_main(["read", "--model", str(tiny_models["speech"]), str(image)]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "'speech' task" in err and "Traceback" not in err
    assert speech_main(["transcribe", "--model", str(tiny_models["ocr"]), str(image)]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "'ocr' task" in err
    assert speech_main(["transcribe", "--model", str(tmp_path / "none.keras"), str(image)]) == 2
    assert "model file not found" in capfd.readouterr().err


def _preprocessor_setting(**changes):
    def change(config):
        config["config"]["metadata"]["preprocessor"]["config"].update(changes)
    return change


def _format_1(preprocessing):
    """The older layout: a flat ``preprocessing`` dict instead of the serialized preprocessor."""
    def change(config):
        metadata = config["config"]["metadata"]
        metadata.pop("preprocessor")
        metadata.update(format_version=1, preprocessing=preprocessing)
    return change


# Issue #17 item 5: model files whose stored preprocessing disagrees with the network, or is missing or invalid,
# are refused when they are read, with one line naming the file, never at the first input.
# name -> (task of the model, change of config.json, words the error must contain)
PREPROCESSING_CASES = {
    "height_48_on_a_32_network": ("ocr", _preprocessor_setting(height=48), "gives 48 features per frame but the "
                                                                          "network takes 32"),
    "height_48_on_a_32_network_format_1": ("ocr", _format_1({"height": 48}), "gives 48 features per frame"),
    "height_tall": ("ocr", _preprocessor_setting(height="tall"), "invalid value for `height`"),
    "height_tall_format_1": ("ocr", _format_1({"height": "tall"}), "invalid value for `height`"),
    "polarity_unknown": ("ocr", _preprocessor_setting(polarity="sideways"), "invalid value for `polarity`"),
    "no_preprocessing_ocr": ("ocr", _remove_metadata("preprocessor"), "carries no preprocessing settings"),
    "no_preprocessing_speech": ("speech", _remove_metadata("preprocessor"), "carries no preprocessing settings"),
    "preprocessing_a_string": ("ocr", _format_1("tall"), "not a dict of settings"),
    "unknown_setting": ("ocr", _preprocessor_setting(dpi=300), "does not know: ['dpi']"),
    "40_mels_on_an_80_network": ("speech", _preprocessor_setting(num_mels=40), "gives 40 features per frame but "
                                                                             "the network takes 80"),
    "40_mels_format_1": ("speech", _format_1({"sample_rate": 16000, "num_mels": 40, "hop_seconds": 0.01}),
                         "gives 40 features per frame"),
    "hop_seconds_0": ("speech", _preprocessor_setting(hop_seconds=0), "invalid value for `hop_seconds`"),
    "hop_seconds_0_format_1": ("speech", _format_1({"sample_rate": 16000, "num_mels": 80, "hop_seconds": 0}),
                               "invalid value for `hop_seconds`"),
    "hop_not_whole_samples": ("speech", _preprocessor_setting(hop_seconds=0.01003), "whole number of samples"),
    "sample_rate_negative": ("speech", _preprocessor_setting(sample_rate=-16000), "invalid value for `sample_rate`"),
    "ocr_preprocessor_in_speech_model": ("speech", lambda c: c["config"]["metadata"].update(preprocessor={
        "module": "ocr.preprocessor", "class_name": "LinePreprocessor", "registered_name":
        "ctc_toolkit>LinePreprocessor", "config": {"height": 80}}), "its preprocessor is for 'ocr'"),
    "preprocessor_class_unknown": ("ocr", lambda c: c["config"]["metadata"]["preprocessor"].update(
        registered_name="evil>Backdoor", class_name="Backdoor"), "preprocessor 'evil>Backdoor' is unknown"),
    "format_version_0": ("ocr", _set_metadata(format_version=0), "format version 0, which this toolkit never wrote"),
}


@pytest.mark.parametrize("name", sorted(PREPROCESSING_CASES))
def test_preprocessing_that_disagrees_with_the_network_is_refused_at_load(tmp_path, tiny_models, name):
    task, change, words = PREPROCESSING_CASES[name]
    path = _rewrite(tiny_models[task], tmp_path / f"{name}.keras", config=change)
    kind, message = outcome(lambda: load_model(path, task=task), source=path, errors=(ModelFileError,))
    assert kind == "error" and words in message, message
    api = Reader.load if task == "ocr" else Transcriber.load
    kind, message = outcome(lambda: api(path), source=path, errors=(ModelFileError,))
    assert kind == "error" and words in message, message


def test_preprocessing_errors_are_one_line_on_the_clis(tmp_path, tiny_models, capfd):
    image = tmp_path / "x.png"
    image.write_bytes(b"irrelevant")
    tall = _rewrite(tiny_models["ocr"], tmp_path / "tall.keras", config=_preprocessor_setting(height=48))
    assert ocr_main(["read", "--model", str(tall), str(image)]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and str(tall) in err and "network takes 32" in err, err
    flat = _rewrite(tiny_models["speech"], tmp_path / "hop0.keras", config=_preprocessor_setting(hop_seconds=0))
    assert speech_main(["transcribe", "--model", str(flat), str(image)]) == 2
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and str(flat) in err and "hop_seconds" in err, err


def test_shipped_models_in_format_1_are_upgraded_on_load(tmp_path):
    """Files in format 1's layout (flat ``preprocessing`` settings, as the models shipped before format 2: here
    copies of today's shipped files rewritten that way) load into the preprocessors, and a file saved again is in
    the current format with the same settings."""
    from common.model_file import save_model
    from ocr.preprocessor import LinePreprocessor
    from ocr.reader import DEFAULT_MODEL as OCR_DEFAULT
    from speech.preprocessor import AudioPreprocessor
    from speech.transcriber import DEFAULT_MODEL as SPEECH_DEFAULT

    old_ocr, old_speech = tmp_path / "ocr_format_1.keras", tmp_path / "speech_format_1.keras"
    _rewrite(OCR_DEFAULT, old_ocr, config=_format_1({"height": 32}))
    _rewrite(SPEECH_DEFAULT, old_speech,
             config=_format_1({"sample_rate": 16000, "num_mels": 80, "hop_seconds": 0.01}))
    assert read_metadata(old_ocr, task="ocr")["preprocessing"] == {"height": 32}
    ocr = load_model(old_ocr, task="ocr")
    assert ocr.preprocessor == LinePreprocessor(height=32)
    speech = load_model(old_speech, task="speech")
    assert speech.preprocessor == AudioPreprocessor(sample_rate=16000, num_mels=80, hop_seconds=0.01)
    again = read_metadata(save_model(ocr, tmp_path / "again.keras"), task="ocr")
    assert again["format_version"] == FORMAT_VERSION == 2 and "preprocessing" not in again
    assert again["preprocessor"]["config"] == LinePreprocessor(height=32).get_config()
    assert load_model(tmp_path / "again.keras", task="ocr").preprocessor == ocr.preprocessor