"""The limits: ``--max-pixels`` (see test_robust_images), ``--max-seconds``, ``--max-chunk-seconds`` and
``--max-batch-mb``: each has a clear message, a flag to change it, and does what it says."""

import numpy as np
import pytest
import soundfile as sf

from common.errors import ConfigError, InputError
from common.inference import SequencePredictor
from common.model_file import load_model
from ocr.cli import main as ocr_main
from ocr.reader import Reader
from speech.audio import SAMPLE_RATE
from speech.cli import main as speech_main
from speech.transcriber import Transcriber


def _spy(predictor):
    """Record the shape of every batch the predictor runs."""
    shapes, forward = [], predictor._forward

    def recording(features, lengths):
        shapes.append(tuple(features.shape))
        return forward(features, lengths)

    predictor._forward = recording
    return shapes


def _speech(seconds, *, gaps=()):
    """A tone of ``seconds`` with silent ``(start, end)`` gaps (s)."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    y = (0.3 * np.sin(2 * np.pi * 300 * t) * (1 + 0.5 * np.sin(2 * np.pi * 3 * t))).astype(np.float32)
    for start, end in gaps:
        y[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)] = 0
    return y


def _line(width):
    gray = np.full((32, width), 240, np.uint8)
    gray[8:24, 4:width - 4:5] = 10
    return gray


# --- max batch memory --------------------------------------------------------------------------------------------


def test_batches_are_split_to_honour_max_batch_mb(tiny_models):
    model = load_model(tiny_models["ocr"], task="ocr")
    rng = np.random.default_rng(0)
    sequences = [rng.random((int(n), 32), dtype=np.float32) for n in rng.integers(5, 400, 40)]
    reference = SequencePredictor(model, batch_size=64, max_batch_mb=64).logits(sequences)
    limited = SequencePredictor(model, batch_size=64, max_batch_mb=0.1)  # 819 frames of 32 features
    shapes = _spy(limited)
    logits = limited.logits(sequences)
    assert len(shapes) > 1
    assert all(n * t * f * 4 <= 0.1 * 2**20 for n, t, f in shapes), shapes
    assert sum(n for n, _, _ in shapes) == len(sequences)
    for a, b in zip(reference, logits):
        # Padding changes the convolutions' last frames, and the backward LSTM carries a fading trace of that.
        assert a.shape == b.shape
        np.testing.assert_allclose(a[:-2], b[:-2], atol=5e-2)


def test_one_item_over_max_batch_mb_is_refused(tiny_models):
    predictor = SequencePredictor(load_model(tiny_models["ocr"], task="ocr"), max_batch_mb=0.01)  # 81 frames
    predictor.check_fits(80)
    with pytest.raises(InputError, match=r"one sequence of 100 frames needs 0.01 MiB.*--max-batch-mb"):
        predictor.check_fits(100)
    with pytest.raises(InputError, match="sequence #1"):
        predictor.logits([np.zeros((8, 32), np.float32), np.zeros((500, 32), np.float32)])


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), "10", True])
def test_max_batch_mb_must_be_a_positive_number(tiny_models, bad):
    model = load_model(tiny_models["ocr"], task="ocr")
    with pytest.raises(ConfigError, match=r"max_batch_mb.*--max-batch-mb"):
        SequencePredictor(model, max_batch_mb=bad)


def test_reader_reports_the_line_over_the_limit_and_reads_the_rest(tiny_models):
    reader = Reader.load(tiny_models["ocr"], max_batch_mb=0.1)  # 819 frames of 32 rows; lines scale up 1.6x
    results = reader.read([_line(200), _line(2000), _line(300)])
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error.startswith("array #1: ") and "--max-batch-mb" in results[1].error
    assert "shorter lines" in results[1].error


def test_ocr_read_cli_max_batch_mb(tiny_models, tmp_path, capfd):
    from PIL import Image

    wide, short = tmp_path / "wide.png", tmp_path / "short.png"
    Image.fromarray(_line(3000)).save(wide)
    Image.fromarray(_line(200)).save(short)
    model = str(tiny_models["ocr"])
    assert ocr_main(["read", "--model", model, "--max-batch-mb", "0.05", str(wide), str(short)]) == 1
    out, err = capfd.readouterr()
    assert len(out.splitlines()) == 1 and f"error: {wide}: one sequence of" in err and "1 of 2 images failed" in err
    assert ocr_main(["read", "--model", model, "--max-batch-mb", "2", str(wide), str(short)]) == 0
    capfd.readouterr()
    assert ocr_main(["read", "--model", model, "--max-batch-mb", "0", str(short)]) == 2
    assert "error: Received an invalid value for `max_batch_mb` (--max-batch-mb)" in capfd.readouterr().err


# --- audio duration: --max-seconds and --max-chunk-seconds -------------------------------------------------------


def test_chunks_never_exceed_max_chunk_seconds(tiny_models):
    transcriber = Transcriber.load(tiny_models["speech"], max_chunk_seconds=2.0)
    shapes = _spy(transcriber.predictor)
    audio = _speech(9.0, gaps=[(3.0, 3.5), (6.0, 6.2)])
    [result] = transcriber.transcribe(audio, sample_rate=SAMPLE_RATE)
    assert result.ok and abs(result.duration - 9.0) < 1e-6
    frames_per_chunk = int(2.0 / transcriber.hop_seconds) + 1
    assert sum(n for n, _, _ in shapes) >= 5  # 9 s in chunks of at most 2 s
    assert all(t <= SequencePredictor.padded_length(frames_per_chunk) for _, t, _ in shapes), shapes


def test_a_chunk_over_max_batch_mb_names_both_flags(tiny_models):
    transcriber = Transcriber.load(tiny_models["speech"], max_chunk_seconds=30.0, max_batch_mb=0.5)  # 1638 frames
    results = transcriber.transcribe([_speech(25.0), _speech(2.0)], sample_rate=SAMPLE_RATE)
    assert not results[0].ok and "--max-batch-mb" in results[0].error and "--max-chunk-seconds" in results[0].error
    assert results[1].ok


@pytest.mark.parametrize("settings, words", [
    ({"max_chunk_seconds": 0.1}, "--max-chunk-seconds"),
    ({"max_chunk_seconds": float("nan")}, "--max-chunk-seconds"),
    ({"max_seconds": 0}, "--max-seconds"),
    ({"max_seconds": float("inf")}, "--max-seconds"),
    ({"max_batch_mb": -2}, "--max-batch-mb"),
    ({"batch_size": 0}, "batch_size"),
])
def test_transcriber_settings_are_checked_up_front(tiny_models, settings, words):
    with pytest.raises(ConfigError, match=words):
        Transcriber.load(tiny_models["speech"], **settings)


def test_speech_transcribe_cli_limits(tiny_models, tmp_path, capfd):
    long, short = tmp_path / "long.wav", tmp_path / "short.wav"
    sf.write(long, _speech(3.0), SAMPLE_RATE)
    sf.write(short, _speech(0.5), SAMPLE_RATE)
    model = str(tiny_models["speech"])
    assert speech_main(["transcribe", "--model", model, "--max-seconds", "1", str(long), str(short)]) == 1
    out, err = capfd.readouterr()
    assert f"error: {long}: audio is 3.0 s long, longer than the limit" in err and "--max-seconds" in err
    assert len(out.splitlines()) == 1
    assert speech_main(["transcribe", "--model", model, "--max-chunk-seconds", "0.2", str(short)]) == 2
    assert "--max-chunk-seconds" in capfd.readouterr().err
    assert speech_main(["transcribe", "--model", model, "--max-chunk-seconds", "1", "--max-batch-mb", "0.2",
                        str(long), str(short)]) == 0
