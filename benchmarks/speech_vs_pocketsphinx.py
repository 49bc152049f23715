"""Our speech Transcriber against PocketSphinx 5 (PyPI ``pocketsphinx``, its bundled en-us model).

    python benchmarks/speech_vs_pocketsphinx.py                     # 100 utterances, shipped model, held-out voices
    python benchmarks/speech_vs_pocketsphinx.py --data my_ljspeech --noise none --model my.keras

Synthesizes ``--utterances`` sentences (``speech.synth.synthesize_dataset``, text from ``common.corpus.TextPool``)
with the voice families the default speech model's recipe held out (``recipes/speech_default.py:
HELD_OUT_FAMILIES``), or reads ``--data`` (any layout ``speech.data.load_speech_dataset`` reads). Each ``--noise``
kind adds a copy of the set with that noise at ``--snr`` dB (``speech.features.add_noise``). Real human recordings
found on the machine (the alsa-utils speaker-test prompts in /usr/share/sounds/alsa, "Front Left" ...; Debian
``pocketsphinx-testdata``'s LibriVox sentences and card names: evaluation only) and any
``--human`` data set are transcribed too. Both systems read the same 16-bit WAV files (resampled to 16 kHz by
``speech.audio.load_audio``). References and outputs of both systems go through
``speech.text.normalize_transcript`` before WER/CER. Real-time factor = processing seconds / audio seconds
(steady state: after a warm-up call), one process; PocketSphinx is single-threaded.
"""

import argparse
import importlib.util
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import markdown_table, print_header, set_tf_threads, stopwatch  # noqa: E402

ALSA_PROMPTS = Path("/usr/share/sounds/alsa")  # alsa-utils: one woman reading the speaker names
POCKETSPHINX_TESTDATA = Path("/usr/share/pocketsphinx/test/data")  # Debian pocketsphinx-testdata: evaluation only


def pocketsphinx_recordings():
    """(paths, references) of the transcribed human recordings in Debian's ``pocketsphinx-testdata``: five
    LibriVox sentences (Sense and Sensibility) and five spoken card names. Evaluation only, never training."""
    import re

    paths, refs = [], []
    for folder, transcripts in (("librivox", "transcription"), ("cards", "cards.transcription")):
        listing = POCKETSPHINX_TESTDATA / folder / transcripts
        if not listing.is_file():
            continue
        for line in listing.read_text(encoding="utf-8").splitlines():
            match = re.fullmatch(r"\s*<s>(.*)</s>\s*\((\S+)\)\s*", line)
            wav = POCKETSPHINX_TESTDATA / folder / f"{match.group(2)}.wav" if match else None
            if wav is not None and wav.is_file():
                paths.append(str(wav))
                refs.append(" ".join(match.group(1).split()))
    return paths, refs


def pick_voices(wanted):
    """Voices of the wanted families or names (default: the recipe's held-out families, with its fallback)."""
    from recipes.speech_default import HELD_OUT_FAMILIES
    from speech.synth import list_voices

    voices = list_voices()
    names = set(wanted or HELD_OUT_FAMILIES)
    chosen = [v for v in voices if str(v) in names or v.family in names]
    if not chosen and not wanted:  # the recipe's fallback on a machine with espeak-ng only
        chosen = [v for v in voices if v.family == "espeak-ng:en-gb-scotland"]
    if not chosen:
        sys.exit(f"No installed voice matches {sorted(names)}; see speech.synth.list_voices() (apt-get install "
                 "espeak-ng for the least).")
    return chosen


def load_set(folder):
    """(paths, references, speakers) of a data set folder or manifest."""
    from speech.data import load_speech_dataset
    from speech.text import normalize_transcript

    utterances = load_speech_dataset(folder)
    return ([str(u.audio) for u in utterances], [normalize_transcript(u.text) for u in utterances],
            [u.speaker for u in utterances])


def noisy_copy(paths, out_dir, kind, snr, seed, *, reverb=False):
    import numpy as np
    import soundfile
    from speech.audio import SAMPLE_RATE, load_audio
    from speech.features import add_noise, add_reverb

    out_dir.mkdir(parents=True, exist_ok=True)
    copies = []
    for index, path in enumerate(paths):
        rng = np.random.default_rng([seed, index, sum(map(ord, kind))])
        audio = load_audio(path)
        if reverb:
            audio = add_reverb(audio, rng, rt60=(0.4, 0.6), drr_db=(3.0, 6.0))
        noisy = add_noise(audio, rng, snr_db=(snr, snr), kinds=(kind,))
        copies.append(str(out_dir / f"{index:05d}.wav"))
        soundfile.write(copies[-1], noisy, SAMPLE_RATE, subtype="PCM_16")
    return copies


def run_ours(transcriber, paths):
    """{mode: (texts, seconds)}: all files in one call (batch) and one file per call."""
    transcriber.transcribe(paths[:16])  # warm-up: traces the network, first calls of the decoder
    with stopwatch() as batch:
        batch_texts = [t.text for t in transcriber.transcribe(paths)]
    single_texts = []
    with stopwatch() as single:
        for path in paths:
            single_texts.append(transcriber.transcribe([path])[0].text)
    return {"batch": (batch_texts, batch.seconds), "1 file/call": (single_texts, single.seconds)}


def run_pocketsphinx(decoder, paths):
    """(texts, seconds), decoding each file's 16 kHz int16 PCM as one utterance."""
    import numpy as np
    from speech.audio import load_audio

    def decode(path):
        pcm = np.round(np.clip(load_audio(path), -1.0, 1.0) * 32767).astype("<i2").tobytes()
        decoder.start_utt()
        decoder.process_raw(pcm, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""

    decode(paths[0])  # warm-up
    with stopwatch() as watch:
        texts = [decode(p) for p in paths]
    return texts, watch.seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="speech model file (default: the shipped speech/models/default.keras)")
    parser.add_argument("--utterances", type=int, default=100, help="utterances to synthesize")
    parser.add_argument("--data", help="use this data set instead of synthesizing (LJSpeech folder, manifest, ...)")
    parser.add_argument("--voices", nargs="+", help="voice families or voices to synthesize with, e.g. "
                        "espeak-ng:en-us-nyc flite:slt (default: the recipe's held-out families)")
    parser.add_argument("--noise", default="white,babble",
                        help="comma-separated noise kinds (white, pink, babble), one noisy set each; 'none': no noise")
    parser.add_argument("--snr", type=float, default=10.0, help="signal-to-noise ratio of the noisy sets, in dB")
    parser.add_argument("--reverb", action="store_true",
                        help="noisy sets are also reverberant (RT60 0.4-0.6 s, direct-to-reverberant 3-6 dB)")
    parser.add_argument("--human", nargs="*", default=[], help="extra data sets of real recordings to transcribe")
    parser.add_argument("--seed", type=int, default=0, help="seed of the texts, voices, rates, pitches and noise")
    parser.add_argument("--tf-threads", type=int, help="TensorFlow threads for our model (default: TF's own)")
    parser.add_argument("--lm", default="default",
                        help="our language model: default (the shipped one), none (greedy) or an .lm file")
    parser.add_argument("--work", help="keep the audio here (reused when it already holds the clean set)")
    parser.add_argument("--skip-pocketsphinx", action="store_true", help="our rows only")
    args = parser.parse_args()
    kinds = [k.strip() for k in args.noise.split(",") if k.strip() and k.strip() != "none"]
    if args.utterances < 1 or any(k not in ("white", "pink", "babble") for k in kinds):
        parser.error(f"--utterances > 0 and --noise among white, pink, babble, none. "
                     f"Received: --utterances={args.utterances}, --noise={args.noise!r}")

    print_header("Speech: our Transcriber vs PocketSphinx 5", ("tensorflow", "keras", "pocketsphinx"))
    set_tf_threads(args.tf_threads)
    from speech import Transcriber
    from speech.audio import duration_seconds
    from common.metrics import cer, wer
    from speech.text import normalize_transcript

    transcriber = Transcriber.load(args.model, lm=args.lm)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="speech-bench-"))
    try:
        if args.data:
            source, where = Path(args.data), f"from {args.data}"
        else:
            source = work / "clean"
            voices = pick_voices(args.voices)
            where = "synthesized with " + ", ".join(sorted({v.family for v in voices}))
            if (source / "metadata.csv").is_file():
                where += f" (reused from {source})"
            else:
                from speech.synth import synthesize_dataset

                synthesize_dataset(source, args.utterances, voices=voices, seed=args.seed)
        paths, refs, speakers = load_set(source)
        sets = {"clean": (paths, refs)}
        for kind in kinds:
            name = f"{kind} noise {args.snr:g} dB" + (" + reverb" if args.reverb else "")
            folder = work / f"{kind}{args.snr:g}{'r' if args.reverb else ''}"
            sets[name] = (noisy_copy(paths, folder, kind, args.snr, args.seed, reverb=args.reverb), refs)
        human = sorted(ALSA_PROMPTS.glob("*_*.wav"))  # Front_Left.wav says "front left"; Noise.wav is left out
        if human:
            sets["human: alsa-utils prompts"] = ([str(p) for p in human],
                                                 [normalize_transcript(p.stem.replace("_", " ")) for p in human])
        recorded = pocketsphinx_recordings()
        if recorded[0]:
            sets["human: pocketsphinx-testdata"] = recorded
        for extra in args.human:
            sets[f"human: {extra}"] = load_set(extra)[:2]
        print(f"{len(paths)} utterances {where}; noisy copies: {', '.join(kinds) or 'none'}; seed {args.seed}\n",
              flush=True)

        decoder, problem = None, "--skip-pocketsphinx" if args.skip_pocketsphinx else None
        if not args.skip_pocketsphinx and importlib.util.find_spec("pocketsphinx") is None:
            problem = "not installed; `pip install pocketsphinx` (its wheel bundles the en-us model)"
        elif not args.skip_pocketsphinx:
            from pocketsphinx import Decoder

            decoder = Decoder(samprate=16000, loglevel="FATAL")  # the bundled en-us acoustic model, LM, dictionary
        outputs = {}  # (system, set) -> (normalized texts, seconds)
        for name, (set_paths, _) in sets.items():
            for mode, (texts, seconds) in run_ours(transcriber, set_paths).items():
                outputs[(f"ours ({mode})", name)] = ([normalize_transcript(t) for t in texts], seconds)
            if decoder is not None:
                texts, seconds = run_pocketsphinx(decoder, set_paths)
                outputs[("PocketSphinx 5 en-us", name)] = ([normalize_transcript(t) for t in texts], seconds)
        if problem and not args.skip_pocketsphinx:
            print(f"No PocketSphinx rows: pocketsphinx is {problem}\n")

        audio = {name: sum(duration_seconds(p) for p in set_paths) for name, (set_paths, _) in sets.items()}
        rows = [[system, name, str(len(hyp)), f"{audio[name] / 60:.1f} min", f"{wer(sets[name][1], hyp):.1%}",
                 f"{cer(sets[name][1], hyp):.1%}", f"{seconds / audio[name]:.4f}"]
                for (system, name), (hyp, seconds) in outputs.items()]
        print(markdown_table(["system", "set", "files", "audio", "WER", "CER", "real-time factor"], rows))

        systems = [s for s, n in outputs if n == "clean" and "file/call" not in s]
        short = " / ".join(s.split(" (")[0].split(" 5")[0] for s in systems)
        synthetic = [n for n in sets if not n.startswith("human")]
        if speakers and all(speakers):
            rows = []
            for family in sorted({s.split("+")[0] for s in speakers}):
                index = [i for i, s in enumerate(speakers) if s.split("+")[0] == family]
                rows.append([family, str(len(index))] + [" / ".join(
                    f"{wer([refs[i] for i in index], [outputs[(s, n)][0][i] for i in index]):.1%}" for s in systems)
                    for n in synthetic])
            print(f"\nWER per voice family ({short}):\n")
            print(markdown_table(["voice family", "files"] + synthetic, rows))
        for name in (n for n in sets if n.startswith("human")):
            print(f"\n{name}:\n")
            rows = [[Path(p).name, ref] + [outputs[(s, name)][0][i] or "(nothing)" for s in systems]
                    for i, (p, ref) in enumerate(zip(*sets[name]))]
            print(markdown_table(["file", "reference"] + [s.split(" (")[0] for s in systems], rows))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
