"""The shipped models read the shipped samples within a stated error rate, and the Python API and the command line
give the same text for the same page."""

from pathlib import Path

import pytest

from common.metrics import error_rates
from ocr.cli import main as ocr_main
from speech.cli import main as speech_main

ROOT = Path(__file__).resolve().parent.parent
OCR_SAMPLES = ROOT / "ocr" / "samples"
SPEECH_SAMPLES = ROOT / "speech" / "samples"

# Stated ceilings (measured 2026-11-30 with the shipped models: line.png 0.0%, paragraph.png 0.68% (one character
# of 147), hello.wav 15.8% against the normalized transcript).
OCR_MAX_CER = {"line.png": 0.01, "paragraph.png": 0.02}
SPEECH_MAX_CER = {"hello.wav": 0.20}


@pytest.fixture(scope="module")
def reader():
    from ocr import Reader

    return Reader.load()


@pytest.mark.parametrize("name", sorted(OCR_MAX_CER))
def test_the_shipped_ocr_model_reads_the_samples(reader, name):
    reference = (OCR_SAMPLES / name).with_suffix(".gt.txt").read_text(encoding="utf-8").strip()
    [result] = reader.read(OCR_SAMPLES / name)  # the default layout (auto) splits the paragraph into its lines
    assert result.ok
    cer = error_rates([reference], [result.text])["cer"]
    assert cer <= OCR_MAX_CER[name], (cer, result.text)
    assert len(result.lines) == reference.count("\n") + 1


def test_the_shipped_speech_model_transcribes_the_sample():
    from speech import Transcriber

    transcriber = Transcriber.load()
    for name, ceiling in SPEECH_MAX_CER.items():
        reference = transcriber.preprocessor.normalize_text(
            (SPEECH_SAMPLES / name).with_suffix(".txt").read_text(encoding="utf-8"))
        [result] = transcriber.transcribe(SPEECH_SAMPLES / name)
        cer = error_rates([reference], [result.text])["cer"]
        assert result.ok and cer <= ceiling, (cer, result.text)
        assert result.words and result.words[-1].end <= result.duration + 1e-6


def test_the_python_api_and_the_cli_give_the_same_text_for_a_page(reader, capsys):
    page = OCR_SAMPLES / "paragraph.png"
    api_text = reader.read(page)[0].text
    assert ocr_main(["read", str(page)]) == 0
    cli_text = capsys.readouterr().out.rstrip("\n")
    assert cli_text == api_text and api_text.count("\n") == 4


def test_the_python_api_and_the_cli_give_the_same_transcript(capsys):
    from speech import Transcriber

    sample = SPEECH_SAMPLES / "hello.wav"
    api_text = Transcriber.load().transcribe(sample)[0].text
    assert speech_main(["transcribe", str(sample)]) == 0
    assert capsys.readouterr().out.rstrip("\n") == api_text != ""


def test_the_readers_decoding_threads_end_with_the_call(reader):
    import threading

    results = reader.read([OCR_SAMPLES / "line.png", OCR_SAMPLES / "missing.png", OCR_SAMPLES / "line.png"])
    assert [r.ok for r in results] == [True, False, True]  # a bad input does not stop the batch
    assert "missing.png" in results[1].error and results[1].text == ""
    assert not [t.name for t in threading.enumerate() if t.name.startswith("ocr-load")]


def test_condensed_lines_keep_their_double_letters(reader):
    """A line squeezed to half its width leaves the model ~1 frame per character: read once, CTC drops a letter of
    ``ll`` (no frame left for the blank between them); the second, stretched reading of dense lines keeps them."""
    import cv2
    import numpy as np

    from ocr import Reader
    from ocr.synth import render_line

    font = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not font.exists():
        pytest.skip("DejaVu Sans is not installed")
    texts = ["all illegal balls fell off the hill", "Will Bill sell all sheep?", "a small, well-filled ball",
             "The village millers will still call"]
    images = []
    for seed, text in enumerate(texts):
        line = render_line(text, font, size=28, rng=np.random.default_rng(seed), degrade=False)
        images.append(cv2.resize(line, (line.shape[1] // 2, line.shape[0]), interpolation=cv2.INTER_AREA))
    once = Reader(reader.model, dense_stretch=None).read(images, layout="line")
    twice = reader.read(images, layout="line")
    assert error_rates(texts, [r.text for r in twice])["cer"] == 0.0, [r.text for r in twice]
    assert error_rates(texts, [r.text for r in once])["cer"] > 0.0  # what the second reading is for
    assert all(b.confidence >= a.confidence for a, b in zip(once, twice))
    # The kept reading's characters still lie inside the (unstretched) image.
    assert all(0 <= c.x0 <= c.x1 <= image.shape[1] for r, image in zip(twice, images) for c in r.characters)
