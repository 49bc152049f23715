"""Hostile use, round two (issue #17): questionable training data.

An empty or whitespace-only transcript in the validation set crashed the first epoch (TensorFlow's "Labels length
is zero"); in the training set it was dropped without a count, as were speech transcripts that normalize to nothing.
Control characters (a CR from a CRLF file, a TAB) became classes of the model. Two images beside one ``.gt.txt``
and one image listed twice in a manifest with different texts were accepted with one picked at random.
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from common.alphabet import Alphabet
from common.errors import AlphabetError, DataError
from common.training import TrainConfig, train
from ocr.data import load_line_dataset

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from toy_task import ToyTask  # noqa: E402


class LineToyTask(ToyTask):
    """The toy task over one transcript per line, blank lines included (ToyTask splits on whitespace)."""

    def load_examples(self, path):
        with open(path, encoding="utf-8", newline="") as handle:  # a lone CR stays a CR
            return [(line, line) for line in handle.read().split("\n")[:-1]]


def _toy_config(tmp_path, train_lines, val_lines, **overrides):
    (tmp_path / "train.txt").write_text("\n".join(train_lines) + "\n", encoding="utf-8")
    (tmp_path / "val.txt").write_text("\n".join(val_lines) + "\n", encoding="utf-8")
    values = dict(data=str(tmp_path / "train.txt"), val=str(tmp_path / "val.txt"), out=str(tmp_path / "m.keras"),
                  epochs=1, batch_size=4, augment=False, verbose=0, precision="float32", model={"units": 4})
    values.update(overrides)
    return TrainConfig(**values)


TRAIN = ["abc", "dcb", "bad", "cab", "dab", "acd", "bda", "cca"]


@pytest.mark.time_limit(90)
def test_empty_validation_transcripts_are_skipped_with_a_count(tmp_path, capsys):
    config = _toy_config(tmp_path, TRAIN + ["", "   "], ["abc", "", "  ", "dab"])
    history = train(LineToyTask(), config)
    assert history is not None and Path(config.out).is_file()
    err = capsys.readouterr().err
    assert "skipped 2 validation example(s) whose transcript is empty" in err
    assert "skipped 2 training example(s) whose transcript is empty" in err
    settings = json.loads((tmp_path / "m_run" / "settings.json").read_text())
    assert (settings["num_train"], settings["num_val"]) == (8, 2)


def test_a_validation_set_of_empty_transcripts_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"Every validation transcript is empty .*Received: 2 empty"):
        train(LineToyTask(), _toy_config(tmp_path, TRAIN, ["", " "]))


@pytest.mark.parametrize("bad", ["ab\tc", "ab\rc", "a\x00b"])
def test_control_characters_are_refused_not_made_classes(tmp_path, bad):
    with pytest.raises(DataError, match=r"1 transcript\(s\) hold control characters.*U\+00"):
        train(LineToyTask(), _toy_config(tmp_path, TRAIN + [bad], ["abc"]))


@pytest.mark.parametrize("characters", ["ab\tc", "ab\r", "\x00"])
def test_an_alphabet_refuses_control_characters(characters):
    with pytest.raises(AlphabetError, match="control characters"):
        Alphabet(characters)
    with pytest.raises(AlphabetError, match="control characters"):
        Alphabet.from_texts([characters + "x"])


def _image(path):
    gray = np.full((32, 64), 250, np.uint8)
    gray[8:24, 10:54:4] = 10
    Image.fromarray(gray).save(path)
    return path


def test_a_crlf_transcript_with_two_lines_is_refused_in_ocr_training(tmp_path):
    from ocr.task import OcrTask

    data = tmp_path / "lines"
    data.mkdir()
    for name, text in (("a", b"one line\r\n"), ("b", b"first\r\nsecond\r\n"), ("c", b"tab\there\n")):
        _image(data / f"{name}.png")
        (data / f"{name}.gt.txt").write_bytes(text)
    assert load_line_dataset(data)[0].text == "one line"  # a CRLF line end is only a line end
    config = TrainConfig(data=str(data), val=str(data), out=str(tmp_path / "m.keras"), epochs=1, verbose=0)
    with pytest.raises(DataError, match=r"2 transcript\(s\) hold control characters.*b\.png.*U\+000A.*c\.png.*U\+0009"):
        train(OcrTask(), config)


def test_two_images_beside_one_transcript_are_ambiguous(tmp_path):
    _image(tmp_path / "a.png")
    _image(tmp_path / "a.jpg")
    (tmp_path / "a.gt.txt").write_text("abc")
    _image(tmp_path / "b.png")
    (tmp_path / "b.gt.txt").write_text("def")
    with pytest.raises(DataError, match=r"1 transcript\(s\) have more than one image .*a\.gt\.txt: a\.jpg and a\.png"):
        load_line_dataset(tmp_path)


def test_ocropus_variants_beside_one_transcript_are_not_ambiguous(tmp_path):
    _image(tmp_path / "a.bin.png")
    _image(tmp_path / "a.nrm.png")
    (tmp_path / "a.gt.txt").write_text("abc")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [e.image.name for e in load_line_dataset(tmp_path)] == ["a.bin.png"]


def test_an_image_listed_twice_with_different_texts_is_refused(tmp_path):
    _image(tmp_path / "a.png")
    _image(tmp_path / "b.png")
    (tmp_path / "m.tsv").write_text("a.png\tabc\nb.png\tdef\n./a.png\txyz\n")
    with pytest.raises(DataError, match=r"m\.tsv: 1 malformed row\(s\): the same image as line 1 with a different "
                                        r"text \(one image has one transcript\) \(line 3\)"):
        load_line_dataset(tmp_path / "m.tsv")


def test_an_image_listed_twice_with_the_same_text_is_used_once_with_a_warning(tmp_path):
    _image(tmp_path / "a.png")
    _image(tmp_path / "b.png")
    (tmp_path / "m.jsonl").write_text('{"image": "a.png", "text": "abc"}\n{"image": "b.png", "text": "d"}\n'
                                      '{"image": "a.png", "text": "abc"}\n')
    with pytest.warns(UserWarning, match=r"1 row\(s\) repeat an earlier row \(line 3 = line 1\); each image is "
                                         r"used once"):
        examples = load_line_dataset(tmp_path / "m.jsonl")
    assert [e.image.name for e in examples] == ["a.png", "b.png"]


def test_a_speech_manifest_listing_one_file_with_two_texts_is_refused(tmp_path):
    from speech.data import load_speech_dataset

    for name in ("a.wav", "b.wav"):
        sf.write(tmp_path / name, np.zeros(1600, np.float32), 16000)
    (tmp_path / "m.jsonl").write_text('{"audio": "a.wav", "text": "yes"}\n{"audio": "b.wav", "text": "no"}\n'
                                      '{"audio": "a.wav", "text": "maybe"}\n')
    with pytest.raises(DataError, match=r"the same audio as line 1 with a different text .*\(line 3\)"):
        load_speech_dataset(tmp_path / "m.jsonl")


def test_speech_transcripts_that_normalize_to_nothing_are_counted(tmp_path, tiny_models, capsys):
    from speech.task import SpeechTask

    rows = []
    for i, text in enumerate(["hello there", "日本語", "!!! ???", "good morning", "see you", "bye now"]):
        sf.write(tmp_path / f"u{i}.wav", np.zeros(8000, np.float32), 16000)
        rows.append(json.dumps({"audio": f"u{i}.wav", "text": text}))
    (tmp_path / "train.jsonl").write_text("\n".join(rows) + "\n")
    (tmp_path / "val.jsonl").write_text("\n".join(rows[1:3]) + "\n")
    config = TrainConfig(data=str(tmp_path / "train.jsonl"), val=str(tmp_path / "val.jsonl"),
                         out=str(tmp_path / "s.keras"), from_model=str(tiny_models["speech"]), epochs=1, verbose=0)
    # The validation set holds only such transcripts: refused before any training, after the training set's count.
    with pytest.raises(DataError, match=r"Every validation transcript is empty after normalization .*u1\.wav"):
        train(SpeechTask(), config)
    err = capsys.readouterr().err
    assert "skipped 2 training example(s) whose transcript is empty after normalization" in err
    assert "u1.wav" in err and "u2.wav" in err
