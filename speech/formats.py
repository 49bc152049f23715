"""Transcripts as plain text, JSON, subtitles (SRT, WebVTT) and tab-separated segments (TSV).

Times are seconds from the start of the file (float). Subtitle cues hold at most two lines of
``MAX_LINE_CHARS`` characters and last at most ``MAX_CUE_SECONDS``: longer segments are split between words,
at the words' own times when the segment has them, otherwise in proportion to the characters.

>>> segment = Segment(0.5, 2.0, "hello world", (Word("hello", 0.5, 1.0, 0.9), Word("world", 1.2, 2.0, 0.8)))
>>> print(to_srt([segment]))
1
00:00:00,500 --> 00:00:02,000
hello world
<BLANKLINE>
"""

import dataclasses
import json
import math

import numpy as np

__all__ = [
    "Word",
    "Segment",
    "MAX_LINE_CHARS",
    "MAX_LINES",
    "MAX_CUE_SECONDS",
    "to_txt",
    "to_json",
    "to_srt",
    "to_vtt",
    "to_tsv",
    "format_timestamp",
    "FORMATS",
    "render",
]

MAX_LINE_CHARS = 42
"""Longest subtitle line (characters), as in common broadcast guidelines."""

MAX_LINES = 2
"""Most lines per subtitle cue."""

MAX_CUE_SECONDS = 7.0
"""Longest subtitle cue (s)."""


@dataclasses.dataclass(frozen=True)
class Word:
    """A recognized word: ``text``, ``start`` and ``end`` in seconds, ``confidence`` in [0, 1]."""

    text: str
    start: float
    end: float
    confidence: float = 1.0


@dataclasses.dataclass(frozen=True)
class Segment:
    """A stretch of speech: ``start`` and ``end`` in seconds, its ``text``, its ``words`` (a tuple of
    :class:`Word`, possibly empty) and a ``confidence`` in [0, 1]."""

    start: float
    end: float
    text: str
    words: tuple = ()
    confidence: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "words", tuple(self.words))


def format_timestamp(seconds, *, separator=","):
    """``HH:MM:SS,mmm`` (SRT; ``separator="."`` gives WebVTT's ``HH:MM:SS.mmm``); negative times give 0.

    Parameters
    ----------
    seconds : float
    separator : str

    Returns
    -------
    timestamp : str
    """
    millis = max(0, int(round(float(seconds) * 1000.0))) if math.isfinite(float(seconds)) else 0
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_txt(segments):
    """One line of text per segment.

    Parameters
    ----------
    segments : iterable of Segment

    Returns
    -------
    text : str
        Ends with a newline unless there are no segments (then ``""``).
    """
    lines = [" ".join(s.text.split()) for s in segments]
    lines = [line for line in lines if line]
    return "\n".join(lines) + "\n" if lines else ""


def _plain(value):
    if isinstance(value, (Word, Segment)):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return round(float(value), 4) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if hasattr(value, "to_dict"):
        return _plain(value.to_dict())
    return value


def to_json(result, *, indent=None):
    """A transcript as JSON.

    Parameters
    ----------
    result : dict, an object with ``to_dict()`` (a ``Transcript``) or a list of Segment
        Segments and words inside are converted too; floats are rounded to 0.1 ms, NaN becomes null.
    indent : int, optional
        Pretty-print with this indent; None gives one line.

    Returns
    -------
    text : str
    """
    if isinstance(result, (list, tuple)):
        result = {"segments": list(result)}
    return json.dumps(_plain(result), ensure_ascii=False, indent=indent)


# --- subtitles ---------------------------------------------------------------------------------------------------


def _wrap(text):
    """Lines of a cue: one line if it fits, else two balanced lines, else greedy lines (a word longer than a line
    stays whole)."""
    if len(text) <= MAX_LINE_CHARS:
        return [text]
    words = text.split(" ")
    best = None
    for i in range(1, len(words)):
        first, second = " ".join(words[:i]), " ".join(words[i:])
        if len(first) <= MAX_LINE_CHARS and len(second) <= MAX_LINE_CHARS:
            longest = max(len(first), len(second))
            if best is None or longest < best[0]:
                best = (longest, [first, second])
    if best is not None:
        return best[1]
    lines = [""]
    for word in words:
        if lines[-1] and len(lines[-1]) + 1 + len(word) > MAX_LINE_CHARS:
            lines.append(word)
        else:
            lines[-1] = f"{lines[-1]} {word}".strip()
    return lines


def _fits(text):
    return len(_wrap(text)) <= MAX_LINES and all(len(line) <= MAX_LINE_CHARS for line in _wrap(text))


def _timed_words(segment):
    """(text, start, end) per word: the segment's own words, or its text's words timed by character count."""
    if segment.words:
        return [(w.text.strip(), float(w.start), float(w.end)) for w in segment.words if w.text.strip()]
    words = segment.text.split()
    total = sum(len(w) + 1 for w in words)
    start, span, out, done = float(segment.start), max(0.0, float(segment.end) - float(segment.start)), [], 0
    for word in words:
        begin = start + span * done / total
        done += len(word) + 1
        out.append((word, begin, start + span * (done - 1) / total))
    return out


def _cues(segments):
    """(start, end, lines) of each cue, in time order."""
    cues = []
    for segment in segments:
        text = " ".join(segment.text.split())
        if not text:
            continue
        if _fits(text) and segment.end - segment.start <= MAX_CUE_SECONDS:
            cues.append((float(segment.start), float(segment.end), _wrap(text)))
            continue
        group = []
        for word in _timed_words(segment):
            candidate = " ".join(w[0] for w in group + [word])
            if group and (not _fits(candidate) or word[2] - group[0][1] > MAX_CUE_SECONDS):
                cues.append((group[0][1], group[-1][2], _wrap(" ".join(w[0] for w in group))))
                group = []
            group.append(word)
        if group:
            cues.append((group[0][1], group[-1][2], _wrap(" ".join(w[0] for w in group))))
    # Display order, end after start, no overlap with the next cue.
    cues.sort(key=lambda c: c[0])
    fixed = []
    for index, (start, end, lines) in enumerate(cues):
        start = max(start, fixed[-1][1]) if fixed else max(0.0, start)
        end = max(end, start + 0.001)
        if index + 1 < len(cues):
            end = max(start + 0.001, min(end, cues[index + 1][0]))
        fixed.append((start, end, lines))
    return fixed


def to_srt(segments):
    """SubRip subtitles: numbered cues ``HH:MM:SS,mmm --> HH:MM:SS,mmm``, separated by blank lines.

    Parameters
    ----------
    segments : iterable of Segment

    Returns
    -------
    text : str
        Cues of at most two lines of ``MAX_LINE_CHARS`` and ``MAX_CUE_SECONDS``; ``""`` for no speech.
    """
    blocks = []
    for number, (start, end, lines) in enumerate(_cues(segments), start=1):
        blocks.append(f"{number}\n{format_timestamp(start)} --> {format_timestamp(end)}\n" + "\n".join(lines))
    return "\n\n".join(blocks) + "\n" if blocks else ""


def _vtt_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(segments):
    """WebVTT subtitles: a ``WEBVTT`` header, then cues ``HH:MM:SS.mmm --> HH:MM:SS.mmm`` separated by blank lines.

    Parameters
    ----------
    segments : iterable of Segment

    Returns
    -------
    text : str
        Same cues as :func:`to_srt`; ``&``, ``<`` and ``>`` escaped.
    """
    blocks = ["WEBVTT"]
    for start, end, lines in _cues(segments):
        blocks.append(f"{format_timestamp(start, separator='.')} --> {format_timestamp(end, separator='.')}\n"
                      + "\n".join(_vtt_escape(line) for line in lines))
    return "\n\n".join(blocks) + "\n"


def to_tsv(segments):
    """Tab-separated ``start``, ``end`` (integer milliseconds) and ``text``, one segment per row, after a header row
    (the layout of Whisper's ``--output_format tsv``).

    Parameters
    ----------
    segments : iterable of Segment

    Returns
    -------
    text : str
        The header row alone when there are no segments.
    """
    rows = ["start\tend\ttext"]
    for segment in segments:
        text = " ".join(segment.text.split())
        if text:
            rows.append(f"{_millis(segment.start)}\t{_millis(segment.end)}\t{text}")
    return "\n".join(rows) + "\n"


def _millis(seconds):
    seconds = float(seconds)
    return max(0, int(round(seconds * 1000.0))) if math.isfinite(seconds) else 0


FORMATS = ("txt", "json", "srt", "vtt", "tsv")
"""The output formats of a transcript (``speech transcribe --format``, the HTTP service's ``format``)."""


def render(result, format):
    """One transcript (a :class:`~speech.transcriber.Transcript`) in one of :data:`FORMATS`: text ending in a
    newline. ``json`` is ``result.to_dict()`` on one line (a failed input's too, with its error); the others write
    the segments. ``speech transcribe`` and the HTTP service (``speech serve``) both write through this function."""
    if format == "txt":
        return result.text + "\n"
    if format == "json":
        return json.dumps(result.to_dict(), ensure_ascii=False) + "\n"
    if format not in FORMATS:
        raise ValueError(f"Unknown transcript format, expected one of {FORMATS}. Received: format={format!r}")
    return {"srt": to_srt, "vtt": to_vtt, "tsv": to_tsv}[format](result.segments)
