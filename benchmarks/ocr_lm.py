"""OCR decoding with a word LM vs plain CTC decoding: does it help prose without hurting numbers and codes?

    python benchmarks/ocr_lm.py --work /work/data/ocr_lm_eval --lm speech/models/english.lm \\
        | tee benchmarks/results_ocr_lm.md

Two sets of lines in fonts the shipped OCR model never trained on (every 7th font family, as
``recipes/ocr_default.py`` holds out), 70% degraded:

- ``prose``: Moby-Dick (chapters 61-135, held out from the LM too) cut into lines of 4-8 words, case and
  punctuation kept;
- ``mixed``: the text pool the model's validation set uses (``ocr.synth``'s default: words, numbers, dates,
  codes, identifiers, e-mail addresses).

Reported: CER, WER and exact-line rate with plain CTC decoding and with the LM (tokens looked up through
``ocr.reader.word_key``, so numbers and codes are left alone), for each LM weight of ``--alphas``, plus the
accuracy on tokens holding a digit or a symbol (numbers, codes, identifiers).
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, markdown_table, print_header, set_tf_threads  # noqa: E402

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "recipes"))


def make_sets(work, num_lines, seed=3):
    """Render the two sets into ``work/prose`` and ``work/mixed`` (once)."""
    import cv2
    import numpy as np

    from lm_eval_data import TEST_CHAPTERS, moby_dick_sentences, sample
    from ocr.synth import find_fonts, render_line, synthesize_dataset
    from ocr_default import PRINTABLE, split_fonts

    fonts = [f for f in find_fonts(charset=PRINTABLE) if "hairline" not in Path(f).stem.lower()]
    held = split_fonts(fonts, 7)[1]
    prose, mixed = Path(work) / "prose", Path(work) / "mixed"
    if not (mixed / "000000.gt.txt").is_file():
        synthesize_dataset(mixed, num_lines, fonts=held, seed=seed, charset=PRINTABLE)
    if not (prose / "000000.gt.txt").is_file():
        prose.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(seed)
        lines = []
        for sentence in sample(moby_dick_sentences(TEST_CHAPTERS), num_lines, seed):
            words = sentence.split()
            start = int(rng.integers(0, max(1, len(words) - 4)))
            lines.append(" ".join(words[start:start + int(rng.integers(4, 9))]))
        for index, text in enumerate(lines):
            image = render_line(text, held[int(rng.integers(len(held)))], size=int(rng.integers(18, 49)), rng=rng,
                                degrade=bool(rng.random() < 0.7))
            cv2.imwrite(str(prose / f"{index:06d}.png"), image)
            (prose / f"{index:06d}.gt.txt").write_text(text, encoding="utf-8")
    return [prose, mixed]


def token_accuracy(references, hypotheses):
    """Share of reference tokens holding a digit or symbol that appear, exactly, in the hypothesis line."""
    from ocr.reader import word_key

    hits = total = 0
    for reference, hypothesis in zip(references, hypotheses):
        written = hypothesis.split()
        for token in reference.split():
            if not word_key(token) and any(not c.isalpha() for c in token.strip(".,;:!?\"'()")):
                total += 1
                hits += token in written
    return hits / max(total, 1), total


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="/work/data/ocr_lm_eval")
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--model", help="OCR model (default: the shipped one)")
    parser.add_argument("--lm", default=str(ROOT / "speech" / "models" / "english.lm"))
    parser.add_argument("--alphas", default="0.2,0.5")
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--beam", type=int, default=16)
    args = parser.parse_args()

    set_tf_threads(1)
    from common.ctc import log_softmax
    from common.lm import BeamSearchDecoder, LanguageModel
    from common.metrics import error_rates
    from ocr.data import load_line_dataset
    from ocr.reader import Reader, word_key

    sets = make_sets(args.work, args.lines)
    print_header("OCR: decoding with a word LM vs plain CTC decoding", packages=("tensorflow", "keras", "kenlm"))
    reader = Reader.load(args.model)
    lm = LanguageModel.load(args.lm)
    print(f"LM: {Path(args.lm).name} (the speech LM: lowercase words; tokens looked up through word_key), beam "
          f"{args.beam}, beta {args.beta}\n")
    rows = []
    for folder in sets:
        examples = load_line_dataset(folder)
        references = [reader.preprocessor.normalize_text(e.text) for e in examples]
        strips = [reader._prepare(e.image, "line")[0][0][1] for e in examples]  # (lines, layout): first line
        log_probs = [log_softmax(lg) for lg in reader.predictor.logits(strips)]
        decoders = [("plain CTC (greedy)", None)] + [
            (f"LM alpha {a:g}", BeamSearchDecoder(reader.alphabet, lm=lm, alpha=a, beta=args.beta, word_key=word_key,
                                                  beam_width=args.beam)) for a in map(float, args.alphas.split(","))]
        for name, decoder in decoders:
            started = time.perf_counter()
            if decoder is None:
                texts = [d.text for d in reader.predictor.decode(log_probs)]
            else:
                texts = [decoder.decode(lp).text for lp in log_probs]
            seconds = time.perf_counter() - started
            rates = error_rates(references, texts)
            accuracy, count = token_accuracy(references, texts)
            rows.append([folder.name, len(examples), name, f"{rates['cer']:.2%}", f"{rates['wer']:.2%}",
                         f"{rates['exact']:.1%}", f"{accuracy:.1%} of {count}",
                         f"{1000 * seconds / len(examples):.1f}"])
            print(" | ".join(map(str, rows[-1])), file=sys.stderr, flush=True)
    print(markdown_table(["set", "lines", "decoding", "CER", "WER", "exact lines", "numbers/codes exact",
                          "decode ms/line"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
