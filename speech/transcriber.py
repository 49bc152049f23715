"""``Transcriber``: the Python API for turning audio into text.

>>> from speech import Transcriber
>>> result = Transcriber.load().transcribe(["talk.wav"])[0]  # doctest: +SKIP
>>> result.text, result.words[0].start                       # doctest: +SKIP

Long recordings are split at silences into chunks of at most ``max_chunk_seconds``, the chunks are batched
through the model, and the results stitched back with times global to the file. Each input gives one
:class:`Transcript`, in input order; a bad input has ``error`` set and the others are still transcribed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Union

import numpy as np

from common.errors import ConfigError, ModelFileError
from common.inference import (DEFAULT_MAX_BATCH_MB, InputResult, SequencePredictor, as_input_list,
                              check_beam_width, guard_input, input_name, is_real_number, load_task_model,
                              map_in_groups)
from common.lm import make_decoder, parse_hotwords, read_word_list
from speech.chunking import split_on_silence
from speech.defaults import BATCH_SIZE, BEAM_WIDTH, FILES_PER_GROUP, LM, MAX_CHUNK_SECONDS, MIN_CHUNK_SECONDS
from speech.formats import Segment, Word
from speech.preprocessor import AudioPreprocessor
from speech.text import normalize_transcript

__all__ = ["Transcriber", "Transcript", "DEFAULT_MODEL", "DEFAULT_LM"]

AudioInput = Union[str, os.PathLike, np.ndarray]
"""One input of :meth:`Transcriber.transcribe`: an audio file's path or an array of samples."""

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default.keras"
DEFAULT_LM = Path(__file__).resolve().parent / "models" / "english.lm"
"""The shipped English word 4-gram (``recipes/speech_lm.py``), with its tuned settings in ``english.lm.json``."""


@dataclasses.dataclass(frozen=True)
class Transcript(InputResult):
    """One input's transcript: ``text``, ``segments`` and ``words`` (times in seconds from the file's start),
    ``duration`` (seconds), and ``error`` (``None`` when the input was transcribed)."""

    segments: tuple[Segment, ...] = ()
    duration: float = 0.0
    error: str | None = None

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(w for segment in self.segments for w in segment.words)

    def to_dict(self) -> dict:
        return {
            "path": self.source,
            "text": self.text,
            "duration": round(self.duration, 3),
            "segments": [
                {"start": round(s.start, 3), "end": round(s.end, 3), "text": s.text,
                 "confidence": round(s.confidence, 4),
                 "words": [{"text": w.text, "start": round(w.start, 3), "end": round(w.end, 3),
                            "confidence": round(w.confidence, 4)} for w in s.words]}
                for s in self.segments
            ],
            "error": self.error,
        }


def _normalized_words(words):
    """A closed word list in the transcripts' spelling (``"Don't"`` -> ``"don't"``, ``"42"`` -> ``"forty two"``)."""
    if words is None:
        return None
    return [w for item in read_word_list(words) for w in normalize_transcript(item).split()]


def _normalized_hotwords(hotwords):
    """Hotwords in the transcripts' spelling; a phrase's words each get its weight."""
    return {w: weight for word, weight in parse_hotwords(hotwords).items() for w in normalize_transcript(word).split()}


def _words(decoded, offset, seconds_per_frame):
    """Group decoded characters into words with times: a word spans its first to its last character's frames.
    Times are rounded to milliseconds (finer is noise: a frame is 40 ms)."""
    words, current = [], []

    def flush():
        if current:
            start = offset + current[0].start * seconds_per_frame
            end = offset + (current[-1].end + 1) * seconds_per_frame
            confidence = float(np.mean([c.confidence for c in current]))
            words.append(Word("".join(c.char for c in current), round(start, 3), round(end, 3), confidence))
            current.clear()

    for char in decoded.characters:
        if char.char.isspace():
            flush()
        else:
            current.append(char)
    flush()
    return words


class Transcriber:
    """Transcribes audio with a speech model.

    Args:
        model: a speech :class:`~common.recognizer.Recognizer`, or an exported one
            (:class:`~common.export.ExportedModel`: ONNX, TFLite, SavedModel) that gives the same text.
        batch_size: chunks per batch.
        max_chunk_seconds: longest piece of audio run through the model at once, at least 0.5 s (long files are
            split at silences into pieces of at most this; a file no longer than this runs whole).
        max_seconds: refuse files longer than this (``None``: no limit; memory grows ~4 MB per minute of audio).
        max_batch_mb: cap (MiB) on one padded batch of log-mel features (``chunks * padded frames * mels * 4``
            bytes); batches are split to honour it, and a file with a chunk that alone exceeds it gets an error
            (lower ``max_chunk_seconds`` or raise the cap).
        lm: word language model for decoding: ``"default"`` (the shipped English LM; if it cannot be loaded,
            decoding is greedy and a warning says why once), ``"none"``, a path (ARPA or KenLM binary, e.g. from
            ``speech lm build``) or a :class:`common.lm.LanguageModel`.
        hotwords: words to favour, ``"kubernetes,nginx:5"`` (weight: a log-score bonus, default 5), list or dict.
        words: a closed vocabulary (a file with words, or a list): only these words are written.

    A Transcriber is safe to share between threads (tested): each call keeps its state in local variables and the
    model runs through one traced function.
    """

    def __init__(self, model, *, batch_size: int = BATCH_SIZE, max_chunk_seconds: float = MAX_CHUNK_SECONDS,
                 max_seconds: float | None = None, max_batch_mb: float | None = DEFAULT_MAX_BATCH_MB, lm=LM,
                 hotwords=None, words=None):
        if model.task != "speech":
            raise ModelFileError(f"Transcriber needs a speech model. Received: task={model.task!r}")
        if not is_real_number(max_chunk_seconds) or max_chunk_seconds < MIN_CHUNK_SECONDS:
            raise ConfigError(f"Received an invalid value for `max_chunk_seconds` (--max-chunk-seconds), expected a "
                              f"number of seconds >= {MIN_CHUNK_SECONDS}. Received: "
                              f"max_chunk_seconds={max_chunk_seconds!r}")
        if max_seconds is not None and (not is_real_number(max_seconds) or max_seconds <= 0):
            raise ConfigError(f"Received an invalid value for `max_seconds` (--max-seconds), expected a positive "
                              f"number of seconds or None (no limit). Received: max_seconds={max_seconds!r}")
        self.model = model
        if not isinstance(model.preprocessor, AudioPreprocessor):
            raise ModelFileError(f"Transcriber needs a model that carries its audio preprocessing (sample rate, "
                                 f"mels, ...). Received: preprocessor={model.preprocessor!r}")
        self.preprocessor = model.preprocessor
        self.predictor = SequencePredictor(model, batch_size=batch_size, max_batch_mb=max_batch_mb)
        self.max_chunk_seconds = float(max_chunk_seconds)
        self.max_seconds = None if max_seconds is None else float(max_seconds)
        self.decoder = make_decoder(self.alphabet, lm=lm, default_lm=DEFAULT_LM,
                                    hotwords=_normalized_hotwords(hotwords), words=_normalized_words(words))

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, **kwargs) -> Transcriber:
        """Load a model file (``None``: the shipped default model) and return a Transcriber.

        The file is a ``.keras`` model, or one exported with the ``export`` command: an ``.onnx`` or
        ``.tflite`` file or a SavedModel folder (run by ONNX Runtime, LiteRT or TensorFlow).
        """
        return cls(load_task_model(path, default=DEFAULT_MODEL, task="speech", train_command="speech train"),
                   **kwargs)

    @property
    def alphabet(self):
        return self.predictor.alphabet

    @property
    def num_mels(self) -> int:
        return self.preprocessor.num_mels

    @property
    def hop_seconds(self) -> float:
        """Seconds between feature frames (the model's preprocessing)."""
        return self.preprocessor.hop_seconds

    @property
    def seconds_per_frame(self) -> float:
        """Seconds of audio per model output frame."""
        return self.hop_seconds * self.predictor.time_downsampling

    def transcribe(self, inputs: AudioInput | Sequence[AudioInput], *, sample_rate: float | None = None,
                   beam_width: int = BEAM_WIDTH, progress: bool = False,
                   files_per_group: int = FILES_PER_GROUP) -> list[Transcript]:
        """Transcribe each input; returns one :class:`Transcript` per input, in order.

        Args:
            inputs: a path, a file's content as ``bytes``, a numpy array of samples, or a list of them.
            sample_rate: the rate of numpy inputs (Hz); files carry their own.
            beam_width: beam width of the LM decoder (``None``: the LM's tuned default); without an LM, word list or
                hotwords, 1 (``None``) is greedy decoding and more is plain beam search.
            progress: show a progress bar over the files on stderr.
            files_per_group: files decoded and held in memory at once (memory stays flat over many files).

        Raises:
            ConfigError: a numpy input without ``sample_rate``, or an invalid ``sample_rate``.
        """
        inputs = as_input_list(inputs)
        if sample_rate is None and any(isinstance(source, np.ndarray) for source in inputs):
            raise ConfigError("transcribe() got audio samples (a numpy array) but not their rate: pass "
                              "sample_rate= (Hz), e.g. transcriber.transcribe(y, sample_rate=16000). "
                              "Received: sample_rate=None")
        if sample_rate is not None and (not is_real_number(sample_rate) or sample_rate <= 0):
            raise ConfigError(f"Received an invalid value for `sample_rate`, expected the arrays' rate in Hz (a "
                              f"positive number). Received: sample_rate={sample_rate!r}")
        beam_width = check_beam_width(beam_width, flag="--beam")
        return map_in_groups(lambda group, offset: self._transcribe_group(group, offset, sample_rate, beam_width),
                             inputs, group_size=files_per_group, progress=progress, unit="file",
                             setting="files_per_group")

    def _prepare(self, source, is_path, sample_rate):
        """Load one input and cut it into chunks: ``(duration in s, [(start s, end s, log-mel features), ...])``."""
        preprocessor = self.preprocessor
        audio = preprocessor.load(source, source_rate=None if is_path else sample_rate, max_seconds=self.max_seconds)
        duration = preprocessor.seconds(audio.shape[0])
        chunks = split_on_silence(audio, sample_rate=preprocessor.sample_rate, max_chunk_seconds=self.max_chunk_seconds)
        if chunks and duration <= self.max_chunk_seconds:
            # A short file runs whole, as training utterances do (leading and trailing silence included).
            chunks = [(0, audio.shape[0])]
        pieces = []
        for start, end in chunks:
            self.predictor.check_fits(preprocessor.num_frames(end - start), hint=", or lower --max-chunk-seconds")
            features = preprocessor.features(audio[start:end])
            pieces.append((preprocessor.seconds(start), preprocessor.seconds(end), features))
        return duration, pieces

    def _transcribe_group(self, inputs, offset, sample_rate, beam_width):
        names, errors, pieces, durations = [], {}, [], []
        for index, source in enumerate(inputs):
            is_path = isinstance(source, (str, os.PathLike, bytes, bytearray, memoryview))
            name = input_name(source, offset + index)
            names.append(name)
            prepared, error = guard_input(lambda: self._prepare(source, is_path, sample_rate), name,
                                          memory_hint="pass --max-seconds or split the file")
            if error is not None:
                errors[index] = error
                durations.append(0.0)
                continue
            duration, file_pieces = prepared
            durations.append(duration)
            pieces += [(index, *piece) for piece in file_pieces]
        decoded = self.predictor.predict([p[3] for p in pieces], beam_width=beam_width, decoder=self.decoder)
        segments = {i: [] for i in range(len(inputs))}
        for (index, start, end, _), d in zip(pieces, decoded):
            words = _words(d, start, self.seconds_per_frame)
            if words:
                segments[index].append(Segment(start, end, " ".join(w.text for w in words), words, d.confidence))
        results = []
        for index, name in enumerate(names):
            if index in errors:
                results.append(Transcript.failed(name, errors[index]))
            else:
                text = " ".join(s.text for s in segments[index])
                results.append(Transcript(name, text, tuple(segments[index]), durations[index]))
        return results
