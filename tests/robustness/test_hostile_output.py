"""Hostile use, round two (issue #17): output streams that fail.

``ocr read IMG > /dev/full`` ended in a traceback at exit; a reader that goes away (``| head``) too. Now: one line,
exit status 2 (a full device) or a quiet 141 (a closed pipe), as other command-line tools do.
"""

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


class _Failing(io.TextIOBase):
    def __init__(self, error):
        self.error = error

    def write(self, text):
        raise self.error

    def flush(self):
        raise self.error

    def fileno(self):
        raise io.UnsupportedOperation("no file descriptor")


@pytest.fixture
def line_image(tmp_path):
    gray = np.full((32, 80), 250, np.uint8)
    gray[8:24, 10:70:5] = 0
    path = tmp_path / "line.png"
    Image.fromarray(gray).save(path)
    return path


@pytest.mark.parametrize("command", ["ocr", "speech"])
def test_a_full_standard_output_is_one_line(tiny_models, line_image, monkeypatch, capsys, command):
    import errno

    from ocr.cli import main as ocr_main
    from speech.cli import main as speech_main

    monkeypatch.setattr(sys, "stdout", _Failing(OSError(errno.ENOSPC, "No space left on device")))
    if command == "ocr":
        status = ocr_main(["read", str(line_image), "--model", str(tiny_models["ocr"])])
    else:
        import soundfile as sf

        sf.write(line_image.with_suffix(".wav"), np.zeros(8000, np.float32), 16000)
        status = speech_main(["transcribe", str(line_image.with_suffix(".wav")), "--model",
                              str(tiny_models["speech"]), "--format", "srt"])
    assert status == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: cannot write the results to standard output: No space left on device. Received: errno=28"]


def test_a_closed_pipe_stops_quietly(tiny_models, line_image, monkeypatch, capsys):
    from ocr.cli import main

    monkeypatch.setattr(sys, "stdout", _Failing(BrokenPipeError(32, "Broken pipe")))
    assert main(["read", str(line_image), "--model", str(tiny_models["ocr"])]) == 141
    assert capsys.readouterr().err == ""


@pytest.mark.slow
@pytest.mark.time_limit(120)
@pytest.mark.skipif(not Path("/dev/full").exists(), reason="no /dev/full")
def test_ocr_read_into_dev_full_exits_2_without_a_traceback(tiny_models, line_image):
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "ocr", "read", str(line_image), "--model",
                               str(tiny_models["ocr"])], cwd=ROOT, stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=110)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "Exception ignored" not in done.stderr
    assert "error: cannot write the results to standard output: No space left on device" in done.stderr
