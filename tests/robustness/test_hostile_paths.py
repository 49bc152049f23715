"""Hostile use, round two (issue #17): paths and names that are not plain files.

A FIFO must never be opened (``open`` blocks until a writer comes: ``speech transcribe`` hung on one), a device
such as ``/dev/urandom`` is not "empty (0 bytes)", a symbolic-link loop or a name too long for the file system is
not "No such file", and no message quotes a piece of a file (a manifest naming ``../../etc/passwd`` printed its
first 16 bytes).
"""

import os

import numpy as np
import pytest
import soundfile as sf

from common.errors import InputError
from common.input_files import check_input_file, describe_content
from ocr.images import load_image
from robustness_support import outcome
from speech.audio import load_audio

SECRET = b"root:x:0:0:secret-token:/root:/bin/bash\n" * 4


def _loaders():
    return {"image": lambda path: load_image(path), "audio": lambda path: load_audio(path)}


@pytest.fixture
def fifo(tmp_path):
    path = tmp_path / "pipe.wav"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize("kind", ["image", "audio"])
@pytest.mark.time_limit(10)
def test_a_fifo_is_refused_without_opening_it(fifo, kind):
    kind_, message = outcome(lambda: _loaders()[kind](fifo), source=fifo, errors=(InputError,))
    assert kind_ == "error" and "FIFO" in message and "empty" not in message


@pytest.mark.time_limit(20)
def test_speech_transcribe_on_a_fifo_ends_with_one_line(fifo, tiny_models, capsys):
    from speech.cli import main

    assert main(["transcribe", str(fifo), "--model", str(tiny_models["speech"])]) == 1
    err = capsys.readouterr().err
    assert f"{fifo}: This is a FIFO (named pipe), not a regular file" in err


@pytest.mark.parametrize("kind", ["image", "audio"])
def test_a_character_device_is_not_called_empty(kind):
    kind_, message = outcome(lambda: _loaders()[kind]("/dev/urandom"), source="/dev/urandom", errors=(InputError,))
    assert kind_ == "error" and "character device" in message and "0 bytes" not in message


@pytest.mark.parametrize("kind", ["image", "audio"])
def test_a_symlink_loop_is_not_called_missing(tmp_path, kind):
    loop = tmp_path / "loop.png"
    os.symlink(loop, loop)
    kind_, message = outcome(lambda: _loaders()[kind](loop), source=loop, errors=(InputError,))
    assert kind_ == "error" and "loop of symbolic links" in message and "No such file" not in message


@pytest.mark.parametrize("kind", ["image", "audio"])
def test_a_too_long_name_is_not_called_missing(tmp_path, kind):
    path = tmp_path / ("x" * 300 + ".png")
    kind_, message = outcome(lambda: _loaders()[kind](path), errors=(InputError,))
    assert kind_ == "error" and "too long for the file system" in message and "No such file" not in message


def test_a_dangling_symlink_says_so(tmp_path):
    link = tmp_path / "gone.png"
    os.symlink(tmp_path / "deleted.png", link)
    with pytest.raises(InputError, match="symbolic link to a file that does not exist"):
        check_input_file(link, expected="an image file")


@pytest.mark.parametrize("kind", ["image", "audio"])
def test_no_message_quotes_the_content_of_a_file(tmp_path, kind):
    secret = tmp_path / "passwd.png"
    secret.write_bytes(SECRET)
    kind_, message = outcome(lambda: _loaders()[kind](secret), source=secret, errors=(InputError,))
    assert kind_ == "error" and "plain text" in message
    assert "root" not in message.replace(str(tmp_path), "") and "secret" not in message


def test_the_training_skip_warning_for_a_manifest_path_outside_prints_nothing_of_it(tmp_path, capsys):
    from common.training import prepare_items
    from ocr.task import OcrTask

    outside = tmp_path / "etc" / "passwd"
    outside.parent.mkdir()
    outside.write_bytes(SECRET)
    good = tmp_path / "data" / "a.png"
    good.parent.mkdir()
    from PIL import Image

    Image.fromarray(np.full((32, 64), 255, np.uint8)).save(good)
    items, _, _ = prepare_items(OcrTask(), [(good, "a"), (tmp_path / "data" / ".." / "etc" / "passwd", "b")],
                                label="training", verbose=0)
    assert len(items) == 1
    err = capsys.readouterr().err
    assert "skipped 1 unreadable training file" in err and "passwd" in err
    assert "secret" not in err and "root:x" not in err


def test_describe_content_never_returns_the_bytes():
    assert describe_content(b"<html><body>") == "text (HTML or XML)"
    assert describe_content(b"hello world\n") == "plain text"
    assert describe_content(bytes(range(200, 232))) == "binary data of an unknown format"
    assert describe_content(b"") == "no data"


def test_a_wav_behind_a_symlink_still_loads(tmp_path):
    target = tmp_path / "real.wav"
    sf.write(target, np.zeros(1600, np.float32), 16000)
    link = tmp_path / "link.wav"
    os.symlink(target, link)
    assert load_audio(link).shape == (1600,)
