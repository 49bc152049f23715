"""One place defines each default: the command lines and the Python API agree (layout, chunk length, beam, units,
batch sizes), and a new model's size is the shipped model's."""

import inspect
import json
import zipfile

import pytest

from ocr import defaults as ocr_defaults
from ocr.cli import build_parser as ocr_parser
from speech import defaults as speech_defaults
from speech.cli import build_parser as speech_parser


def _default(function, name):
    return inspect.signature(function).parameters[name].default


def _cli_default(parser, argv, name):
    return getattr(parser().parse_args(argv), name)


OCR_READ = ["read", "x.png"]
SPEECH_TRANSCRIBE = ["transcribe", "x.wav"]
TRAIN = ["--data", "d", "--out", "m.keras"]


def test_ocr_read_and_reader_agree():
    from ocr.reader import Reader

    assert _cli_default(ocr_parser, OCR_READ, "layout") == _default(Reader.read, "layout") == "auto"
    # None: greedy without an LM (the default), the LM's tuned beam with one
    assert _cli_default(ocr_parser, OCR_READ, "beam") == _default(Reader.read, "beam_width") is None
    assert _cli_default(ocr_parser, OCR_READ, "lm") == _default(Reader.__init__, "lm") == ocr_defaults.LM
    assert _cli_default(ocr_parser, OCR_READ, "batch_size") == _default(Reader.__init__, "batch_size")
    assert _cli_default(ocr_parser, ["eval", "--data", "d"], "beam") == ocr_defaults.BEAM_WIDTH


def test_speech_transcribe_and_transcriber_agree():
    from speech.chunking import split_on_silence
    from speech.transcriber import Transcriber

    chunk = _cli_default(speech_parser, SPEECH_TRANSCRIBE, "max_chunk_seconds")
    assert chunk == _default(Transcriber.__init__, "max_chunk_seconds") == _default(split_on_silence,
                                                                                      "max_chunk_seconds") == 10.0
    assert _cli_default(speech_parser, SPEECH_TRANSCRIBE, "beam") == _default(Transcriber.transcribe, "beam_width")
    assert _cli_default(speech_parser, SPEECH_TRANSCRIBE, "lm") == _default(Transcriber.__init__, "lm") == "default"
    assert _cli_default(speech_parser, SPEECH_TRANSCRIBE, "batch_size") == _default(Transcriber.__init__,
                                                                                    "batch_size")
    assert _default(split_on_silence, "sample_rate") == speech_defaults.SAMPLE_RATE


def _shipped_encoder(path):
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))["config"]["encoder"]["config"]


@pytest.mark.parametrize("task", ["ocr", "speech"])
def test_train_units_layers_and_the_builders_are_the_shipped_models(task):
    if task == "ocr":
        from ocr.reader import DEFAULT_MODEL
        from ocr.task import build_ocr_model as build
        parser, defaults = ocr_parser, ocr_defaults
    else:
        from speech.task import build_speech_model as build
        from speech.transcriber import DEFAULT_MODEL
        parser, defaults = speech_parser, speech_defaults
    shipped = _shipped_encoder(DEFAULT_MODEL)
    assert _cli_default(parser, ["train", *TRAIN], "units") == _default(build, "units") == shipped["units"]
    assert _cli_default(parser, ["train", *TRAIN], "layers") == _default(build, "num_layers") == shipped["num_layers"]
    assert _default(build, "dropout") == shipped["dropout"] == defaults.ENCODER["dropout"]


def test_max_items_zero_is_refused_not_all(capsys):
    from common.errors import ConfigError
    from common.training import TrainConfig

    with pytest.raises(SystemExit):
        ocr_parser().parse_args(["train", *TRAIN, "--max-items", "0"])
    assert "expected an integer >= 1" in capsys.readouterr().err
    with pytest.raises(ConfigError, match=r"\(--max-items\), expected an integer >= 1.*max_items=0"):
        TrainConfig(data="d", out="m.keras", max_items=0)


@pytest.mark.parametrize("task", ["ocr", "speech"])
def test_batch_reads_as_read_and_transcribe_do(task):
    """``batch`` takes the model options of ``read`` / ``transcribe`` with their defaults, and its worker decodes
    with the API's defaults."""
    if task == "ocr":
        from ocr.batch import reader_worker as worker
        from ocr.reader import Reader

        parser, single, method = ocr_parser, OCR_READ, Reader.read
        names = ("model", "beam", "lm", "hotwords", "words", "layout", "batch_size", "max_pixels", "max_batch_mb")
    else:
        from speech.batch import transcriber_worker as worker
        from speech.transcriber import Transcriber

        parser, single, method = speech_parser, SPEECH_TRANSCRIBE, Transcriber.transcribe
        names = ("model", "beam", "lm", "hotwords", "words", "max_chunk_seconds", "batch_size", "max_seconds",
                 "max_batch_mb")
    batch = ["batch", "folder", "--output-dir", "out"]
    for name in names:
        assert _cli_default(parser, batch, name) == _cli_default(parser, single, name), name
    assert _default(worker, "beam_width") == _default(method, "beam_width")
    if task == "ocr":
        assert _default(worker, "layout") == _default(method, "layout")
    assert "beam_width" in inspect.signature(worker).parameters
