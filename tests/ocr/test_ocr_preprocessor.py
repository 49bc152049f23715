"""LinePreprocessor: the one way an image becomes an OCR model's features, validated, serialized in the model."""

import keras
import numpy as np
import pytest

from common.alphabet import Alphabet
from common.errors import ConfigError
from common.model_file import load_model, save_model
from ocr.defaults import HEIGHT
from ocr.images import load_image, preprocess_line
from ocr.preprocessor import LinePreprocessor
from ocr.task import OcrTask, build_ocr_model

SAMPLE = "ocr/samples/line.png"


def _line(dark_on_light=True):
    line = np.full((40, 200), 255 if dark_on_light else 0, np.uint8)
    line[10:30, 20:180] = 0 if dark_on_light else 255
    line[18:22, 60:140] = 255 if dark_on_light else 0
    return line


def test_shape_and_the_same_strip_as_preprocess_line():
    preprocessor = LinePreprocessor(height=24)
    strip = preprocessor(SAMPLE)
    assert strip.dtype == np.float32 and strip.shape[1] == 24 == preprocessor.num_features
    np.testing.assert_array_equal(strip, preprocess_line(load_image(SAMPLE), height=24))


def test_config_round_trip_and_keras_serialization():
    preprocessor = LinePreprocessor(height=40, min_width=12, polarity="dark_on_light", min_contrast=30)
    assert LinePreprocessor.from_config(preprocessor.get_config()) == preprocessor
    stored = keras.saving.serialize_keras_object(preprocessor)
    assert stored["registered_name"] == "ctc_toolkit>LinePreprocessor"
    assert keras.saving.deserialize_keras_object(stored) == preprocessor
    assert LinePreprocessor(height=40) != preprocessor


@pytest.mark.parametrize("settings, words", [
    ({"height": "tall"}, "`height`"), ({"height": 0}, "`height`"), ({"height": 4}, "`height`"),
    ({"height": True}, "`height`"), ({"min_width": 0}, "`min_width`"), ({"polarity": "up"}, "`polarity`"),
    ({"min_contrast": 0}, "`min_contrast`"), ({"min_contrast": 300}, "`min_contrast`"),
])
def test_invalid_settings_are_config_errors(settings, words):
    with pytest.raises(ConfigError, match=f"invalid value for {words}.*Received"):
        LinePreprocessor(**settings)


def test_polarity_policy():
    auto = LinePreprocessor(polarity="auto")
    # auto: both polarities give the same strip (ink = 1)
    np.testing.assert_allclose(auto(_line(True)), auto(_line(False)), atol=1e-6)
    np.testing.assert_array_equal(LinePreprocessor(polarity="dark_on_light")(_line(True)), auto(_line(True)))
    np.testing.assert_array_equal(LinePreprocessor(polarity="light_on_dark")(_line(False)), auto(_line(False)))
    # forcing the wrong polarity on dark text takes the paper for ink: another strip
    wrong = LinePreprocessor(polarity="light_on_dark")(_line(True))
    assert wrong.shape != auto(_line(True)).shape or not np.allclose(wrong, auto(_line(True)))


def test_the_model_saves_and_loads_its_preprocessor(tmp_path):
    preprocessor = LinePreprocessor(height=16, polarity="dark_on_light")
    model = build_ocr_model(Alphabet("ab"), preprocessor=preprocessor, num_layers=1, units=4, filters=(2, 2, 2),
                            projection_units=4)
    assert model.preprocessor == preprocessor and model.num_features == 16
    assert model.alphabet.characters == ("a", "b") or "".join(model.alphabet.characters) == "ab"
    again = load_model(save_model(model, tmp_path / "m.keras"), task="ocr")
    assert again.preprocessor == preprocessor


def test_a_preprocessor_that_disagrees_with_the_front_end_is_refused():
    with pytest.raises(ConfigError, match="not two heights"):
        build_ocr_model(Alphabet("ab"), height=32, preprocessor=LinePreprocessor(height=16))
    with pytest.raises(ConfigError, match="either `height` or a `preprocessor`"):
        OcrTask(height=32, preprocessor=LinePreprocessor())


def test_the_task_prepares_items_with_its_preprocessor():
    task = OcrTask(height=20)
    item = task.prepare(SAMPLE)
    assert item.dtype == np.uint8 and item.shape[1] == 20
    np.testing.assert_allclose(task.featurize(item, None), task.preprocessor(SAMPLE), atol=1 / 255)
    assert task.normalize_text("  caf\u0065\u0301 \n") == "caf\u00e9"
    assert OcrTask().height == HEIGHT and not OcrTask().explicit_preprocessor


def test_fine_tuning_takes_the_base_models_preprocessor():
    model = build_ocr_model(Alphabet("ab"), height=16, num_layers=1, units=4, filters=(2, 2, 2), projection_units=4)
    task = OcrTask()
    task.use_preprocessor(model.preprocessor, "base.keras")
    assert task.height == 16
    with pytest.raises(ConfigError, match=r"base\.keras: the model prepares its input with .*height=16.*--height"):
        OcrTask(height=48).use_preprocessor(model.preprocessor, "base.keras")


def test_fine_tuning_with_another_height_is_refused_before_preparing_data(tmp_path, capsys):
    from PIL import Image

    from ocr.cli import main
    from ocr.reader import DEFAULT_MODEL

    for name in ("a", "b", "c"):
        Image.fromarray(_line()).save(tmp_path / f"{name}.png")
        (tmp_path / f"{name}.gt.txt").write_text("hi")
    status = main(["train", "--data", str(tmp_path), "--from", "default", "--height", "48",
                   "--out", str(tmp_path / "out.keras"), "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err
    [error] = [line for line in err.splitlines() if line.startswith("error:")]
    assert status == 2 and "Traceback" not in err, err
    assert str(DEFAULT_MODEL) in error and "height=32" in error and "--height" in error and "preparing" not in err
