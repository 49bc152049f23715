"""Are long recordings transcribed as well as short ones? The same speech, as short files and as long files.

    python benchmarks/speech_long_files.py                          # 4 held-out voices, ~4 minutes each
    python benchmarks/speech_long_files.py --voices flite:slt --utterances-per-file 120 --model my.keras

For each voice (default: one voice from each family the default speech model's recipe held out,
``recipes/speech_default.py: HELD_OUT_FAMILIES``), synthesizes ``--utterances-per-file`` sentences
(``speech.synth.synthesize_dataset``; ``--text moby``: Moby-Dick chapters 61-135, a text source no training text or
language model of this project holds (``recipes/lm_eval_data.py``); ``--text grammar``: ``common.corpus.TextPool``'s
sentences, the kind the model trained on), then joins them, in order, with pauses
of ``--pause`` seconds (drawn per gap, uniform) into one long WAV file per voice. Both are transcribed with the same
``Transcriber``:

- short: every utterance as its own file; the hypotheses are joined in order;
- long: the one long file, which the Transcriber splits at silences into chunks of at most ``--max-chunk-seconds``.

WER and CER are computed over the whole joined reference of each voice (``speech.text.normalize_transcript``), so
that a word lost or doubled at a chunk boundary counts. Real-time factor = processing seconds / audio seconds,
after a warm-up call; peak resident memory is the process's ``ru_maxrss``.
"""

import argparse
import resource
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import markdown_table, print_header, set_tf_threads, stopwatch  # noqa: E402


def one_voice_per_family(wanted):
    """The first variant of each wanted family (default: the recipe's held-out families)."""
    from benchmarks.speech_vs_pocketsphinx import pick_voices

    chosen = {}
    for voice in pick_voices(wanted):
        chosen.setdefault(voice.family, voice)
    return list(chosen.values())


def join_utterances(paths, out_path, pause_range, seed):
    """Write the utterances, in order, with random pauses between them, as one 16 kHz WAV; returns seconds."""
    import numpy as np
    import soundfile
    from speech.audio import SAMPLE_RATE, load_audio

    rng = np.random.default_rng(seed)
    pieces = []
    for index, path in enumerate(paths):
        if index:
            pieces.append(np.zeros(int(rng.uniform(*pause_range) * SAMPLE_RATE), np.float32))
        pieces.append(load_audio(path))
    audio = np.concatenate(pieces)
    soundfile.write(str(out_path), audio, SAMPLE_RATE, subtype="PCM_16")
    return len(audio) / SAMPLE_RATE


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="speech model file (default: the shipped speech/models/default.keras)")
    parser.add_argument("--voices", nargs="+", help="voice families or voices (default: one voice of each held-out "
                        "family of the default model's recipe)")
    parser.add_argument("--utterances-per-file", type=int, default=50, help="sentences per long file (default 50)")
    parser.add_argument("--pause", type=float, nargs=2, default=(0.2, 0.8), metavar=("MIN", "MAX"),
                        help="pause between sentences in the long file, in seconds (default 0.2 0.8)")
    parser.add_argument("--max-chunk-seconds", type=float, default=10.0,
                        help="the Transcriber's chunk limit (default 10, the Transcriber's own)")
    parser.add_argument("--text", choices=("moby", "grammar"), default="moby",
                        help="held-out Moby-Dick sentences (default) or the grammar sentences of the training kind")
    parser.add_argument("--lm", default="none",
                        help="language model: none (greedy, the default: #12 measures the acoustic model), default, "
                             "or an .lm file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tf-threads", type=int, help="TensorFlow threads (default: TF's own)")
    parser.add_argument("--work", help="keep the audio here (reused when already there)")
    args = parser.parse_args()
    if args.utterances_per_file < 2 or not 0 <= args.pause[0] <= args.pause[1]:
        parser.error(f"--utterances-per-file >= 2 and 0 <= MIN <= MAX pause. Received: "
                     f"--utterances-per-file={args.utterances_per_file}, --pause={args.pause}")

    print_header("Speech: long files against the same speech as short files", ("tensorflow", "keras"))
    set_tf_threads(args.tf_threads)
    import numpy as np

    from common.metrics import cer, wer
    from speech import Transcriber
    from speech.data import load_speech_dataset
    from speech.synth import synthesize_dataset
    from speech.text import normalize_transcript

    transcriber = Transcriber.load(args.model, max_chunk_seconds=args.max_chunk_seconds,
                                   lm=args.lm)
    texts = None
    if args.text == "moby":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "recipes"))
        from lm_eval_data import TEST_CHAPTERS, moby_dick_sentences

        texts = moby_dick_sentences(TEST_CHAPTERS)
    print(f"text: {args.text}; decoding: {'greedy' if args.lm == 'none' else 'LM ' + args.lm}", flush=True)
    work = Path(args.work or tempfile.mkdtemp(prefix="speech-long-"))
    rows = []
    totals = {"short": [[], [], 0.0], "long": [[], [], 0.0]}  # refs, hyps, seconds
    audio_total = 0.0
    for number, voice in enumerate(one_voice_per_family(args.voices)):
        folder = work / f"voice{number}"
        if not (folder / "metadata.csv").is_file():
            chosen = None if texts is None else [texts[i] for i in np.random.default_rng(args.seed + number).choice(
                len(texts), args.utterances_per_file, replace=False)]
            synthesize_dataset(folder, args.utterances_per_file, voices=[voice], seed=args.seed + number,
                               texts=chosen)
        utterances = load_speech_dataset(folder)
        paths = [str(u.audio) for u in utterances]
        reference = " ".join(normalize_transcript(u.text) for u in utterances)
        long_path = folder / "long.wav"
        seconds = join_utterances(paths, long_path, args.pause, args.seed + number)
        audio_total += seconds

        transcriber.transcribe(paths[:4])  # warm-up
        with stopwatch() as short_watch:
            short = " ".join(normalize_transcript(t.text) for t in transcriber.transcribe(paths))
        with stopwatch() as long_watch:
            result = transcriber.transcribe([str(long_path)])[0]
        if not result.ok:
            sys.exit(f"{long_path}: {result.error}")
        long = normalize_transcript(result.text)
        for mode, hyp, watch in (("short", short, short_watch), ("long", long, long_watch)):
            totals[mode][0].append(reference)
            totals[mode][1].append(hyp)
            totals[mode][2] += watch.seconds
        rows.append([str(voice), str(len(paths)), f"{seconds / 60:.1f} min",
                     f"{wer([reference], [short]):.1%}", f"{wer([reference], [long]):.1%}",
                     f"{cer([reference], [short]):.1%}", f"{cer([reference], [long]):.1%}",
                     f"{short_watch.seconds / seconds:.4f}", f"{long_watch.seconds / seconds:.4f}"])
        print(f"{voice}: {seconds / 60:.1f} min done", flush=True)

    short_refs, short_hyps, short_seconds = totals["short"]
    long_refs, long_hyps, long_seconds = totals["long"]
    rows.append(["all", str(sum(int(r[1]) for r in rows)), f"{audio_total / 60:.1f} min",
                 f"{wer(short_refs, short_hyps):.1%}", f"{wer(long_refs, long_hyps):.1%}",
                 f"{cer(short_refs, short_hyps):.1%}", f"{cer(long_refs, long_hyps):.1%}",
                 f"{short_seconds / audio_total:.4f}", f"{long_seconds / audio_total:.4f}"])
    print()
    print(markdown_table(["voice", "sentences", "audio", "WER short", "WER long", "CER short", "CER long",
                          "RTF short", "RTF long"], rows))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nPeak resident memory of the process: {peak:.0f} MB; audio kept in {work}")


if __name__ == "__main__":
    main()
