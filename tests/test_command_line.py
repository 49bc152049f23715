"""What a daily user of ``ocr`` and ``speech`` meets: start-up without TensorFlow, quiet stderr, one output file per
input, standard input, versions, and a README whose flags exist."""

import json
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import common
from common.quiet import is_native_noise
import ocr.preprocessor  # noqa: F401  (registers the preprocessors that exported files name)
import speech.preprocessor  # noqa: F401
from ocr.cli import build_parser as ocr_parser
from ocr.cli import main as ocr_main
from speech.cli import build_parser as speech_parser
from speech.cli import main as speech_main

ROOT = Path(__file__).resolve().parents[1]
LINE = ROOT / "ocr" / "samples" / "line.png"
LINE_TEXT = (ROOT / "ocr" / "samples" / "line.gt.txt").read_text().strip()
HELLO = ROOT / "speech" / "samples" / "hello.wav"
OCR_KERAS = ROOT / "ocr" / "models" / "default.keras"
SPEECH_KERAS = ROOT / "speech" / "models" / "default.keras"


def _run(*args, stdin=None, timeout=300):
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, input=stdin, capture_output=True,
                          timeout=timeout)


# --- start-up --------------------------------------------------------------------------------------------------

def test_shipped_onnx_twins_belong_to_the_shipped_keras_files():
    """`make onnx` (or the recipes) regenerate the twins; a retrained .keras without them fails here."""
    from common.export import ExportedModel
    from common.model_file import file_sha256

    from ocr.defaults import TWIN_QUANTIZATION as OCR_TWIN
    from speech.defaults import TWIN_QUANTIZATION as SPEECH_TWIN

    for keras_file, task, quantization in ((OCR_KERAS, "ocr", OCR_TWIN), (SPEECH_KERAS, "speech", SPEECH_TWIN)):
        twin = ExportedModel(keras_file.with_suffix(".onnx"), task=task)
        assert twin.source_sha256 == file_sha256(keras_file), f"run 'make onnx' after changing {keras_file}"
        assert twin.quantization == quantization, f"the Makefile's {task} twin and {task}/defaults.py disagree"


def test_a_stale_twin_is_ignored_with_a_warning(tmp_path, monkeypatch):
    from common.inference import shipped_export

    keras_file = tmp_path / "default.keras"
    keras_file.write_bytes(OCR_KERAS.read_bytes() + b"retrained")
    (tmp_path / "default.onnx").write_bytes(OCR_KERAS.with_suffix(".onnx").read_bytes())
    with pytest.warns(UserWarning, match="make onnx"):
        assert shipped_export(keras_file, task="ocr") is None
    assert shipped_export(OCR_KERAS, task="ocr") is not None
    monkeypatch.setenv("CTC_TOOLKIT_RUNTIME", "keras")
    assert shipped_export(OCR_KERAS, task="ocr") is None


def test_reading_and_transcribing_with_the_shipped_models_never_imports_tensorflow():
    script = (
        "import sys; from ocr import Reader; from speech import Transcriber; "
        f"print(Reader.load().read({str(LINE)!r})[0].text); "
        f"print(Transcriber.load().transcribe({str(HELLO)!r})[0].text); "
        f"Reader.load({str(OCR_KERAS.with_suffix('.onnx'))!r}).read({str(LINE)!r}); "  # an exported file too
        "print(sorted(m for m in ('tensorflow', 'keras', 'librosa', 'numba') if m in sys.modules))"
    )
    result = _run("-c", script)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert lines[0] == LINE_TEXT
    assert lines[2] == "[]"


def test_the_onnx_twins_read_as_the_keras_models_do(assert_same_but_confidences):
    """The OCR twin has int8 LSTM weights (ocr/defaults.py TWIN_QUANTIZATION): the same text and boxes; the
    confidences differ by 0.003 on average (a few uncertain characters by up to a quarter). The float32 speech twin
    gives the same words and times."""
    from ocr.reader import Reader
    from speech.transcriber import Transcriber

    images = [LINE, ROOT / "ocr" / "samples" / "paragraph.png"]
    twin = [r.to_dict() for r in Reader.load().read(images, layout="auto")]
    keras = [r.to_dict() for r in Reader.load(OCR_KERAS).read(images, layout="auto")]
    assert sum(len(line["characters"]) for r in twin for line in r["lines"]) > 20
    assert_same_but_confidences(twin, keras)
    [twin], [original] = Transcriber.load().transcribe(HELLO), Transcriber.load(SPEECH_KERAS).transcribe(HELLO)
    assert twin.text == original.text
    assert [(w.text, w.start, w.end) for w in twin.words] == [(w.text, w.start, w.end) for w in original.words]
    assert np.allclose([w.confidence for w in twin.words], [w.confidence for w in original.words], atol=1e-3)


# --- quiet runs ------------------------------------------------------------------------------------------------

def _noise(stderr):
    return [line for line in stderr.decode().splitlines() if is_native_noise(line) or "oneDNN" in line]


def test_no_tensorflow_lines_on_stderr_in_read_transcribe_eval_and_train(tmp_path):
    """The .keras models force TensorFlow in (the shipped twins would not import it at all)."""
    data = tmp_path / "lines"
    data.mkdir()
    for name in ("a", "b"):
        (data / f"{name}.png").write_bytes(LINE.read_bytes())
        (data / f"{name}.gt.txt").write_text(LINE_TEXT, encoding="utf-8")
    commands = {
        "read": ["-m", "ocr", "read", "--model", OCR_KERAS, LINE],
        "transcribe": ["-m", "speech", "transcribe", "--model", SPEECH_KERAS, HELLO],
        "eval": ["-m", "ocr", "eval", "--model", OCR_KERAS, "--data", ROOT / "ocr" / "samples"],
        "train": ["-m", "ocr", "train", "--data", data, "--val", data, "--out", tmp_path / "m.keras", "--epochs", "1",
                  "--units", "8", "--layers", "1", "--quiet"],
        "verbose": ["-m", "ocr", "read", "--verbose", "--model", OCR_KERAS, LINE],
        # what TensorFlow prints here under the toolkit's log level: its oneDNN line depends on the CPU (TensorFlow
        # turns oneDNN on by default only on some), so on other CPUs there is nothing for --verbose to show
        "bare": ["-c", "import common, tensorflow as tf; tf.reduce_sum(tf.ones((2, 2)))"],
    }
    with ThreadPoolExecutor(len(commands)) as pool:  # side by side: each spends seconds importing TensorFlow
        runs = dict(zip(commands, pool.map(lambda args: _run(*args), commands.values())))
    verbose, bare = runs.pop("verbose"), runs.pop("bare")
    for name, result in runs.items():
        assert result.returncode == 0, (name, result.stderr.decode())
        assert _noise(result.stderr) == [], name
    assert runs["read"].stdout.decode().strip() == LINE_TEXT
    epochs = [line for line in runs["train"].stderr.decode().splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 1 and epochs[0].startswith("epoch 1/1: loss ") and "val_cer" in epochs[0]
    assert "%" in epochs[0] and "e+00" not in epochs[0]
    assert "step" not in runs["train"].stdout.decode()  # --quiet: no progress bar
    assert verbose.returncode == 0 and bare.returncode == 0, bare.stderr.decode()
    if _noise(bare.stderr):  # where TensorFlow prints its lines at all, --verbose lets them through
        assert _noise(verbose.stderr), "--verbose shows TensorFlow's lines"


# --- outputs ---------------------------------------------------------------------------------------------------

def test_ocr_read_output_dir_with_names_and_stdin(tmp_path, capsys):
    out = tmp_path / "out"
    assert ocr_main(["read", str(LINE), "--output-dir", str(out)]) == 0
    assert (out / "line.txt").read_text().strip() == LINE_TEXT
    capsys.readouterr()
    assert ocr_main(["read", str(LINE), str(tmp_path / "missing.png"), "--with-names"]) == 1
    assert capsys.readouterr().out.splitlines() == [f"==> {LINE} <==", LINE_TEXT]
    piped = _run("-m", "ocr", "read", "-", "--json", stdin=LINE.read_bytes())
    assert piped.returncode == 0, piped.stderr.decode()
    record = json.loads(piped.stdout)
    assert record["path"] == "-" and record["text"] == LINE_TEXT


def test_speech_transcribe_formats_output_dir_and_failures(tmp_path, capsys):
    out = tmp_path / "out"
    assert speech_main(["transcribe", str(HELLO), "--format", "all", "--output-dir", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"hello.{f}" for f in ("json", "srt", "tsv", "txt", "vtt")]
    text = (out / "hello.txt").read_text().strip()
    assert text and json.loads((out / "hello.json").read_text())["text"] == text
    assert re.match(r"1\n00:00:00,\d{3} --> 00:00:0\d,\d{3}\n", (out / "hello.srt").read_text())
    assert (out / "hello.vtt").read_text().startswith("WEBVTT")
    rows = (out / "hello.tsv").read_text().splitlines()
    assert rows[0] == "start\tend\ttext" and rows[1].split("\t")[2] == text
    assert speech_main(["transcribe", str(HELLO), "--with-names"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"==> {HELLO} <==", text]
    # Several files as subtitles: one stream would not be a valid file.
    assert speech_main(["transcribe", str(HELLO), str(HELLO), "--format", "srt"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "--output-dir" in captured.err
    # A failed file is in the JSON output with its error, and the exit status counts it.
    assert speech_main(["transcribe", str(HELLO), str(LINE), "--format", "json"]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["path"] for r in records] == [str(HELLO), str(LINE)]
    assert records[0]["error"] is None and "not an audio file" in records[1]["error"]
    words = [w for s in records[0]["segments"] for w in s["words"]]
    assert words and all(round(w["start"], 3) == w["start"] for w in words)


def test_ocr_eval_layout_and_report(capsys):
    samples = ROOT / "ocr" / "samples"
    assert ocr_main(["eval", "--data", str(samples), "--layout", "auto", "--report", "2", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    assert figures["count"] == 2 and figures["cer"] < 0.05  # the paragraph is split into lines
    assert all(set(item) == {"path", "reference", "output", "cer"} for item in figures["worst"])
    assert len(figures["worst"]) <= 2 and len(figures["confusions"]) <= 2
    assert ocr_main(["eval", "--data", str(samples), "--report", "1"]) == 0  # as lines: the paragraph fails
    out = capsys.readouterr().out
    assert "worst items" in out and "paragraph.png" in out and "most common character errors" in out


def test_ocr_synth_with_font_and_text(tmp_path, capsys):
    from ocr.synth import find_fonts

    font = find_fonts()[0]
    lines = tmp_path / "lines.txt"
    lines.write_text("Hello there\n\nA second line, 42.\n", encoding="utf-8")
    assert ocr_main(["synth", "--out", str(tmp_path / "set"), "--text", str(lines), "--font", str(font)]) == 0
    assert [p.read_text() for p in sorted((tmp_path / "set").glob("*.gt.txt"))] == ["Hello there",
                                                                                  "A second line, 42."]
    assert {row.split("\t")[2] for row in (tmp_path / "set" / "manifest.tsv").read_text().splitlines()[1:]} == {
        font.name}
    assert ocr_main(["synth", "--out", str(tmp_path / "other"), "-n", "1", "--font", "NoSuchFont"]) == 2
    assert "NoSuchFont: no such font file" in capsys.readouterr().err


def test_speech_synth_with_voice_and_text(tmp_path):
    from speech.synth import list_voices

    voices = [v for v in list_voices() if v.engine == "espeak-ng"]
    if not voices:
        pytest.skip("espeak-ng is not installed")
    lines = tmp_path / "lines.txt"
    lines.write_text("Hello there\nsecond line\n", encoding="utf-8")
    assert speech_main(["synth", "--out", str(tmp_path / "set"), "--text", str(lines), "--voice",
                        f"espeak-ng:{voices[0].name}"]) == 0
    rows = (tmp_path / "set" / "voices.tsv").read_text().splitlines()[1:]
    assert len(rows) == 2 and all(row.split("\t")[2] == voices[0].name for row in rows)
    assert "|Hello there|" in (tmp_path / "set" / "metadata.csv").read_text()


def test_transcribe_array_needs_sample_rate_by_its_name():
    from common.errors import ConfigError
    from speech.transcriber import Transcriber

    transcriber = Transcriber.load()
    with pytest.raises(ConfigError, match=r"pass sample_rate= \(Hz\)"):
        transcriber.transcribe(np.zeros(16000, dtype=np.float32))
    [result] = transcriber.transcribe(HELLO)
    assert all(round(w.start, 3) == w.start and round(w.end, 3) == w.end for w in result.words)


# --- basics ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("main", [ocr_main, speech_main])
def test_version(main, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.split()[-1] == common.__version__
    import ocr
    import speech

    assert ocr.__version__ == speech.__version__ == common.__version__


def _help_flags(build_parser):
    """Every option string of every subcommand, per subcommand name."""
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {name: {s for a in p._actions for s in a.option_strings} for name, p in sub.choices.items()}


def test_every_flag_the_readme_shows_exists():
    parsers = {"ocr": _help_flags(ocr_parser), "speech": _help_flags(speech_parser)}
    readme = (ROOT / "README.md").read_text()
    checked = 0
    for match in re.finditer(r"\b(ocr|speech) (read|transcribe|batch|train|eval|synth|export|serve)\b([^\n`|]*)", readme):
        tool, command, rest = match.groups()
        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", rest):
            assert flag in parsers[tool][command], f"README: '{tool} {command} ... {flag}' is not an option"
            checked += 1
    assert checked > 20


def test_ctrl_c_in_training_says_how_to_resume(tmp_path, capsys):
    from common.cli import run_main

    def interrupted(args):
        raise KeyboardInterrupt

    out = tmp_path / "m.keras"
    assert run_main(ocr_parser, {"train": interrupted}, ["train", "--data", "d", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "add --resume to the same command" in err and str(out) in err
    assert run_main(ocr_parser, {"read": interrupted}, ["read", "x.png"]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_license_and_changelog_ship():
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert "license = Apache-2.0" in (ROOT / "setup.cfg").read_text()
    assert common.__version__ in (ROOT / "CHANGELOG.md").read_text()
    for package in ("common", "ocr", "speech"):
        assert (ROOT / package / "py.typed").is_file()
