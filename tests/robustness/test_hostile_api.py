"""Hostile use, round two (issue #17): API misuse.

``read(None)``, ``Reader.load(5)``: a clear error, not a bare TypeError. A ``PIL.Image`` is read (the commonest
in-memory image type); ``bytes`` are one input, decoded as a file's content (not one error per byte); a flat list of
numbers is refused (not 16,000 results). Every size-like setting is bounded in one place (``common.limits``):
``beam_width`` 10**6 grew a process to 23.5 GB, 0, -1 and 2.7 were accepted, ``chunk_size=0`` raised from
``range()``.
"""

import io

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from common.errors import ConfigError
from common.limits import MAX_BEAM_WIDTH, check_beam_width
from ocr.reader import Reader
from robustness_support import outcome
from speech.transcriber import Transcriber


def _line_image():
    gray = np.full((32, 120), 245, np.uint8)
    gray[8:24, 6:114:6] = 20
    return gray


def _png_bytes(gray):
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG")
    return buffer.getvalue()


def _wav_bytes(seconds=0.5):
    buffer = io.BytesIO()
    t = np.arange(int(16000 * seconds)) / 16000
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16000, format="WAV")
    return buffer.getvalue()


@pytest.mark.parametrize("inputs", [None, 5, 2.5, {"a": 1}, object()])
def test_read_refuses_what_is_not_an_input(reader, inputs):
    kind, message = outcome(lambda: reader.read(inputs))
    assert kind == "error" and "expected a path" in message


def test_a_flat_list_of_numbers_is_refused_not_multiplied(reader, transcriber):
    samples = list(np.zeros(16000, np.float32).tolist())
    for call in (lambda: transcriber.transcribe(samples, sample_rate=16000), lambda: reader.read([0.5] * 300)):
        kind, message = outcome(call)
        assert kind == "error" and "flat list of" in message and "np.asarray" in message


def test_a_pil_image_is_read_like_its_array(reader):
    gray = _line_image()
    by_pil, by_array = reader.read([Image.fromarray(gray), gray])
    assert by_pil.ok and by_pil.source == "image #0"
    assert by_pil.text == by_array.text and by_pil.lines[0].box == by_array.lines[0].box
    rgb = reader.read(Image.fromarray(np.stack([gray] * 3, -1)))
    assert len(rgb) == 1 and rgb[0].text == by_array.text


def test_bytes_are_one_input_decoded_as_a_file(reader, tmp_path):
    gray = _line_image()
    data = _png_bytes(gray)
    (tmp_path / "line.png").write_bytes(data)
    results = reader.read(data)
    assert len(results) == 1 and results[0].ok and results[0].source == "bytes #0"
    assert results[0].text == reader.read(tmp_path / "line.png")[0].text
    bad = reader.read([b"not an image at all", bytearray(data)])
    assert len(bad) == 2 and not bad[0].ok and bad[1].ok
    assert bad[0].error.startswith("bytes #0: ") and "ctc-toolkit-input" not in bad[0].error


def test_transcribe_reads_bytes_as_a_file(transcriber):
    results = transcriber.transcribe([_wav_bytes(), b"RIFF....garbage"])
    assert len(results) == 2 and results[0].ok and abs(results[0].duration - 0.5) < 1e-6
    assert not results[1].ok and results[1].error.startswith("bytes #1: ")


@pytest.mark.parametrize("path", [5, 2.5, ["a.keras"], b"\x00"])
def test_load_refuses_a_model_that_is_not_a_path(path):
    for cls in (Reader, Transcriber):
        kind, message = outcome(lambda: cls.load(path))
        assert kind == "error" and "Expected the model as a path" in message


@pytest.mark.parametrize("beam", [0, -1, 2.7, True, "5", 10**6, MAX_BEAM_WIDTH + 1])
def test_beam_width_is_bounded_in_the_api(reader, transcriber, beam):
    gray = _line_image()
    for call in (lambda: reader.read(gray, beam_width=beam),
                 lambda: transcriber.transcribe(np.zeros(8000, np.float32), sample_rate=16000, beam_width=beam),
                 lambda: reader.predictor.decode([np.zeros((4, 16), np.float32)], beam_width=beam)):
        kind, message = outcome(call)
        assert kind == "error" and "beam_width" in message and f"1 to {MAX_BEAM_WIDTH:,}" in message


def test_the_widest_beam_allowed_still_decodes(reader):
    assert check_beam_width(MAX_BEAM_WIDTH) == MAX_BEAM_WIDTH
    assert reader.read(_line_image(), beam_width=np.int64(3))[0].ok


@pytest.mark.parametrize("size", [0, -3, 1.5, None])
def test_group_sizes_are_checked(reader, transcriber, size):
    kind, message = outcome(lambda: reader.read([_line_image()], chunk_size=size))
    assert kind == "error" and "chunk_size" in message
    kind, message = outcome(lambda: transcriber.transcribe(np.zeros(8000, np.float32), sample_rate=16000,
                                                           files_per_group=size))
    assert kind == "error" and "files_per_group" in message


@pytest.mark.parametrize("argv", [["--beam", "1000000"], ["--beam", "0"], ["--beam", "2.7"],
                                  ["--batch-size", "100000000"]])
def test_size_flags_are_bounded_on_the_command_line(tiny_models, tmp_path, capsys, argv):
    from ocr.cli import main as ocr_main
    from speech.cli import main as speech_main

    image = tmp_path / "a.png"
    Image.fromarray(_line_image()).save(image)
    for main, command in ((ocr_main, ["read", str(image), "--model", str(tiny_models["ocr"])]),
                          (speech_main, ["transcribe", "x.wav", "--model", str(tiny_models["speech"])])):
        with pytest.raises(SystemExit) as exit_info:
            main(command + argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert "expected an integer" in err, err
        if argv == ["--beam", "1000000"]:
            assert "expected an integer from 1 to 1,024" in err


@pytest.mark.parametrize("argv", [["--units", "1000000"], ["--layers", "100000"], ["--height", "100000"],
                                  ["--batch-size", "0"], ["--seed", "-1"], ["--epochs", "0"],
                                  ["--warmup-steps", "-5"]])
def test_model_size_flags_are_bounded(tmp_path, capsys, argv):
    from ocr.cli import main as ocr_main

    with pytest.raises(SystemExit) as exit_info:
        ocr_main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "m.keras")] + argv)
    assert exit_info.value.code == 2
    assert "expected an integer" in capsys.readouterr().err


def test_config_error_for_counts_names_the_setting():
    with pytest.raises(ConfigError, match=r"`beam_width` \(--beam\), expected an integer from 1 to 1,024\. "
                                          r"Received: beam_width=0"):
        check_beam_width(0)


@pytest.mark.parametrize("argv", [["-n", "100000000"], ["-n", "0"], ["-n", "5", "--seed", "-2"]])
def test_synth_sizes_are_bounded(tmp_path, capsys, argv):
    from ocr.cli import main as ocr_main
    from speech.cli import main as speech_main

    for main in (ocr_main, speech_main):
        with pytest.raises(SystemExit) as exit_info:
            main(["synth", "--out", str(tmp_path / "out")] + argv)
        assert exit_info.value.code == 2
        assert "expected an integer" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
