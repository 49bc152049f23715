"""Load audio from files or arrays as 16 kHz mono float32 in [-1, 1], with one clear error per bad input.

Files are decoded with ``soundfile`` (WAV, FLAC, OGG/Vorbis/Opus, MP3, AIFF and the other formats libsndfile
knows), block by block so that memory stays at about the size of the 16 kHz result; ``audioread`` is tried only
for files libsndfile cannot open (with ffmpeg installed it adds M4A/AAC, WMA, ...). Arrays are ``(n,)`` or
``(n, channels)`` of int8/uint8/int16/int32 or float samples at ``source_rate`` Hz.

Every problem a user can cause (missing, empty, corrupt or non-audio file, no samples, NaN, too long, an absurd
sample rate) raises :class:`~common.errors.InputError` whose message starts with the file (or ``audio array``).

>>> import numpy as np
>>> y = load_audio(np.zeros((44100, 2), dtype=np.int16), source_rate=44100)
>>> y.shape, y.dtype
((16000,), dtype('float32'))
"""

import os
from pathlib import Path

import numpy as np

from common.errors import ConfigError, InputError
from common.input_files import bytes_as_file, check_input_file, describe_content, is_pil_image, reraise_for_bytes
from speech.defaults import SAMPLE_RATE

__all__ = [
    "SAMPLE_RATE",
    "MIN_SOURCE_RATE",
    "MAX_SOURCE_RATE",
    "MAX_CHANNELS",
    "load_audio",
    "duration_seconds",
]

# SAMPLE_RATE (speech.defaults): the rate (Hz) of every array this package works on.

MIN_SOURCE_RATE = 4000
"""Lowest accepted input rate (Hz): below it speech is not intelligible."""

MAX_SOURCE_RATE = 768000
"""Highest accepted input rate (Hz)."""

MAX_CHANNELS = 64
"""Most channels an input may have."""

_BLOCK_FRAMES = 1 << 18  # frames decoded at a time (~5 s at 48 kHz)
_MAX_PREALLOCATED_SECONDS = 4 * 3600  # a header announcing more than this is not trusted to size the output
_ARRAY_SOURCE = "audio array"

# First bytes of the containers we expect, to tell "corrupt WAV" from "not audio at all".
_MAGIC = (
    (b"RIFF", "WAV"), (b"RIFX", "WAV"), (b"RF64", "WAV"), (b"BW64", "WAV"), (b"fLaC", "FLAC"), (b"OggS", "OGG"),
    (b"ID3", "MP3"), (b"FORM", "AIFF"), (b"caff", "CAF"), (b".snd", "AU"), (b"riff", "W64"), (b"NIST_1A", "NIST"),
    (b"Creative Voice", "VOC"),
)
# libsndfile's MP3 decoder scans a whole non-MP3 file and prints notes on stderr: such files skip soundfile.
_MPEG_SUFFIXES = (".mp3", ".mp2", ".mpga", ".mpeg")
_HOW_TO_CONVERT = "convert it to WAV or FLAC, e.g. `sox IN -r 16000 -c 1 OUT.wav` or `ffmpeg -i IN -ar 16000 OUT.wav`"


def load_audio(source, *, sample_rate=SAMPLE_RATE, source_rate=None, max_seconds=None):
    """Load a file or an array as mono float32 samples in [-1, 1] at ``sample_rate``.

    Parameters
    ----------
    source : str, os.PathLike, bytes or np.ndarray [shape=(n,) or (n, channels)]
        An audio file, a file's content (``bytes``, decoded exactly as the file would be), or samples:
        int8/uint8/int16/int32 (full scale) or float (nominally in [-1, 1]; float
        input that peaks above 1 is scaled down to peak 1). A ``(channels, n)`` array (librosa's layout) is
        recognised when one axis has at most ``MAX_CHANNELS`` entries and the other more.
    sample_rate : int > 0
        Rate of the result (Hz).
    source_rate : number > 0, optional
        Rate of an array ``source`` (Hz); required for arrays, ignored for files (they carry their own).
    max_seconds : float > 0, optional
        Refuse inputs longer than this many seconds (checked from the header before decoding). None: no limit.

    Returns
    -------
    y : np.ndarray [shape=(n,), dtype=float32]
        Mono samples (channels averaged), resampled with soxr (high quality) when the rates differ.

    Raises
    ------
    InputError
        Missing, empty, corrupt or non-audio file; no samples; NaN or infinite samples; longer than
        ``max_seconds``; a sample rate outside [``MIN_SOURCE_RATE``, ``MAX_SOURCE_RATE``]; a bad array.
    ConfigError
        ``sample_rate`` or ``max_seconds`` themselves are invalid.
    """
    _check_target_rate(sample_rate)
    if max_seconds is not None and not (_is_number(max_seconds) and max_seconds > 0):
        raise ConfigError(f"`max_seconds` must be a positive number of seconds or None. Received: "
                          f"max_seconds={max_seconds!r}")
    if isinstance(source, (str, os.PathLike)):
        return _load_file(Path(source).expanduser(), sample_rate, max_seconds)
    if isinstance(source, (bytes, bytearray, memoryview)):
        with bytes_as_file(source) as path:
            try:
                return _load_file(Path(path), sample_rate, max_seconds)
            except InputError as error:
                raise reraise_for_bytes(error, path, "bytes") from None
    if isinstance(source, dict) or source is None or is_pil_image(source):
        raise InputError(f"expected a file path, a file's content (bytes) or a numpy array of samples. "
                         f"Received: type={type(source).__name__}", _ARRAY_SOURCE)
    return _load_array(source, sample_rate, source_rate, max_seconds)


def duration_seconds(path):
    """Duration of an audio file in seconds, read from its header (no decoding where the format allows).

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    seconds : float

    Raises
    ------
    InputError
        The file is missing, empty, corrupt or not audio.
    """
    path = Path(path).expanduser()
    _check_file(path)
    import soundfile

    try:
        if _sniff(path)[0] is None and path.suffix.lower() in _MPEG_SUFFIXES:
            raise ValueError("")
        info = soundfile.info(str(path))
    except Exception as error:  # noqa: BLE001 (libsndfile raises several types; all mean "cannot read")
        try:
            import audioread

            with audioread.audio_open(str(path)) as f:
                return float(f.duration)
        except Exception:  # noqa: BLE001
            raise _unreadable(path, error) from None
    if info.samplerate <= 0:
        raise _unreadable(path, None)
    return info.frames / info.samplerate


# --- files -------------------------------------------------------------------------------------------------------


def _check_file(path):
    check_input_file(path, expected="an audio file (WAV, FLAC, OGG, MP3)")


def _sniff(path):
    """The container the first bytes announce (``"WAV"``, ...), or None, and those bytes."""
    with open(path, "rb") as f:
        head = f.read(16)
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name, head
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        return "MP3", head
    return None, head


def _unreadable(path, error):
    """The InputError for a file that neither soundfile nor audioread could decode."""
    kind, head = _sniff(path)
    reason = getattr(error, "error_string", None) or (str(error) if error is not None else "")
    reason = reason.replace(str(path), "").replace("Error opening ''", "").strip(" :.")
    if "does not exist" in reason or "not a regular file" in reason:
        reason = ""  # libsndfile's words for "no decoder accepted it"; the file does exist
    detail = f" ({reason})" if reason else ""
    if kind is not None:
        return InputError(f"cannot decode this {kind} file: it looks corrupt or truncated{detail}; re-export it or "
                          f"{_HOW_TO_CONVERT}", path)
    return InputError(f"not an audio file this toolkit can read: its content is not WAV, FLAC, OGG or MP3 "
                      f"(it looks like {describe_content(head)}){detail}; {_HOW_TO_CONVERT}", path)


def _load_file(path, sample_rate, max_seconds):
    _check_file(path)
    import soundfile

    if _sniff(path)[0] is None and path.suffix.lower() in _MPEG_SUFFIXES:
        return _load_with_audioread(path, sample_rate, max_seconds, None)
    try:
        handle = soundfile.SoundFile(str(path))
    except Exception as error:  # noqa: BLE001 (LibsndfileError, RuntimeError, TypeError: all "cannot read")
        return _load_with_audioread(path, sample_rate, max_seconds, error)
    try:
        with handle:
            rate, channels, frames = handle.samplerate, handle.channels, handle.frames
            _check_source_rate(rate, path)
            _check_channels(channels, path)
            if max_seconds is not None and 0 < frames < (1 << 62):
                _check_length(frames / rate, max_seconds, path)
            blocks = _decode_blocks(path, sample_rate, rate, max_seconds,
                                    lambda: handle.read(_BLOCK_FRAMES, dtype="float32", always_2d=True),
                                    frames=frames if handle.seekable() else None)
            is_float = handle.subtype in ("FLOAT", "DOUBLE") or handle.format in ("OGG", "MPEG")
    except InputError:
        raise
    except MemoryError:
        raise InputError("not enough memory to decode this file; pass max_seconds or split the file", path) from None
    except Exception as error:  # noqa: BLE001 (a decoding error in the middle of the data)
        raise _unreadable(path, error) from None
    return _finish(blocks, path, scale_over=is_float)


def _load_with_audioread(path, sample_rate, max_seconds, soundfile_error):
    try:
        import audioread

        handle = audioread.audio_open(str(path))
    except Exception:  # noqa: BLE001 (NoBackendError, DecodeError, ...)
        raise _unreadable(path, soundfile_error) from None
    try:
        with handle:
            rate, channels = int(handle.samplerate), int(handle.channels)
            _check_source_rate(rate, path)
            _check_channels(channels, path)
            if max_seconds is not None and handle.duration:
                _check_length(float(handle.duration), max_seconds, path)
            buffers = iter(handle)
            pending = bytearray()

            def read():
                for buffer in buffers:
                    pending.extend(buffer)
                    usable = len(pending) // (2 * channels) * (2 * channels)
                    if usable:
                        data = np.frombuffer(bytes(pending[:usable]), dtype="<i2").reshape(-1, channels)
                        del pending[:usable]
                        return data.astype(np.float32) / 32768.0
                return np.zeros((0, channels), dtype=np.float32)

            blocks = _decode_blocks(path, sample_rate, rate, max_seconds, read)
    except InputError:
        raise
    except Exception:  # noqa: BLE001
        raise _unreadable(path, soundfile_error) from None
    return _finish(blocks, path, scale_over=False)


class _Output:
    """The resampled samples, written into one buffer sized from the header when the length is known (no second
    copy of a long recording at the end), else gathered as blocks and joined once."""

    def __init__(self, expected):
        self.buffer = None if expected is None else np.empty(expected, dtype=np.float32)  # pages: on first write
        self.blocks, self.size = [], 0

    def add(self, block):
        if self.buffer is not None and self.size + block.shape[0] > self.buffer.shape[0]:
            self.blocks, self.buffer = [self.buffer[:self.size]], None  # the header was wrong: gather instead
        if self.buffer is not None:
            self.buffer[self.size:self.size + block.shape[0]] = block
        else:
            self.blocks.append(np.array(block, dtype=np.float32))
        self.size += block.shape[0]

    def result(self):
        if self.buffer is not None:
            return self.buffer[:self.size]
        return np.concatenate(self.blocks) if len(self.blocks) != 1 else self.blocks[0]


def _decode_blocks(source, sample_rate, rate, max_seconds, read, *, frames=None):
    """Read ``(frames, channels)`` float blocks, mix each to mono, check it, and resample it as a stream.

    ``frames``: the input length the header announces, if any; it sizes the output buffer (up to
    ``_MAX_PREALLOCATED_SECONDS``), so that a long file is not held twice while its blocks are joined.
    """
    import soxr

    expected = None
    if frames is not None and 0 < frames <= _MAX_PREALLOCATED_SECONDS * rate:
        expected = int(np.ceil(frames * sample_rate / rate)) + 64
    output = _Output(expected)
    stream = None if rate == sample_rate else soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")
    total, peak = 0, 0.0
    while True:
        block = read()
        if block.shape[0] == 0:
            break
        mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
        _check_finite(mono, source, offset=total, rate=rate)
        total += mono.shape[0]
        if max_seconds is not None:
            _check_length(total / rate, max_seconds, source, at_least=True)
        peak = max(peak, float(np.max(np.abs(mono))))
        output.add(stream.resample_chunk(mono) if stream is not None else mono)
    if total == 0:
        raise InputError("holds no audio samples (0 frames); expected a recording of at least one sample", source)
    if stream is not None:
        output.add(stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    return [output.result()], peak


def _finish(decoded, source, *, scale_over):
    blocks, peak = decoded
    y = np.concatenate(blocks) if len(blocks) != 1 else blocks[0]
    if y.shape[0] == 0:  # a few input samples resampled to less than one output sample
        y = np.zeros(1, dtype=np.float32)
    if scale_over and peak > 1.0:
        y *= np.float32(1.0 / peak)
    np.clip(y, -1.0, 1.0, out=y)
    return np.ascontiguousarray(y, dtype=np.float32)


# --- arrays ------------------------------------------------------------------------------------------------------


def _load_array(source, sample_rate, source_rate, max_seconds):
    try:
        x = np.asarray(source)
    except Exception:  # noqa: BLE001 (ragged lists and other non-arrays)
        raise InputError(f"expected a numpy array of samples. Received: type={type(source).__name__}",
                         _ARRAY_SOURCE) from None
    if source_rate is None:
        raise InputError("the sample rate of an array is unknown; pass source_rate= (Hz), e.g. "
                         "load_audio(y, source_rate=44100). Received: source_rate=None", _ARRAY_SOURCE)
    _check_source_rate(source_rate, _ARRAY_SOURCE, name="source_rate")
    if x.ndim == 2 and x.shape[0] <= MAX_CHANNELS < x.shape[1]:
        x = x.T  # librosa's (channels, n)
    if x.ndim not in (1, 2):
        raise InputError(f"expected samples of shape (n,) or (n, channels). Received: shape={x.shape}",
                         _ARRAY_SOURCE)
    if x.ndim == 2:
        _check_channels(x.shape[1], _ARRAY_SOURCE)
    if x.shape[0] == 0:
        raise InputError(f"holds no audio samples; expected at least one. Received: shape={x.shape}", _ARRAY_SOURCE)
    x, is_float = _to_float(x)
    if max_seconds is not None:
        _check_length(x.shape[0] / source_rate, max_seconds, _ARRAY_SOURCE)
    mono = x.mean(axis=1, dtype=np.float32) if x.ndim == 2 else x.astype(np.float32, copy=False)
    if is_float:
        _check_finite(mono if x.ndim == 1 else x, _ARRAY_SOURCE, rate=source_rate)
    peak = float(np.max(np.abs(mono)))
    if source_rate != sample_rate:
        import soxr

        mono = soxr.resample(mono, source_rate, sample_rate).astype(np.float32, copy=False)
    else:
        mono = np.array(mono, dtype=np.float32)  # never hand back the caller's buffer
    return _finish(([mono], peak), _ARRAY_SOURCE, scale_over=is_float)


def _to_float(x):
    """Samples as float32 in [-1, 1] for integer types; (array, is_float)."""
    kind, size = x.dtype.kind, x.dtype.itemsize
    if kind == "f":
        return x.astype(np.float32, copy=False), True
    if kind == "i" and size in (1, 2, 4):
        return x.astype(np.float32) * np.float32(1.0 / (1 << (8 * size - 1))), False
    if kind == "u" and size == 1:
        return (x.astype(np.float32) - 128.0) * np.float32(1.0 / 128.0), False
    hint = (" (its full scale is ambiguous: NumPy makes int64 from Python integers)" if kind in "iu" else "")
    raise InputError(f"unsupported sample type{hint}; expected int8, uint8, int16, int32 or float samples, e.g. "
                     f"y.astype(np.int16) or float samples in [-1, 1]. Received: dtype={x.dtype}", _ARRAY_SOURCE)


# --- checks ------------------------------------------------------------------------------------------------------


def _is_number(value):
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _check_target_rate(sample_rate):
    if not (_is_number(sample_rate) and MIN_SOURCE_RATE <= sample_rate <= MAX_SOURCE_RATE):
        raise ConfigError(f"`sample_rate` must be a rate in Hz between {MIN_SOURCE_RATE} and {MAX_SOURCE_RATE}, "
                          f"usually {SAMPLE_RATE}. Received: sample_rate={sample_rate!r}")


def _check_source_rate(rate, source, *, name="sample_rate"):
    if not _is_number(rate) or not np.isfinite(rate) or rate <= 0:
        raise InputError(f"invalid sample rate; expected a positive number of Hz. Received: {name}={rate!r}",
                         source)
    if not MIN_SOURCE_RATE <= rate <= MAX_SOURCE_RATE:
        raise InputError(f"unsupported sample rate; expected {MIN_SOURCE_RATE} to {MAX_SOURCE_RATE} Hz "
                         f"(speech is usually 8000-48000 Hz); check the rate or resample the audio. "
                         f"Received: {name}={rate!r}", source)


def _check_channels(channels, source):
    if not 1 <= channels <= MAX_CHANNELS:
        raise InputError(f"unsupported channel count; expected 1 to {MAX_CHANNELS} channels. "
                         f"Received: channels={channels}", source)


def _check_length(seconds, max_seconds, source, *, at_least=False):
    if seconds > max_seconds:
        shown = f"more than {seconds:.1f}" if at_least else f"{seconds:.1f}"
        raise InputError(f"audio is {shown} s long, longer than the limit of {max_seconds:g} s; raise it with "
                         f"`speech transcribe --max-seconds N` or max_seconds= (None for no limit), or cut the file. "
                         f"Received: max_seconds={max_seconds}", source)


def _check_finite(samples, source, *, offset=0, rate=None):
    finite = np.isfinite(samples)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        first = int(np.argmin(finite.reshape(finite.shape[0], -1).all(axis=1))) + offset
        where = f" (first at {first / rate:.3f} s)" if rate else ""
        raise InputError(f"holds {bad} NaN or infinite sample(s){where}; expected finite samples. Fix the source, "
                         f"e.g. np.nan_to_num(y). Received: first_bad_index={first}", source)
