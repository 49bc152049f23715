"""End to end: a tiny speech model overfits six short clips, then the Transcriber and `speech transcribe` use it."""

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from common.metrics import cer
from common.training import TrainConfig, train
from speech.audio import SAMPLE_RATE, load_audio
from speech.cli import main as speech_main
from speech.data import load_speech_dataset
from speech.task import SpeechTask
from speech.transcriber import Transcriber

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "speech"
MANIFEST = FIXTURES / "manifest.jsonl"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("speech_overfit")
    config = TrainConfig(
        data=str(MANIFEST), val=str(MANIFEST), out=str(root / "tiny.keras"), epochs=120, batch_size=2,
        learning_rate=3e-3, patience=200, augment=False, verbose=0,
        model={"units": 64, "num_layers": 1, "filters": (8, 8), "projection_units": 64, "dropout": 0.0},
    )
    history = train(SpeechTask(), config)
    return Path(config.out), history


def test_tiny_model_overfits_clips(trained):
    model_path, history = trained
    assert min(history.history["val_wer"]) == 0.0
    utterances = load_speech_dataset(MANIFEST)
    results = Transcriber.load(model_path).transcribe([u.audio for u in utterances])
    assert [r.text for r in results] == [u.text for u in utterances]
    for result in results:
        assert result.ok and result.duration > 0.3
        for word in result.words:
            assert 0.0 <= word.start < word.end <= result.duration + 0.05
            assert 0.0 <= word.confidence <= 1.0


def test_long_file_is_chunked_and_times_are_global(trained):
    model_path, _ = trained
    clips = {u.text: load_audio(u.audio) for u in load_speech_dataset(MANIFEST)}
    order = ["hello world", "stop", "seven", "go left", "yes", "no"] * 2
    gap = np.zeros(int(2.5 * SAMPLE_RATE), dtype=np.float32)  # longer than the 2 s across which chunks merge
    pieces, spans, position = [gap], [], gap.shape[0]
    for text in order:
        pieces += [clips[text], gap]
        spans.append((text, position / SAMPLE_RATE, (position + clips[text].shape[0]) / SAMPLE_RATE))
        position += clips[text].shape[0] + gap.shape[0]
    audio = np.concatenate(pieces)
    assert audio.shape[0] / SAMPLE_RATE > 40  # longer than two 20 s chunks
    [result] = Transcriber.load(model_path).transcribe(audio, sample_rate=SAMPLE_RATE)
    assert abs(result.duration - audio.shape[0] / SAMPLE_RATE) < 1e-3
    # One segment per clip, placed at the clip's time in the whole file (not in its chunk).
    assert len(result.segments) == len(order)
    for segment, (text, start, end) in zip(result.segments, spans):
        # The clips carry the TTS engine's own leading and trailing silence, which the chunker trims.
        assert start - 0.3 <= segment.start < segment.end <= end + 0.3
        assert segment.end - segment.start > 0.5 * (end - start)
        for word in segment.words:
            assert segment.start <= word.start < word.end <= segment.end + 0.05
    assert cer([" ".join(order)], [result.text]) < 0.35


def test_transcribe_formats(trained, capsys):
    model_path, _ = trained
    clip = str(FIXTURES / "clip2.flac")
    assert speech_main(["transcribe", "--model", str(model_path), clip]) == 0
    assert capsys.readouterr().out.strip() == "hello world"
    assert speech_main(["transcribe", "--model", str(model_path), "--format", "json", clip]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["text"] == "hello world" and [w["text"] for w in record["segments"][0]["words"]] == ["hello", "world"]
    assert speech_main(["transcribe", "--model", str(model_path), "--format", "srt", clip]) == 0
    srt = capsys.readouterr().out
    assert re.search(r"^1\n\d\d:\d\d:\d\d,\d{3} --> \d\d:\d\d:\d\d,\d{3}\nhello world\n", srt, re.M)
    assert speech_main(["transcribe", "--model", str(model_path), "--format", "vtt", clip]) == 0
    vtt = capsys.readouterr().out
    assert vtt.startswith("WEBVTT") and re.search(r"\d\d:\d\d:\d\d\.\d{3} --> \d\d:\d\d:\d\d\.\d{3}", vtt)


def test_bad_inputs_do_not_stop_the_batch(trained, tmp_path, capsys):
    model_path, _ = trained
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(b"this is not audio at all" * 50)
    broken = tmp_path / "broken.wav"
    broken.write_bytes((FIXTURES / "clip0.flac").read_bytes()[:2000].replace(b"fLaC", b"RIFF"))
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
    good = str(FIXTURES / "clip3.flac")
    files = [good, str(empty), str(garbage), str(broken), str(tmp_path / "missing.wav"), str(silence)]
    status = speech_main(["transcribe", "--model", str(model_path), *files])
    out, err = capsys.readouterr()
    assert status == 4  # the number of files that failed
    assert out.splitlines()[0] == "stop"
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 4
    for name in ("empty.wav", "garbage.mp3", "broken.wav", "missing.wav"):
        assert any(name in line for line in errors), name
    transcriber = Transcriber.load(model_path)
    nan = np.full(SAMPLE_RATE, np.nan, dtype=np.float32)
    short = np.zeros(160, dtype=np.float32)
    results = transcriber.transcribe([nan, short], sample_rate=SAMPLE_RATE)
    assert results[0].error and "array #0" in results[0].error
    assert results[1].ok and results[1].text == ""


def test_language_model_word_lists_and_hotwords(trained, tmp_path, capsys):
    model_path, _ = trained
    utterances = load_speech_dataset(MANIFEST)
    texts = [u.text for u in utterances]
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("Hello, World!\nStop.\nSeven\nGo left.\nYes\nNo\n", encoding="utf-8")
    lm = tmp_path / "my.lm"
    assert speech_main(["lm", "build", "--text", str(corpus), "--order", "3", "--out", str(lm)]) == 0
    assert "1-grams: 11" in capsys.readouterr().out  # 8 words, <s>, </s>, <unk>
    transcriber = Transcriber.load(model_path, lm=str(lm), hotwords="Hello:2")
    assert transcriber.decoder is not None and transcriber.decoder.hotwords == {"hello": 2.0}
    results = transcriber.transcribe([u.audio for u in utterances])
    assert [r.text for r in results] == texts
    greedy = Transcriber.load(model_path, lm="none").transcribe([u.audio for u in utterances])
    for fused, plain in zip(results, greedy):
        assert [(w.text, w.start, w.end) for w in fused.words] == [(w.text, w.start, w.end) for w in plain.words]
    # a closed vocabulary without "seven": that clip cannot come out as "seven"
    closed = Transcriber.load(model_path, lm="none", words=[t for t in texts if t != "seven"])
    outputs = [r.text for r in closed.transcribe([u.audio for u in utterances])]
    assert "seven" not in outputs and outputs[texts.index("hello world")] == "hello world"
    # a bad --lm is one line, not a traceback
    garbage = tmp_path / "garbage.lm"
    garbage.write_bytes(b"\x00" * 100)
    truncated = tmp_path / "truncated.lm"
    truncated.write_bytes(lm.read_bytes()[:200])
    for bad, problem in ((tmp_path / "missing.lm", "no such language model"), (garbage, "not a language model"),
                         (truncated, "truncated")):
        assert speech_main(["transcribe", "--model", str(model_path), "--lm", str(bad), str(utterances[0].audio)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and str(bad) in err and problem in err, err


def test_training_on_each_layout_reads_the_same_clips(tmp_path):
    """The LJSpeech layout written from the fixtures gives the same examples as the manifest."""
    wavs = tmp_path / "lj" / "wavs"
    wavs.mkdir(parents=True)
    rows = []
    for i, utterance in enumerate(load_speech_dataset(MANIFEST)):
        sf.write(wavs / f"u{i}.wav", load_audio(utterance.audio), SAMPLE_RATE)
        rows.append(f"u{i}|{utterance.text}|{utterance.text}")
    (tmp_path / "lj" / "metadata.csv").write_text("\n".join(rows) + "\n")
    task = SpeechTask()
    assert [t for _, t in task.load_examples(tmp_path / "lj")] == [t for _, t in task.load_examples(MANIFEST)]
