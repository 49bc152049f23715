"""Read speech corpora and manifests as a list of :class:`Utterance` (audio path + transcript).

:func:`load_speech_dataset` recognises, from what it finds at the path:

- **LJSpeech**: a folder with ``metadata.csv`` (``id|text|normalized text`` lines, no header) and ``wavs/<id>.wav``
  (the normalized text is used when present). A ``voices.tsv`` beside it (written by
  :func:`speech.synth.synthesize_dataset`) supplies the speakers.
- **LibriSpeech**: ``*.trans.txt`` files anywhere below the folder, lines ``<utterance-id> TEXT`` with audio
  ``<utterance-id>.flac`` (or ``.wav``) beside them; the speaker is the id's first ``-`` field.
- **Common Voice**: a ``.tsv`` file (or a folder holding exactly one) whose header has ``path`` and ``sentence``;
  audio in ``clips/`` beside it; ``client_id`` is the speaker.
- **JSONL manifest**: one JSON object per line with ``audio`` / ``audio_filepath`` / ``path`` and ``text``
  (or ``transcript``), optional ``duration`` (s) and ``speaker``.
- **CSV manifest**: a header naming an audio column (``audio``, ``audio_filepath``, ``path``, ``file``,
  ``filename``, ``wav``) and a text column (``text``, ``transcript``, ``transcription``, ``sentence``);
  optional ``duration`` and ``speaker``. Comma, tab, semicolon or pipe separated.

Relative audio paths resolve against the manifest's folder. Problems raise :class:`~common.errors.DataError`
naming the file, line and what to change.

>>> utterances = load_speech_dataset("LJSpeech-1.1")  # doctest: +SKIP
>>> utterances[0].audio.name, utterances[0].text     # doctest: +SKIP
"""

import csv
import dataclasses
import math
from pathlib import Path

from common.errors import DataError
from common.manifest import RowProblems, read_manifest

__all__ = ["Utterance", "load_speech_dataset", "LAYOUTS"]

LAYOUTS = ("LJSpeech folder (metadata.csv + wavs/)", "LibriSpeech folder (*.trans.txt)",
           "Common Voice .tsv (path, sentence) with clips/", "JSONL manifest (audio, text)",
           "CSV manifest (audio, text)")
"""The layouts :func:`load_speech_dataset` reads, as named in its errors."""

AUDIO_KEYS = ("audio", "audio_filepath", "path", "file", "filename", "wav", "audio_path")
TEXT_KEYS = ("text", "transcript", "transcription", "sentence")


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One recording and its transcript.

    Attributes:
        audio: the audio file.
        text: the transcript as the corpus gives it (normalize it with :func:`speech.text.normalize_transcript`).
        duration: seconds, when the corpus says (``None`` otherwise).
        speaker: the speaker's id, when the corpus says.
    """

    audio: Path
    text: str
    duration: float = None
    speaker: str = None


_MISSING_HINT = "check that the audio was copied and that relative paths are relative to the manifest's folder"


def _problems(source):
    return RowProblems(source, files="audio files", missing_hint=_MISSING_HINT)


def _read_text(path):
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: not UTF-8 text (byte {error.start}); save it as UTF-8.") from None
    except OSError as error:
        raise DataError(f"{path}: cannot read it ({error.strerror or error}).") from None


def _resolve(base, value):
    path = Path(str(value).strip()).expanduser()
    return path if path.is_absolute() else base / path


def _duration(value):
    if value is None or value == "":
        return None
    duration = float(value)
    if not math.isfinite(duration) or duration < 0:
        raise ValueError(f"duration must be a non-negative number of seconds, got {value!r}")
    return duration


def _speaker(value):
    return None if value is None or str(value).strip() == "" else str(value).strip()


def _finish(utterances, source, problems):
    problems.raise_if_any()
    if not utterances:
        raise DataError(f"{source}: holds no utterances; expected at least one row with audio and text.")
    return utterances


# --- the layouts -------------------------------------------------------------------------------------------------


def _ljspeech(metadata):
    folder = metadata.parent
    speakers = {}
    voices = folder / "voices.tsv"
    if voices.is_file():
        for row in csv.DictReader(_read_text(voices).splitlines(), delimiter="\t"):
            if row.get("id") and row.get("voice"):
                speakers[row["id"]] = f"{row.get('engine') or 'tts'}:{row['voice']}"
    problems, utterances = _problems(metadata), []
    for number, line in enumerate(_read_text(metadata).splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 2 or not fields[0].strip():
            problems.bad(number, "expected 'id|text|normalized text'")
            continue
        key = fields[0].strip()
        text = (fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]).strip()
        if not text:
            problems.bad(number, "empty transcript")
            continue
        audio = folder / "wavs" / f"{key}.wav"
        if problems.check_file(number, audio, f"wavs/{key}.wav"):
            utterances.append(Utterance(audio, text, None, speakers.get(key)))
    return _finish(utterances, metadata, problems)


def _librispeech(root, transcripts):
    problems, utterances = _problems(root), []
    for transcript in transcripts:
        where = transcript.name if root == transcript else str(transcript.relative_to(root))
        for number, line in enumerate(_read_text(transcript).splitlines(), start=1):
            if not line.strip():
                continue
            key, _, text = line.strip().partition(" ")
            if not text.strip():
                problems.bad(f"{where}:{number}", "expected '<utterance-id> TEXT'")
                continue
            audio = transcript.parent / f"{key}.flac"
            if not audio.is_file() and (transcript.parent / f"{key}.wav").is_file():
                audio = transcript.parent / f"{key}.wav"
            if problems.check_file(f"{where}:{number}", audio, audio.name):
                utterances.append(Utterance(audio, text.strip(), None, key.split("-")[0]))
    return _finish(utterances, root, problems)


def _pick(fields, keys):
    lowered = {f.strip().lower(): f for f in fields if f}
    return next((lowered[k] for k in keys if k in lowered), None)


def _manifest(path, *, base=None, audio_keys=AUDIO_KEYS, text_keys=TEXT_KEYS, speaker_keys=("speaker",)):
    """Utterances of a TSV, CSV or JSONL manifest (:func:`common.manifest.read_manifest`), with their optional
    duration and speaker; every bad row is reported at once."""
    rows, problems = read_manifest(path, source_keys=audio_keys, text_keys=text_keys, base=base,
                                   extra_keys=("duration", *speaker_keys), source_name="audio")
    problems.missing_hint = _MISSING_HINT
    utterances = []
    for row in rows:
        try:
            duration = _duration(row.extras.get("duration"))
        except (TypeError, ValueError) as error:
            problems.bad(row.line, str(error))
            continue
        speaker = next((row.extras[key] for key in speaker_keys if row.extras.get(key) not in (None, "")), None)
        utterances.append(Utterance(row.source, row.text.strip(), duration, _speaker(speaker)))
    return _finish(utterances, path, problems)


def _common_voice(tsv):
    base = tsv.parent / "clips" if (tsv.parent / "clips").is_dir() else tsv.parent
    return _manifest(tsv, base=base, audio_keys=("path",), text_keys=("sentence",),
                     speaker_keys=("client_id", "speaker"))


# --- detection ---------------------------------------------------------------------------------------------------


def _is_ljspeech_metadata(path):
    first = next((line for line in _read_text(path).splitlines() if line.strip()), "")
    if "|" not in first:
        return False
    fields = [f.strip().lower() for f in first.split("|")]
    return not (set(fields) & set(AUDIO_KEYS) and set(fields) & set(TEXT_KEYS))  # a header: a pipe CSV manifest


def _unknown(path, what):
    raise DataError(f"{path}: {what}; supported layouts: {'; '.join(LAYOUTS)}. Point --data at one of them.")


def _load_file(path):
    name, suffix = path.name.lower(), path.suffix.lower()
    if name.endswith(".trans.txt"):
        return _librispeech(path, [path])
    if suffix in (".jsonl", ".json", ".ndjson"):
        return _manifest(path)
    if suffix == ".tsv":
        header = next(iter(_read_text(path).splitlines()), "").split("\t")
        if _pick(header, ("path",)) and _pick(header, ("sentence",)):
            return _common_voice(path)
        return _manifest(path)
    if suffix in (".csv", ".txt"):
        if _is_ljspeech_metadata(path):
            return _ljspeech(path)
        return _manifest(path)
    _unknown(path, f"unknown manifest type {suffix or '(no extension)'!r}")


def _load_folder(folder):
    metadata = folder / "metadata.csv"
    if metadata.is_file():
        return _ljspeech(metadata) if _is_ljspeech_metadata(metadata) else _manifest(metadata)
    transcripts = sorted(folder.rglob("*.trans.txt"))
    if transcripts:
        return _librispeech(folder, transcripts)
    candidates = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in (".tsv", ".jsonl", ".csv"))
    if len(candidates) == 1:
        return _load_file(candidates[0])
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates[:8])
        raise DataError(f"{folder}: several manifests here ({names}); pass the one to use, e.g. "
                        f"{candidates[0]}. Received: path={str(folder)!r}")
    _unknown(folder, "no dataset found in this folder" if any(folder.iterdir()) else "the folder is empty")


def load_speech_dataset(path):
    """Utterances of a corpus folder or manifest, in file order (layout detected, see this module's docstring).

    Parameters
    ----------
    path : str or os.PathLike
        A folder (LJSpeech, LibriSpeech, or holding exactly one ``.tsv`` / ``.jsonl`` / ``.csv`` manifest) or a
        manifest file.

    Returns
    -------
    utterances : list of Utterance
        Audio paths exist (checked); texts are as the corpus gives them.

    Raises
    ------
    DataError
        Missing path; empty folder or unknown layout; malformed rows; rows whose audio file is missing (the first
        few are listed, with the count); no utterances.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; expected a dataset folder or manifest. "
                        f"Received: path={str(path)!r}")
    return _load_folder(path) if path.is_dir() else _load_file(path)
