"""Training speed of speech model shapes on this CPU: utterances/s per model width, depth, time subsampling and
batch size, to choose the model by accuracy per CPU hour (#12).

    python benchmarks/speech_training_speed.py                       # 64 synthesized utterances
    python benchmarks/speech_training_speed.py --data runs/speech_s8data/val --utterances 128 --tf-threads 1

Each row builds a new model (``speech.task.build_speech_model``) and times ``--steps`` ``train_on_batch`` calls
after untimed ones over every batch once (each padded batch shape is traced once; ``--warmup-steps`` more if
larger), with the trainer's batching, augmentation and log-mel features
(``benchmarks/speed.py``'s ``train_speed``). ``frames/s`` is the encoder's rate after the front end's time
subsampling (the log-mel spectrogram has 100); ``too long`` is the share of the utterances whose transcript needs
more encoder frames than the audio gives at that rate (CTC: one frame per character, one more between repeated
characters), i.e. items a model of that rate cannot learn. The baseline row is the shape of stages 1-10; stage 11
widened the shipped model to the ``units 224`` row's shape, which is now also a new model's (``speech.defaults``).
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import markdown_table, print_header, set_tf_threads, use_keras_kernels  # noqa: E402
from benchmarks.speed import train_speed  # noqa: E402

BASELINE = {"layers": 3, "units": 160, "time_strides": (3, 1), "batch": 16, "kernels": "ours"}
VARIANTS = (
    {}, {"kernels": "keras"}, {"units": 224, "kernels": "keras"},
    {"batch": 8}, {"batch": 32},
    {"units": 96}, {"units": 128}, {"units": 224}, {"units": 256},
    {"layers": 2}, {"layers": 4},
    {"time_strides": (2, 1)}, {"time_strides": (2, 2)}, {"time_strides": (4, 1)},
    {"layers": 2, "units": 256, "time_strides": (2, 2)},
)
"""Each row changes the baseline in the named settings only. ``kernels keras``: the model trains the way every
stage until December 2 did: its LSTMs run Keras' own loop over ``LSTMCell`` steps instead of
:class:`common.encoder.ProjectedLSTM`'s (input projections precomputed), its batch normalizations Keras' separate
operations instead of TensorFlow's fused kernel (:class:`common.frontend.BatchNormalization`), and each front-end
block applies its ReLU before its pooling, at full resolution. The same weights give the same results either way."""


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="speech data (folder or manifest) to train on (default: synthesize)")
    parser.add_argument("--utterances", type=int, default=64, help="utterances to synthesize or to take from --data")
    parser.add_argument("--steps", type=int, default=8, help="timed training steps per row")
    parser.add_argument("--warmup-steps", type=int, default=3,
                        help="untimed steps first, at least one pass over the batches (tracing)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tf-threads", type=int, help="TensorFlow threads (default: TF's own)")
    parser.add_argument("--only", action="append", metavar="ROW",
                        help="run only the rows with this name (repeatable), e.g. 'units 224' or 'kernels keras'")
    args = parser.parse_args()
    if min(args.utterances, args.steps, args.warmup_steps + 1) < 1:
        parser.error("--utterances and --steps must be positive, --warmup-steps non-negative")

    print_header("Speech training speed per model shape", ("tensorflow", "keras"))
    set_tf_threads(args.tf_threads)
    import keras
    import numpy as np
    from common.training import ctc_frames_needed, prepare_items
    from speech.data import load_speech_dataset
    from speech.defaults import HOP_SECONDS
    from speech.synth import synthesize_dataset
    from speech.task import SpeechTask, build_speech_model, default_alphabet

    work = Path(tempfile.mkdtemp(prefix="speech-train-speed-"))
    try:
        if args.data:
            utterances = load_speech_dataset(args.data)
            order = np.random.default_rng(args.seed).permutation(len(utterances))[:args.utterances]
            utterances = [utterances[i] for i in sorted(order)]
        else:
            synthesize_dataset(work / "speech", args.utterances, seed=args.seed)
            utterances = load_speech_dataset(work / "speech")
        task, alphabet = SpeechTask(), default_alphabet()
        # as the trainer does: files it cannot read or over the length limit are skipped with a warning
        items, texts, _ = prepare_items(task, [(str(u.audio), u.text) for u in utterances], label="benchmark",
                                        verbose=0)
        lengths = [task.item_length(item) for item in items]
        needed = [ctc_frames_needed(alphabet.encode(task.normalize_text(t))) for t in texts]
        seconds = sum(lengths) * HOP_SECONDS / len(lengths)
        print(f"{len(items)} utterances, {seconds:.1f} s of audio on average\n", flush=True)

        rows = []
        for change in VARIANTS:
            name = ", ".join(f"{k} {v}" for k, v in change.items()) or "baseline (stages 1-10's shape)"
            if args.only and name not in args.only:
                continue
            setting = dict(BASELINE, **change)
            keras.utils.set_random_seed(args.seed)
            model = build_speech_model(num_layers=setting["layers"], units=setting["units"],
                                       time_strides=setting["time_strides"])
            if setting["kernels"] == "keras":
                use_keras_kernels(model)
            too_long = np.mean([int(model.frontend.compute_output_length(n)) < k for n, k in zip(lengths, needed)])
            speed, _ = train_speed(model, task, items, texts, alphabet, batch_size=setting["batch"],
                                   steps=args.steps, seed=args.seed,
                                   warmup=max(args.warmup_steps, -(-len(items) // setting["batch"])))
            rate = 1 / HOP_SECONDS / model.frontend.time_downsampling
            encoder = f"{setting['layers']} x BiLSTM({setting['units']}), {setting['kernels']} kernels"
            rows.append([name, encoder, f"{rate:.0f}", str(setting["batch"]), f"{model.count_params() / 1e6:.2f}",
                         f"{speed:.1f}", f"{100 * too_long:.1f}%"])
            print(" | ".join(rows[-1]), flush=True)
            keras.backend.clear_session()
        print()
        print(markdown_table(["change", "encoder", "frames/s", "batch", "M parameters", "utterances/s", "too long"],
                             rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
