"""Recipe of the shipped default speech model (``speech/models/default.keras``). Re-runnable on CPU or GPU.

    python recipes/speech_default.py --work runs/speech_default --utterances 4000 --max-minutes 80

1. Lists the text-to-speech voices on this machine (espeak-ng and its variants, mbrola through espeak-ng, flite,
   festival: see MODELS.md for the Debian packages) and holds out whole voice families for validation, so the
   validation figures are on voices the model never heard.
2. Synthesizes ``--utterances`` training and ``--val-utterances`` validation sentences (random rate and pitch per
   utterance; numbers are spoken as words). The text mixes the shared pool's grammar sentences
   (``common.corpus.TextPool.sentences``) with real prose, ``--prose-fraction`` of it: State of the Union and
   fortunes sentences (``recipes/english_text.py``) and runs of common English words. A model trained on the
   grammar sentences alone learns their small vocabulary and fails on other text (see MODELS.md).
   ``--prose-test-utterances`` more, Moby-Dick sentences (a source no training text contains) read by the held-out
   voices, go to ``WORK/prose_test`` for an honest figure on sentences of another kind.
   (Until November 2026 the prose came from Python docstrings, ``common.prose``; our held-out evaluation text
   overlaps them, so they are no longer training text.)
3. Trains with ``speech train`` (the same code path users run; on-the-fly speed, gain, noise at 5-25 dB SNR and
   reverberation augmentation plus SpecAugment) into ``--work``, then copies the best model to ``--ship``.
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "recipes"))

from _train_and_ship import train_and_ship  # noqa: E402
from common.corpus import TextPool  # noqa: E402
from english_text import sentences  # noqa: E402
from speech import defaults  # noqa: E402
from speech.synth import default_voices, synthesize_dataset  # noqa: E402


def mixed_texts(n, *, seed, prose_fraction):
    """``n`` texts: grammar sentences, and ``prose_fraction`` of broad prose and common-word runs (2:1)."""
    import numpy as np

    pool = TextPool(seed)
    n_prose = int(round(n * prose_fraction))
    texts = pool.sentences(n - n_prose, seed=seed)  # with n_prose == 0: exactly speech.synth's default texts
    if n_prose:
        rng = np.random.default_rng(seed)
        prose = sentences("sotu", max_words=22) + sentences("fortunes", max_words=22)
        rng.shuffle(prose)
        n_words = n_prose // 3
        texts += prose[: n_prose - n_words]
        texts += [" ".join(pool._word(rng) for _ in range(int(rng.integers(4, 13)))).capitalize() + "."
                  for _ in range(n - len(texts))]
        rng.shuffle(texts)
    return texts


HELD_OUT_FAMILIES = ("espeak-ng:en-gb-scotland", "espeak-ng:en-us-nyc", "flite:slt", "mbrola:mb-us2",
                     "festival:kal_diphone", "pico:en-GB", "rhvoice:slt")
"""Voice families never trained on (RHVoice's slt is the CMU ARCTIC speaker behind flite's slt)."""

KOKORO_HELD_OUT = ("kokoro:jf_nezumi",)
"""Kokoro's held-out speaker (``recipes/speech_broad.py --kokoro-utterances``): never trained on, alone or in a blend
(``speech.synth.matches_any``). Kokoro is not among the engines this recipe draws from (~1 CPU s per audio s)."""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="runs/speech_default")
    parser.add_argument("--ship", default=str(ROOT / "speech" / "models" / "default.keras"))
    parser.add_argument("--utterances", type=int, default=4000)
    parser.add_argument("--val-utterances", type=int, default=300)
    parser.add_argument("--max-minutes", type=float, default=80)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--units", type=int, default=160,
                        help="stage 1's width (default 160); stage 11 widened the shipped model to "
                             f"{defaults.ENCODER['units']} (MODELS.md)")
    parser.add_argument("--layers", type=int, default=defaults.ENCODER["num_layers"])
    parser.add_argument("--prose-fraction", type=float, default=0.4,
                        help="share of training text from broad prose and word runs (default 0.4)")
    parser.add_argument("--prose-test-utterances", type=int, default=200,
                        help="held-out-voice utterances of Moby-Dick sentences (a held-out source), in WORK/prose_test")
    parser.add_argument("--resume", action="store_true", help="resume training (skips synthesis)")
    args = parser.parse_args()

    work = Path(args.work)
    train_dir, val_dir = work / "train", work / "val"
    if not args.resume:
        voices = default_voices()
        held = [v for v in voices if v.family in HELD_OUT_FAMILIES]
        kept = [v for v in voices if v.family not in HELD_OUT_FAMILIES]
        if not held:  # a machine with espeak-ng only: hold out one accent
            held = [v for v in voices if v.family == "espeak-ng:en-gb-scotland"]
            kept = [v for v in voices if v not in held]
        work.mkdir(parents=True, exist_ok=True)
        (work / "voices.json").write_text(json.dumps(
            {"train_families": sorted({v.family for v in kept}), "validation_families": sorted({v.family for v in held})},
            indent=2))
        print(f"{len(kept)} training voices, {len(held)} held-out validation voices", flush=True)
        synthesize_dataset(train_dir, args.utterances, voices=kept, seed=11,
                           texts=mixed_texts(args.utterances, seed=11, prose_fraction=args.prose_fraction))
        synthesize_dataset(val_dir, args.val_utterances, voices=held, seed=12)
        if args.prose_test_utterances:
            synthesize_dataset(work / "prose_test", args.prose_test_utterances, voices=held, seed=41,
                               texts=sentences("moby_dick", min_words=4, max_words=22)[::7])
    options = ["--data", str(train_dir), "--val", str(val_dir),
               "--epochs", str(args.epochs), "--max-minutes",
               str(args.max_minutes), "--batch-size", "16", "--patience", "8", "--units", str(args.units),
               "--layers", str(args.layers), "--quiet"]
    return train_and_ship("speech", work, args.ship, options, resume=args.resume)


if __name__ == "__main__":
    sys.exit(main())
