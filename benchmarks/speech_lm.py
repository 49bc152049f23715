"""Speech decoding with the shipped word LM vs greedy decoding, same model, same files (issue 11's targets).

    python benchmarks/speech_lm.py --data /work/data/lm_eval/test /work/data/lm_eval/prose_test \\
        | tee benchmarks/results_speech_lm.md

The sets come from ``recipes/lm_eval_data.py`` (held-out voices; Moby-Dick chapters 61-135, which neither the
acoustic model nor the LM saw, and the old recipe's held-out docstring sentences). Everything runs on one core
(TensorFlow limited to one thread; the decoder is single-threaded Python); times are process CPU time. Reported per
set: WER and CER greedy and with the LM at its default (tuned) settings, the real-time factors (decoding alone, and
model + decoding), and how far word timestamps move for the words both decodings write. Then: time and memory to
load the LM. """

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, markdown_table, print_header, set_tf_threads  # noqa: E402

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "recipes"))

LOAD_PROBE = """
import json, resource, sys, time
import numpy as np
from common.alphabet import Alphabet
from common.lm import BeamSearchDecoder, LanguageModel
import kenlm
def rss():
    return int([l for l in open('/proc/self/status') if l.startswith('VmRSS')][0].split()[1]) / 1024
before = rss(); started, cpu = time.perf_counter(), time.process_time()
lm = LanguageModel.load(sys.argv[1])
decoder = BeamSearchDecoder(Alphabet("abcdefghijklmnopqrstuvwxyz' "), lm=lm)
decoder.search(np.log(np.full((50, 29), 1 / 29, dtype=np.float32)))
print(json.dumps({"seconds": time.perf_counter() - started, "cpu": time.process_time() - cpu, "mb": rss() - before,
                  "words": len(lm.words)}))
"""


def timestamp_shifts(greedy, fused, seconds_per_frame):
    """Start and end differences (s) of the same spoken words: a word the LM decoding writes exactly as greedy
    decoding does, at overlapping times (the LM's word matched to the greedy word of that text nearest in time)."""
    from speech.transcriber import _words

    shifts = []
    for g, f in zip(greedy, fused):
        greedy_words = _words(g, 0.0, seconds_per_frame)
        for word in _words(f, 0.0, seconds_per_frame):
            same = [w for w in greedy_words if w.text == word.text and w.start < word.end and word.start < w.end]
            if same:
                nearest = min(same, key=lambda w: abs(w.start - word.start))
                shifts.append((abs(nearest.start - word.start), abs(nearest.end - word.end)))
    return shifts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", nargs="+", default=["/work/data/lm_eval/test", "/work/data/lm_eval/prose_test"])
    parser.add_argument("--model", help="speech model (default: the shipped one)")
    parser.add_argument("--lm", help="LM file (default: the shipped one)")
    parser.add_argument("--beam", type=int, help="beam width (default: the LM's tuned default)")
    args = parser.parse_args()

    set_tf_threads(1)
    import numpy as np

    from common.lm import BeamSearchDecoder, LanguageModel
    from common.metrics import error_rates
    from speech.transcriber import DEFAULT_LM
    from speech_lm_tune import model_logits

    lm_path = Path(args.lm or DEFAULT_LM)
    print_header("Speech: decoding with the word LM vs greedy", packages=("tensorflow", "keras", "kenlm"))
    lm = LanguageModel.load(lm_path)
    print(f"LM: {lm_path.name}, settings {json.dumps(lm.settings.__dict__)}\n")
    rows, shift_rows = [], []
    for data in args.data:
        started = time.process_time()
        references, log_probs, durations, seconds_per_frame, transcriber = model_logits(args.model, data)
        model_seconds = time.process_time() - started  # loading audio + features + network, one thread
        audio = sum(durations)
        decoder = BeamSearchDecoder(transcriber.alphabet, lm=lm)
        started = time.process_time()
        greedy = [transcriber.predictor.decode([lp])[0] for lp in log_probs]
        greedy_seconds = time.process_time() - started
        started = time.process_time()
        fused = [decoder.decode(lp, beam_width=args.beam) for lp in log_probs]
        lm_seconds = time.process_time() - started
        g = error_rates(references, [d.text for d in greedy])
        f = error_rates(references, [d.text for d in fused])
        name = Path(data).name
        beam = args.beam or decoder.beam_width
        rows.append([name, len(references), f"{audio / 60:.1f} min", "greedy", f"{g['wer']:.1%}", f"{g['cer']:.1%}",
                     f"{greedy_seconds / audio:.4f}", f"{(greedy_seconds + model_seconds) / audio:.4f}"])
        rows.append([name, len(references), f"{audio / 60:.1f} min", f"LM, beam {beam}", f"{f['wer']:.1%}",
                     f"{f['cer']:.1%}", f"{lm_seconds / audio:.4f}", f"{(lm_seconds + model_seconds) / audio:.4f}"])
        shifts = np.array(timestamp_shifts(greedy, fused, seconds_per_frame))
        shift_rows.append([name, len(shifts), f"{np.mean(shifts):.3f}", f"{np.max(shifts):.3f}",
                           f"{np.mean(np.all(shifts <= 0.1, axis=1)):.1%}"])
        print(f"{name}: WER ratio LM/greedy {f['wer'] / g['wer']:.2f}, CER ratio {f['cer'] / g['cer']:.2f}",
              file=sys.stderr, flush=True)
    print(markdown_table(["set", "files", "audio", "decoding", "WER", "CER", "RTF decode", "RTF model + decode"],
                         rows))
    print("\nRTF: CPU seconds per second of audio, one core (process CPU time, so other jobs on the machine do not "
          "inflate it; TensorFlow limited to one thread; 'model' includes reading the audio and the features).\n")
    print("Word timestamps, LM vs greedy, for the same spoken words (written alike by both, overlapping in time):\n")
    print(markdown_table(["set", "words", "mean shift (s)", "max shift (s)", "words with start and end within 0.1 s"],
                         shift_rows))
    probe = subprocess.run([sys.executable, "-c", LOAD_PROBE, str(lm_path)], capture_output=True, text=True,
                           cwd=ROOT, check=True)
    load = json.loads(probe.stdout.strip().splitlines()[-1])
    size = sum(p.stat().st_size for p in lm_path.parent.glob(lm_path.name + "*")) / 2**20
    print(f"\nLoading the LM (fresh process, LM + vocabulary + decoder + one short search): {load['seconds']:.2f} s "
          f"wall, {load['cpu']:.2f} s CPU, "
          f"{load['mb']:.0f} MB more resident memory; {load['words']:,} known words; files {size:.1f} MB.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
