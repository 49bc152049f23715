"""Speed of our OCR and speech models on this machine: inference from files on disk, and training steps.

    python benchmarks/speed.py                                       # shipped models, default sizes
    python benchmarks/speed.py --ocr-model a.keras --speech-model b.keras --ocr-lines 64 --speech-files 8

Measures, each after a warm-up (tracing) call, with wall-clock time:

- OCR reading: ``--ocr-lines`` rendered lines (``ocr.synth.synthesize_dataset``: sizes 18-48 px, 70% degraded)
  saved as PNG, read by ``Reader.read`` all in one call, then one file per call.
- OCR training: ``model.train_on_batch`` on batches of 32 of those lines (length-bucketed and augmented by
  ``common.batching.CTCDataset`` + ``ocr.task.OcrTask``, as ``ocr train`` does; batch preparation included), on
  a new model of the default size (``build_ocr_model`` defaults), Adam.
- Speech transcription: ``--speech-files`` synthesized utterances (all installed voices) transcribed all in one
  call, one file per call, and joined (with 0.3 s pauses, repeated) into one ``--long-minutes`` file.
- Speech training: ``train_on_batch`` on batches of 16 of those utterances (augmentation and log-mel included)
  on a new model of the default recipe's size (``--speech-layers`` x ``--speech-units``), Adam.

Training figures use new models of the default architecture whatever ``--ocr-model``/``--speech-model`` say.
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (markdown_table, print_header, set_tf_threads, stopwatch,  # noqa: E402
                                use_keras_kernels)


def train_speed(model, task, items, texts, alphabet, *, batch_size, steps, warmup, seed):
    """(items per second, mean batch size) over ``steps`` timed ``train_on_batch`` calls (batches prepared
    inside the timing, as ``fit`` does); ``items`` are ``task.prepare``'s output, one per text."""
    import keras
    from common.batching import CTCDataset

    labels = [alphabet.encode(task.normalize_text(t)) for t in texts]
    data = CTCDataset(items, labels, task.featurize, [task.item_length(i) for i in items], batch_size=batch_size,
                      augment=True, shuffle=True, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=5.0))
    for step in range(warmup):  # the first steps trace the training function
        model.train_on_batch(*data[step % len(data)])
    done = 0
    with stopwatch() as watch:
        for step in range(warmup, warmup + steps):
            x, y = data[step % len(data)]
            model.train_on_batch(x, y)
            done += x["lengths"].shape[0]
    return done / watch.seconds, done / max(steps, 1)


def ocr_rows(args, work):
    from common.alphabet import Alphabet
    from common.corpus import PRINTABLE_ASCII
    from ocr import Reader
    from ocr.data import load_line_dataset
    from ocr.synth import synthesize_dataset
    from ocr.task import OcrTask, build_ocr_model

    synthesize_dataset(work / "lines", args.ocr_lines, seed=args.seed, charset=PRINTABLE_ASCII)
    examples = load_line_dataset(work / "lines")
    paths, texts = [str(e.image) for e in examples], [e.text for e in examples]
    reader = Reader.load(args.ocr_model)
    reader.read(paths[:64])  # warm-up
    with stopwatch() as batch:
        reader.read(paths)
    with stopwatch() as single:
        for path in paths:
            reader.read([path])
    mean_chars = sum(map(len, texts)) / len(texts)
    rows = [["OCR read, all files in one call", f"{len(paths) / batch.seconds:.1f}", "lines/s",
             f"{len(paths)} PNG lines, {mean_chars:.0f} characters on average, greedy decoding"],
            ["OCR read, one file per call", f"{len(paths) / single.seconds:.1f}", "lines/s",
             f"{1000 * single.seconds / len(paths):.1f} ms per call"]]
    if args.train_steps:
        alphabet = Alphabet(PRINTABLE_ASCII, unknown="drop")
        task = OcrTask()
        for label, speed, batch, params in _training_runs(args, lambda: build_ocr_model(alphabet), task, paths, texts,
                                                          alphabet, batch_size=32):
            rows.append([f"OCR training{label}", f"{speed:.1f}", "lines/s",
                         f"batch {batch:.0f}, {params / 1e6:.2f} M parameters, {args.train_steps} timed steps"])
    return rows


def _training_runs(args, build_model, task, paths, texts, alphabet, *, batch_size):
    """``(row label suffix, items/s, mean batch size, parameters)`` of a new model trained on ``paths``: with our
    kernels, then (``--keras-kernels``) with Keras' own."""
    import keras

    items = [task.prepare(p) for p in paths]
    variants = [("", False)] + ([(", Keras' kernels (before December 2)", True)] if args.keras_kernels else [])
    for label, keras_kernels in variants:
        keras.utils.set_random_seed(args.seed)
        model = build_model()
        if keras_kernels:
            use_keras_kernels(model)
        speed, batch = train_speed(model, task, items, texts, alphabet, batch_size=batch_size, steps=args.train_steps,
                                   warmup=args.warmup_steps, seed=args.seed)
        yield label, speed, batch, model.count_params()
        keras.backend.clear_session()


def speech_rows(args, work):
    import numpy as np
    import soundfile
    from speech import Transcriber
    from speech.audio import SAMPLE_RATE, load_audio
    from speech.data import load_speech_dataset
    from speech.synth import synthesize_dataset
    from speech.task import SpeechTask, build_speech_model, default_alphabet

    synthesize_dataset(work / "speech", args.speech_files, seed=args.seed)
    utterances = load_speech_dataset(work / "speech")
    paths, texts = [str(u.audio) for u in utterances], [u.text for u in utterances]
    clips = [load_audio(p) for p in paths]
    seconds = sum(c.shape[0] for c in clips) / SAMPLE_RATE
    pause = np.zeros(int(0.3 * SAMPLE_RATE), np.float32)
    joined = np.concatenate([piece for c in clips for piece in (c, pause)])
    repeats = int(np.ceil(args.long_minutes * 60 * SAMPLE_RATE / joined.shape[0]))
    long_audio = np.tile(joined, repeats)[: int(args.long_minutes * 60 * SAMPLE_RATE)]
    long_path = work / "long.wav"
    soundfile.write(str(long_path), long_audio, SAMPLE_RATE, subtype="PCM_16")

    transcriber = Transcriber.load(args.speech_model)
    transcriber.transcribe(paths[:16])  # warm-up
    with stopwatch() as batch:
        transcriber.transcribe(paths)
    with stopwatch() as single:
        for path in paths:
            transcriber.transcribe([path])
    with stopwatch() as long:
        transcriber.transcribe([str(long_path)])
    rows = [["speech transcription, all files in one call", f"{batch.seconds / seconds:.4f}", "real-time factor",
             f"{len(paths)} files, {seconds / len(paths):.1f} s on average"],
            ["speech transcription, one file per call", f"{single.seconds / seconds:.4f}", "real-time factor",
             f"{1000 * single.seconds / len(paths):.0f} ms per call"],
            [f"speech transcription, one {args.long_minutes:g}-minute file",
             f"{long.seconds / (args.long_minutes * 60):.4f}", "real-time factor",
             f"{long.seconds:.1f} s in all (split at silences)"]]
    if args.train_steps:
        runs = _training_runs(args, lambda: build_speech_model(num_layers=args.speech_layers, units=args.speech_units),
                              SpeechTask(), paths, texts, default_alphabet(), batch_size=16)
        for label, speed, batch, params in runs:
            rows.append([f"speech training{label}", f"{speed:.1f}", "utterances/s",
                         f"batch {batch:.0f}, {args.speech_layers} x BiLSTM({args.speech_units}), "
                         f"{params / 1e6:.2f} M parameters, {args.train_steps} timed steps"])
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ocr-model", help="OCR model for reading (default: the shipped ocr/models/default.keras)")
    parser.add_argument("--speech-model", help="speech model for transcribing (default: the shipped one)")
    parser.add_argument("--model", help=argparse.SUPPRESS)  # the other scripts' name: --ocr-model and --speech-model
    parser.add_argument("--ocr-lines", type=int, default=512, help="rendered lines to read and train on")
    parser.add_argument("--speech-files", type=int, default=64,
                        help="synthesized utterances to transcribe and train on")
    parser.add_argument("--long-minutes", type=float, default=10.0, help="length of the long file, in minutes")
    parser.add_argument("--train-steps", type=int, default=10, help="timed training steps per task (0: no training)")
    parser.add_argument("--warmup-steps", type=int, default=3, help="untimed training steps first (tracing)")
    parser.add_argument("--keras-kernels", action="store_true",
                        help="also time each training the way every stage until December 2 trained (Keras' LSTM "
                             "loop and batch normalization: benchmarks/_common.py use_keras_kernels)")
    parser.add_argument("--speech-layers", type=int, default=3, help="speech model size for training (the recipe's)")
    parser.add_argument("--speech-units", type=int, default=160, help="speech model size for training (the recipe's)")
    parser.add_argument("--only", choices=("ocr", "speech"), help="measure one task only")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data, augmentation and initial weights")
    parser.add_argument("--tf-threads", type=int, help="TensorFlow threads (default: TF's own)")
    parser.add_argument("--work", help="keep the generated data here (default: a temporary folder, deleted)")
    args = parser.parse_args()
    if args.model:
        parser.error("speed.py measures two models: pass --ocr-model and/or --speech-model")
    if min(args.ocr_lines, args.speech_files, args.long_minutes) <= 0 or min(args.train_steps, args.warmup_steps) < 0:
        parser.error("--ocr-lines, --speech-files, --long-minutes must be positive; step counts non-negative")
    if args.work and Path(args.work).is_dir() and any(Path(args.work).iterdir()):
        parser.error(f"--work must be a new or empty folder. Received: --work={args.work}")

    print_header("Speed of our models", ("tensorflow", "keras"))
    set_tf_threads(args.tf_threads)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="speed-bench-"))
    try:
        rows = []
        if args.only in (None, "ocr"):
            rows += ocr_rows(args, work)
        if args.only in (None, "speech"):
            rows += speech_rows(args, work)
        print(markdown_table(["measurement", "value", "unit", "details"], rows))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
