"""Synthesize a fine-tuning set and a test set spoken by ONE voice that the default speech model never trained on.

    python recipes/new_voice_data.py --out data/new_voice --voice mbrola:mb-us2 --train 200 --test 60

Writes ``--out/train`` and ``--out/test`` in the LJSpeech layout (``metadata.csv`` + ``wavs/``) that
``speech train --data`` and ``speech eval --data`` read. The two sets speak different sentences (drawn from
``common.corpus.TextPool`` with their own seed; no test sentence is in the training set), with a random speaking
rate and pitch per utterance, as ``speech synth`` does.

The default voice, MBROLA us2 (a male US English diphone voice, Debian ``mbrola`` + ``mbrola-us2`` from the
contrib/non-free components), is one of the voice families ``recipes/speech_default.py`` holds out of training
(``HELD_OUT_FAMILIES``): the shipped model only heard it in its validation set. Any voice of
``speech.synth.list_voices()`` can be given instead, e.g. ``flite:slt`` or ``espeak-ng:en-gb-scotland``.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "recipes"))

from common.corpus import TextPool  # noqa: E402
from common.errors import ConfigError  # noqa: E402
from speech.synth import Voice, list_voices, synthesize_dataset  # noqa: E402
from speech_default import HELD_OUT_FAMILIES  # noqa: E402

__all__ = ["make_new_voice_data", "DEFAULT_VOICE"]

DEFAULT_VOICE = "mbrola:mb-us2"


def _voice(name):
    engine, _, voice = name.partition(":")
    return Voice(engine, voice) if voice else Voice("espeak-ng", name)


def make_new_voice_data(out_dir, *, voice=DEFAULT_VOICE, num_train=200, num_test=60, seed=5):
    """Synthesize ``out_dir/train`` and ``out_dir/test`` spoken by ``voice``; returns the two folders.

    The texts come from one ``TextPool(seed)`` draw: the first ``num_test`` distinct sentences make the test set,
    the next ``num_train`` the training set.
    """
    voice = _voice(voice)
    if voice not in list_voices():
        raise ConfigError(f"{voice} is not installed here; pick one of speech.synth.list_voices() "
                          f"(MBROLA voices need Debian's mbrola-us2 etc.). Received: voice={str(voice)!r}")
    if voice.family not in HELD_OUT_FAMILIES:
        print(f"warning: {voice.family} is not one of the families held out of the default model's training "
              f"({', '.join(HELD_OUT_FAMILIES)}); the 'before' figures will flatter the default model",
              file=sys.stderr)
    sentences = list(dict.fromkeys(TextPool(seed).sentences(2 * (num_train + num_test), seed=seed)))
    if len(sentences) < num_train + num_test:
        raise ConfigError(f"Only {len(sentences)} distinct sentences were drawn; lower --train or --test. "
                          f"Received: num_train={num_train}, num_test={num_test}")
    out_dir = Path(out_dir)
    test = synthesize_dataset(out_dir / "test", num_test, texts=sentences[:num_test], voices=[voice], seed=seed)
    train = synthesize_dataset(out_dir / "train", num_train, texts=sentences[num_test:num_test + num_train],
                               voices=[voice], seed=seed + 1)
    return train, test


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="output folder (receives train/ and test/)")
    parser.add_argument("--voice", default=DEFAULT_VOICE, help=f"engine:name (default {DEFAULT_VOICE})")
    parser.add_argument("--train", type=int, default=200, help="training utterances (200)")
    parser.add_argument("--test", type=int, default=60, help="test utterances (60)")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)
    for folder in make_new_voice_data(args.out, voice=args.voice, num_train=args.train, num_test=args.test,
                                      seed=args.seed):
        print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
