import json

import numpy as np
import pytest
import soundfile as sf

from common.errors import DataError
from speech.data import Utterance, load_speech_dataset


def wav(path, seconds=0.1, rate=16000, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, np.zeros(int(seconds * rate), dtype=np.float32), rate, format=fmt)
    return path


def test_ljspeech(tmp_path):
    wav(tmp_path / "wavs" / "LJ001-0001.wav")
    wav(tmp_path / "wavs" / "LJ001-0002.wav")
    (tmp_path / "metadata.csv").write_text("LJ001-0001|Printing, in 1450|Printing, in fourteen fifty\n"
                                           "LJ001-0002|No normalized text|\n", encoding="utf-8")
    utterances = load_speech_dataset(tmp_path)
    assert utterances == [Utterance(tmp_path / "wavs" / "LJ001-0001.wav", "Printing, in fourteen fifty"),
                          Utterance(tmp_path / "wavs" / "LJ001-0002.wav", "No normalized text")]
    assert load_speech_dataset(tmp_path / "metadata.csv") == utterances


def test_librispeech(tmp_path):
    chapter = tmp_path / "train-clean" / "84" / "121123"
    wav(chapter / "84-121123-0000.flac", fmt="FLAC")
    wav(chapter / "84-121123-0001.wav")
    (chapter / "84-121123.trans.txt").write_text("84-121123-0000 GO DO YOU HEAR\n84-121123-0001 BUT IN LESS\n")
    utterances = load_speech_dataset(tmp_path)
    assert [(u.audio.name, u.text, u.speaker) for u in utterances] == [
        ("84-121123-0000.flac", "GO DO YOU HEAR", "84"), ("84-121123-0001.wav", "BUT IN LESS", "84")]


def test_common_voice(tmp_path):
    wav(tmp_path / "clips" / "a.mp3.wav")
    (tmp_path / "train.tsv").write_text('client_id\tpath\tsentence\tup_votes\n'
                                        'c1\ta.mp3.wav\tHe said "hi" there.\t2\n', encoding="utf-8")
    [utterance] = load_speech_dataset(tmp_path)  # the only .tsv of the folder
    assert utterance == Utterance(tmp_path / "clips" / "a.mp3.wav", 'He said "hi" there.', None, "c1")


def test_jsonl_manifest(tmp_path):
    wav(tmp_path / "audio" / "a.wav")
    absolute = wav(tmp_path / "elsewhere" / "b.wav")
    rows = [{"audio_filepath": "audio/a.wav", "text": "first", "duration": 0.1, "speaker": 7},
            {"audio": str(absolute), "text": "second"}]
    manifest = tmp_path / "manifest.jsonl"
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert load_speech_dataset(manifest) == [Utterance(tmp_path / "audio" / "a.wav", "first", 0.1, "7"),
                                             Utterance(absolute, "second")]


def test_csv_manifest(tmp_path):
    wav(tmp_path / "a.wav")
    (tmp_path / "list.csv").write_text('file,transcript,duration\na.wav,"hello, world",0.1\n')
    assert load_speech_dataset(tmp_path / "list.csv") == [Utterance(tmp_path / "a.wav", "hello, world", 0.1)]
    (tmp_path / "pipes.csv").write_text("path|text\na.wav|hi\n")
    assert load_speech_dataset(tmp_path / "pipes.csv")[0].text == "hi"


def test_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_speech_dataset(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty.*LJSpeech.*LibriSpeech.*Common Voice.*JSONL.*CSV"):
        load_speech_dataset(tmp_path / "empty")
    (tmp_path / "x.yaml").write_text("a: 1")
    with pytest.raises(DataError, match="unknown manifest type"):
        load_speech_dataset(tmp_path / "x.yaml")

    missing = tmp_path / "missing"
    wav(missing / "wavs" / "ok.wav")
    lines = ["ok|fine"] + [f"gone{i}|text" for i in range(7)]
    (missing / "metadata.csv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"7 row\(s\) naming missing audio files: not found \(line 2: wavs/gone0.wav, "
                                        r".*line 8: wavs/gone6.wav; check that the audio was copied"):
        load_speech_dataset(missing)

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"audio": "a.wav", "text": "x"}\nnot json\n{"text": "no audio"}\n')
    with pytest.raises(DataError, match=r"2 malformed.*not JSON .*\(line 2\).*\(line 3\)"):
        load_speech_dataset(bad)
    (tmp_path / "noheader.csv").write_text("a.wav,hello\n")
    with pytest.raises(DataError, match="header must name the audio column"):
        load_speech_dataset(tmp_path / "noheader.csv")
    (tmp_path / "blank.jsonl").write_text("\n")
    with pytest.raises(DataError, match="no utterances"):
        load_speech_dataset(tmp_path / "blank.jsonl")
