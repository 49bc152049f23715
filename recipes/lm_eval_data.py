"""Held-out speech for tuning and testing language-model decoding (synthesized; kept under ``--root``, not in git).

    python recipes/lm_eval_data.py --root /work/data/lm_eval

Writes three LJSpeech-layout sets read by voices the shipped model never heard (the held-out voice families of
``recipes/speech_default.py``):

- ``tune``: Moby-Dick chapters 1-60, ``--tune`` utterances (alpha, beta and beam are chosen on these);
- ``test``: Moby-Dick chapters 61-135, ``--test`` utterances (the figures we report);
- ``prose_test``: ``common.prose.docstring_sentences("test")`` (the old recipe's held-out prose; evaluation only).

Moby-Dick is in neither the acoustic model's training text nor the shipped LM (``recipes/speech_lm.py``), so the
test measures prose from a source both have never seen.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "recipes"))

from english_text import DEFAULT_CACHE, _plain, documents, split_sentences  # noqa: E402
from speech_default import HELD_OUT_FAMILIES  # noqa: E402

TUNE_CHAPTERS = range(1, 61)
TEST_CHAPTERS = range(61, 136)


def moby_dick_sentences(chapters, *, cache_dir=DEFAULT_CACHE, min_words=4, max_words=25):
    """Readable sentences of the given Moby-Dick chapters (1-based numbers), in order."""
    texts = documents("moby_dick", cache_dir=cache_dir)
    out = []
    for number in chapters:
        if number - 1 < len(texts):
            out += [s for s in split_sentences(texts[number - 1])
                    if min_words <= len(s.split()) <= max_words and _plain(s)]
    return out


def sample(sentences, n, seed):
    import numpy as np

    order = np.random.default_rng(seed).permutation(len(sentences))[:n]
    return [sentences[i] for i in sorted(order)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="/work/data/lm_eval")
    parser.add_argument("--tune", type=int, default=150)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--prose-test", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from common.prose import docstring_sentences
    from speech.synth import list_voices, synthesize_dataset

    held = [v for v in list_voices() if v.family in HELD_OUT_FAMILIES]
    if not held:
        sys.exit(f"none of the held-out voice families {HELD_OUT_FAMILIES} is installed")
    root = Path(args.root)
    sets = [("tune", moby_dick_sentences(TUNE_CHAPTERS), args.tune, 51),
            ("test", moby_dick_sentences(TEST_CHAPTERS), args.test, 52),
            ("prose_test", list(docstring_sentences("test")), args.prose_test, 41)]
    for name, texts, n, seed in sets:
        if n <= 0 or (root / name / "metadata.csv").is_file():
            continue
        print(f"{name}: {n} of {len(texts)} sentences", flush=True)
        synthesize_dataset(root / name, n, voices=held, seed=seed, texts=sample(texts, n, seed),
                           num_workers=args.workers)
    return 0


if __name__ == "__main__":
    sys.exit(main())
