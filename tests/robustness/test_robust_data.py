"""Data set loaders end in a list of examples or one clear DataError naming the file and the problem.

Hand-made cases: empty folders, folders of the wrong things, manifests with missing files, malformed rows,
non-UTF-8 text, oversized fields; transcripts with characters outside the alphabet. Hypothesis writes manifests of
drawn text in every supported format.
"""

import json

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from common.alphabet import Alphabet
from common.errors import AlphabetError, DataError
from ocr.data import load_line_dataset
from robustness_support import FUZZ, outcome
from speech.data import load_speech_dataset
from speech.text import normalize_transcript


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (60, 20), 255).save(path)
    return path


def _wav(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(1600, np.float32), 16000)
    return path


def _files(folder, spec):
    """Write ``{relative path: bytes | "image" | "wav"}`` under ``folder``; return the folder."""
    for name, content in spec.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content == "image":
            _image(path)
        elif content == "wav":
            _wav(path)
        else:
            path.write_bytes(content.encode() if isinstance(content, str) else content)
    return folder


BIG_FIELD = "x" * 200_000  # beyond the csv module's default field limit (131,072 characters)

# name -> (files, the path to load relative to the folder, words the DataError must contain)
OCR_CASES = {
    "empty_folder": ({}, ".", "No training lines"),
    "hidden_files_only": ({".a.png": "image", ".a.gt.txt": "x"}, ".", "No training lines"),
    "images_without_transcripts": ({"a.png": "image", "b.jpg": "image"}, ".", "no .gt.txt"),
    "transcripts_without_images": ({"a.gt.txt": "hi"}, ".", "no images"),
    "other_files_only": ({"notes.txt": "hello", "data.bin": b"\x00"}, ".", "No training lines"),
    "transcript_not_utf8": ({"a.png": "image", "a.gt.txt": b"caf\xe9"}, ".", "not valid UTF-8"),
    "missing_path": ({}, "nowhere", "does not exist"),
    "tsv_missing_files": ({"a.png": "image", "m.tsv": "a.png\tok\nb.png\tgone\nc/d.png\tgone too\n"}, "m.tsv",
                          "2 row(s) naming missing image files"),
    "csv_missing_files": ({"m.csv": "image,text\nnope.png,hi\n"}, "m.csv", "line 2: nope.png"),
    "jsonl_missing_files": ({"m.jsonl": '{"image": "nope.png", "text": "hi"}\n'}, "m.jsonl", "line 1: nope.png"),
    "tsv_empty": ({"m.tsv": ""}, "m.tsv", "lists no lines"),
    "tsv_header_only": ({"m.tsv": "image\ttext\n"}, "m.tsv", "lists no lines"),
    "tsv_malformed_row": ({"a.png": "image", "m.tsv": "a.png\tok\njust one field\n"}, "m.tsv", "(line 2)"),
    "csv_no_header": ({"a.png": "image", "m.csv": "a.png,hello\n"}, "m.csv", "header"),
    "csv_ragged_row": ({"a.png": "image", "m.csv": "image,text\na.png,hi,extra\n"}, "m.csv", "(line 2)"),
    "csv_huge_field": ({"a.png": "image", "m.csv": f"image,text\na.png,{BIG_FIELD}\n"}, "m.csv", "line 2"),
    "jsonl_not_json": ({"m.jsonl": "{nope\n"}, "m.jsonl", "not JSON"),
    "jsonl_not_object": ({"m.jsonl": "[1, 2]\n"}, "m.jsonl", "malformed"),
    "jsonl_text_not_string": ({"a.png": "image", "m.jsonl": '{"image": "a.png", "text": 5}\n'}, "m.jsonl",
                              "malformed"),
    "manifest_not_utf8": ({"m.tsv": b"a.png\tcaf\xe9\n"}, "m.tsv", "not valid UTF-8"),
    "unknown_manifest_suffix": ({"m.xml": "<a/>"}, "m.xml", "manifest ending in"),
}

SPEECH_CASES = {
    "empty_folder": ({}, ".", "the folder is empty"),
    "unrelated_files": ({"notes.md": "hello", "a.wav": "wav"}, ".", "no dataset found"),
    "missing_path": ({}, "nowhere", "no such file"),
    "ljspeech_missing_wavs": ({"metadata.csv": "a|Hello|hello\nb|Bye|bye\n", "wavs/a.wav": "wav"}, ".",
                              "1 row(s) naming missing audio files"),
    "ljspeech_empty_metadata": ({"metadata.csv": "", "wavs/a.wav": "wav"}, ".", "the file is empty"),
    "ljspeech_malformed": ({"metadata.csv": "a|Hello\n|no id\n", "wavs/a.wav": "wav"}, ".", "malformed"),
    "librispeech_missing_flac": ({"1/2/1-2.trans.txt": "1-2-0000 HELLO\n1-2-0001 BYE\n", "1/2/1-2-0000.flac":
                                  "wav"}, ".", "missing audio"),
    "common_voice_missing_clips": ({"train.tsv": "client_id\tpath\tsentence\nx\ta.mp3\tHi\n", "clips/b.mp3": "wav"},
                                   "train.tsv", "missing audio"),
    "jsonl_missing_files": ({"m.jsonl": '{"audio": "gone.wav", "text": "hi"}\n'}, "m.jsonl", "missing audio"),
    "jsonl_bad_duration": ({"a.wav": "wav", "m.jsonl": '{"audio": "a.wav", "text": "hi", "duration": -3}\n'},
                           "m.jsonl", "duration"),
    "csv_missing_files": ({"m.csv": "audio,text\ngone.wav,hi\n"}, "m.csv", "missing audio"),
    "csv_no_text_column": ({"a.wav": "wav", "m.csv": "audio,words\na.wav,hi\n"}, "m.csv", "text column"),
    "csv_huge_field": ({"a.wav": "wav", "m.csv": f"audio,text\na.wav,{BIG_FIELD}\n"}, "m.csv", ""),
    "manifest_not_utf8": ({"m.jsonl": b'{"audio": "a.wav", "text": "caf\xe9"}\n'}, "m.jsonl", "UTF-8"),
    "several_manifests": ({"a.jsonl": "", "b.csv": ""}, ".", "several manifests"),
    "unknown_manifest_suffix": ({"m.xml": "<a/>"}, "m.xml", "unknown manifest type"),
}


@pytest.mark.parametrize("name", sorted(OCR_CASES))
def test_ocr_loader_case(tmp_path, name):
    files, target, words = OCR_CASES[name]
    path = _files(tmp_path, files) / target
    kind, message = outcome(lambda: load_line_dataset(path), errors=(DataError,))
    assert kind == "error", f"{name}: {message}"
    assert words in message, message
    assert str(path.resolve() if target == "." else path) in message or path.name in message, message


@pytest.mark.parametrize("name", sorted(SPEECH_CASES))
def test_speech_loader_case(tmp_path, name):
    files, target, words = SPEECH_CASES[name]
    path = _files(tmp_path, files) / target
    kind, message = outcome(lambda: load_speech_dataset(path), errors=(DataError,))
    if name == "csv_huge_field":  # a long transcript is a transcript: either reading it or a clear error is fine
        assert kind == "ok" or "row 2" in message or "line 2" in message, message
        return
    assert kind == "error", f"{name}: {message}"
    assert words in message, message
    assert path.name in message or str(path) in message, message


# --- characters outside the alphabet -----------------------------------------------------------------------------


def test_out_of_alphabet_characters_are_named():
    alphabet = Alphabet("abc ")
    with pytest.raises(AlphabetError, match=r"Character 'é' \(U\+00E9\) at position 2 in line7\.gt\.txt"):
        alphabet.encode("abé", where="line7.gt.txt")
    assert alphabet.unknown_characters("a€b😀") == {"€", "😀"}
    assert list(Alphabet("abc", unknown="drop").encode("a😀c")) == [1, 3]
    assert list(Alphabet("abc?", unknown="replace", replacement="?").encode("a中")) == [1, 4]


def test_speech_transcripts_outside_the_alphabet_are_normalized_away():
    from speech.task import default_alphabet

    alphabet = default_alphabet()
    for text in ["naïve café — “quoted” 😀 中文", "\x00\x01\u200b", "Ω≈ç√∫", "It's 42%!"]:
        normalized = normalize_transcript(text)
        assert not alphabet.unknown_characters(normalized), (text, normalized)
        alphabet.encode(normalized)


@pytest.mark.time_limit(60)
def test_training_with_alphabet_keep_refuses_unknown_characters(tmp_path, tiny_models):
    from common.training import TrainConfig, train
    from ocr.task import OcrTask

    data = _files(tmp_path / "lines", {"a.png": "image", "a.gt.txt": "abc", "b.png": "image", "b.gt.txt": "a€Z"})
    config = TrainConfig(data=str(data), val=str(data), out=str(tmp_path / "m.keras"), from_model=str(
        tiny_models["ocr"]), alphabet="keep", epochs=1, batch_size=2, verbose=0)
    with pytest.raises(AlphabetError, match="keep") as error:
        train(OcrTask(), config)
    assert "€" in str(error.value) and "Z" in str(error.value)


# --- hypothesis: manifests of drawn text -------------------------------------------------------------------------

_TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)
_FIELDS = st.one_of(_TEXT, st.sampled_from(["a.png", "a.wav", "image", "audio", "text", "path", "sentence",
                                             "../a.png", "/nonexistent/x.wav", ""]))


@st.composite
def manifests(draw):
    rows = draw(st.lists(st.lists(_FIELDS, min_size=0, max_size=4), min_size=0, max_size=5))
    separator = draw(st.sampled_from(["\t", ",", "|", ";"]))
    if draw(st.booleans()):
        rows.insert(0, draw(st.sampled_from([["image", "text"], ["audio", "text"], ["path", "sentence"],
                                             ["file", "transcript", "duration"]])))
    lines = [separator.join(row) for row in rows]
    if draw(st.booleans()):  # JSON objects instead
        lines = [json.dumps(dict(zip(draw(st.permutations(["image", "audio", "text", "duration", "path"])), row)))
                 for row in rows]
    suffix = draw(st.sampled_from([".tsv", ".csv", ".jsonl", ".txt", ".json"]))
    return "\n".join(lines), suffix


@FUZZ
@given(manifests())
def test_drawn_manifests(tmp_path_factory, case):
    content, suffix = case
    folder = _files(tmp_path_factory.mktemp("manifest"), {"a.png": "image", "a.wav": "wav"})
    path = folder / f"m{suffix}"
    path.write_text(content, encoding="utf-8")
    if suffix in (".tsv", ".csv", ".jsonl"):
        kind, value = outcome(lambda: load_line_dataset(path), errors=(DataError,))
        if kind == "ok":
            assert value and all(e.image.is_file() for e in value)
    kind, value = outcome(lambda: load_speech_dataset(path), errors=(DataError,))
    if kind == "ok":
        assert value and all(u.audio.is_file() for u in value)
