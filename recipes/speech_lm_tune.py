"""Tune the LM decoding settings (alpha, beta, unk_offset, default beam) of a speech model + LM on held-out speech.

    python recipes/speech_lm_tune.py --data /work/data/lm_eval/tune [--model PATH] [--lm PATH] [--write]

Re-runnable for a new acoustic model (``--model``): the best settings depend on how sure the model is.

1. Runs the model once over ``--data`` (``recipes/lm_eval_data.py`` makes it: Moby-Dick chapters 1-60 read by the
   held-out voices) and keeps the logits.
2. Searches alpha, beta and unk_offset at a small beam (``--grid-beam``): the lowest WER among the settings whose
   CER is no worse than greedy decoding's (a high alpha buys WER with CER; CER breaks ties):
   coordinate search over the value lists (each setting in turn, the others fixed at their best), or every
   combination with ``--full-grid``.
3. With the best of those, tries each beam width of ``--beams`` and measures decoding time per second of audio on
   one core; the default beam is the narrowest whose WER is within ``--beam-tolerance`` (absolute) of the widest
   beam's and whose real-time factor is at most ``--max-rtf``: accuracy per second.
   Beams that make CER worse than greedy's are left out.
4. ``--write`` stores the result in the LM's ``<lm>.json`` sidecar, so ``--lm PATH`` decodes with it without flags.
"""

import argparse
import dataclasses
import itertools
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def model_logits(model_path, data, *, cache=None):
    """``(references, log_probs list, durations s, seconds per frame)`` of a data set under a model (cached)."""
    import numpy as np

    from common.ctc import log_softmax
    from speech.data import load_speech_dataset
    from speech.text import normalize_transcript
    from speech.transcriber import Transcriber

    transcriber = Transcriber.load(model_path, lm="none")
    utterances = load_speech_dataset(data)
    references, features, durations = [], [], []
    for u in utterances:
        duration, pieces = transcriber._prepare(u.audio, True, None)
        if len(pieces) != 1:
            continue  # evaluation utterances are single sentences; one that is split is skipped
        references.append(normalize_transcript(u.text))
        features.append(pieces[0][2])
        durations.append(duration)
    logits = transcriber.predictor.logits(features)
    log_probs = [log_softmax(lg) for lg in logits]
    if cache:
        np.savez_compressed(cache, *log_probs)
    return references, log_probs, durations, transcriber.seconds_per_frame, transcriber


def evaluate(decoder, log_probs, references, durations, *, beam_width=None):
    """``{"wer", "cer", "rtf", "texts"}`` of an LM decoder over the set (decoding time only, this thread)."""
    from common.metrics import error_rates

    started = time.process_time()
    texts = [decoder.search(lp, beam_width=beam_width)[0][0] for lp in log_probs]
    seconds = time.process_time() - started
    rates = error_rates(references, texts)
    return {"wer": rates["wer"], "cer": rates["cer"], "rtf": seconds / sum(durations), "texts": texts}


def choose_beam(beams, *, greedy_cer, tolerance, max_rtf):
    """The beam width to ship, from ``beams``: (beam, WER, CER, real-time factor) tuples in increasing beam order.

    Candidates: the beams whose CER is no worse than greedy decoding's (all of them if none is) and whose real-time
    factor is at most ``max_rtf`` (the fastest one if none is). Of those, the narrowest whose WER is within
    ``tolerance`` of their lowest.
    """
    candidates = [b for b in beams if b[2] <= greedy_cer] or list(beams)
    fast = [b for b in candidates if b[3] <= max_rtf] or sorted(candidates, key=lambda b: b[3])[:1]
    lowest = min(b[1] for b in fast)
    return next(b[0] for b in fast if b[1] <= lowest + tolerance)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="/work/data/lm_eval/tune")
    parser.add_argument("--model", help="speech model (default: the shipped one)")
    parser.add_argument("--lm", help="LM file (default: the shipped speech/models/english.lm)")
    parser.add_argument("--alphas", default="0.35,0.5,0.6,0.7,1.0")
    parser.add_argument("--betas", default="0,1,2,3")
    parser.add_argument("--unk-offsets", default="-10,-5")
    parser.add_argument("--grid-beam", type=int, default=16)
    parser.add_argument("--full-grid", action="store_true", help="every combination instead of coordinate search")
    parser.add_argument("--beams", default="4,8,16,32,64")
    parser.add_argument("--beam-tolerance", type=float, default=0.005, help="WER (absolute) a narrower beam may lose")
    parser.add_argument("--max-rtf", type=float, default=0.01,
                        help="decoding CPU time per audio second (the model adds ~0.005-0.01: target 0.02 in all)")
    parser.add_argument("--write", action="store_true", help="store the settings in the LM's .json sidecar")
    args = parser.parse_args()

    from common.lm import BeamSearchDecoder, LanguageModel, LMSettings
    from common.metrics import error_rates
    from speech.transcriber import DEFAULT_LM

    lm_path = Path(args.lm or DEFAULT_LM)
    references, log_probs, durations, _, transcriber = model_logits(args.model, args.data)
    lm = LanguageModel.load(lm_path)
    greedy = [transcriber.predictor.decode([lp])[0].text for lp in log_probs]
    base = error_rates(references, greedy)
    print(f"{len(references)} utterances, {sum(durations) / 60:.1f} min; greedy WER {base['wer']:.4f} "
          f"CER {base['cer']:.4f}", flush=True)

    floats = lambda text: [float(v) for v in text.split(",")]  # noqa: E731
    axes = {"alpha": floats(args.alphas), "beta": floats(args.betas), "unk_offset": floats(args.unk_offsets)}
    results = {}

    def score(point):
        key = tuple(sorted(point.items()))
        if key not in results:
            decoder = BeamSearchDecoder(transcriber.alphabet, lm=lm, **point)
            result = evaluate(decoder, log_probs, references, durations, beam_width=args.grid_beam)
            # WER decides, among settings whose CER is no worse than greedy decoding's (then CER breaks ties)
            results[key] = (result["cer"] > base["cer"], result["wer"], result["cer"])
            print(" ".join(f"{k} {v:g}" for k, v in point.items()) + f": WER {result['wer']:.4f} "
                  f"CER {result['cer']:.4f} rtf {result['rtf']:.4f}", flush=True)
        return results[key]

    # Coordinate search (a full grid costs too much CPU): each setting in turn over its values, the others fixed
    # at their best so far; two rounds or until nothing changes.
    best = {name: values[len(values) // 2] for name, values in axes.items()}
    for _ in range(2 if args.full_grid is False else 0):
        before = dict(best)
        for name, values in axes.items():
            best[name] = min(values, key=lambda v: score(dict(best, **{name: v})))
        if best == before:
            break
    if args.full_grid:
        for point in itertools.product(*axes.values()):
            score(dict(zip(axes, point)))
        best = dict(min(results, key=results.get))
    _, wer, cer = score(best)
    alpha, beta, unk = best["alpha"], best["beta"], best["unk_offset"]
    print(f"best at beam {args.grid_beam}: alpha {alpha} beta {beta} unk_offset {unk}: WER {wer:.4f} CER {cer:.4f}")

    beams = []
    decoder = BeamSearchDecoder(transcriber.alphabet, lm=lm, alpha=alpha, beta=beta, unk_offset=unk)
    for beam in [int(b) for b in args.beams.split(",")]:
        result = evaluate(decoder, log_probs, references, durations, beam_width=beam)
        beams.append((beam, result["wer"], result["cer"], result["rtf"]))
        print(f"beam {beam:4d}: WER {result['wer']:.4f} CER {result['cer']:.4f} rtf {result['rtf']:.4f}", flush=True)
    beam = choose_beam(beams, greedy_cer=base["cer"], tolerance=args.beam_tolerance, max_rtf=args.max_rtf)
    settings = LMSettings(alpha=alpha, beta=beta, beam_width=beam, unk_offset=unk)
    print("chosen:", json.dumps(dataclasses.asdict(settings)))
    if args.write:
        sidecar = Path(str(lm_path) + ".json")
        data = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.is_file() else {}
        data["settings"] = dataclasses.asdict(settings)
        data["tuning"] = {"recipe": "recipes/speech_lm_tune.py", "data": str(args.data),
                          "model": str(args.model or "default"), "utterances": len(references),
                          "greedy": {"wer": round(base["wer"], 4), "cer": round(base["cer"], 4)},
                          "grid_beam": args.grid_beam, "best_grid": {"wer": round(wer, 4), "cer": round(cer, 4)},
                          "beams": [{"beam": b, "wer": round(w, 4), "cer": round(c, 4), "rtf": round(r, 5)}
                                    for b, w, c, r in beams]}
        partial = Path(str(sidecar) + ".partial")
        partial.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        partial.replace(sidecar)
        print(f"wrote {sidecar}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
