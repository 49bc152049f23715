"""Continue training a speech model on a GPU machine with Keras' JAX backend (no TensorFlow needed there).

The toolkit trains on TensorFlow (``speech train``); a GPU machine that has JAX but no TensorFlow can still go on
training one of its models, with the same model code, loss, features and augmentation, through the toolkit's
opt-in JAX backend (``CTC_TOOLKIT_BACKEND=jax``, see :mod:`common`). Two steps:

1. ``pack``, here, in the toolkit's normal environment: re-encode training and validation corpora (any layout
   ``speech.data.load_speech_dataset`` reads) as 16 kHz OGG/Opus files with JSONL manifests (``train.jsonl``,
   ``val.jsonl``), small enough to carry to the GPU machine. Training utterances whose text is also a validation
   text are left out::

       python recipes/speech_gpu.py pack --train runs/speech_default/train runs/speech_gpu/train_extra \\
           --val runs/speech_default/val --out .gpu_data

2. ``train``, there (Python with jax, keras, librosa, soundfile, soxr, rapidfuzz; this repository's code)::

       CTC_TOOLKIT_BACKEND=jax python recipes/speech_gpu.py train --data .gpu_data \\
           --model speech/models/default.keras --out "$OUT" --max-minutes 9

   loads the model, decodes the audio once (``--workers`` processes), and trains with length-bucketed batches of
   ``--batch-size`` whose features worker processes compute with ``SpeechTask.featurize`` (speed, gain, noise,
   reverberation, SpecAugment: exactly what ``speech train`` does). Adam with gradient clipping; the learning rate
   warms up over ``--warmup-steps``, then follows a cosine from ``--learning-rate`` down to
   ``--final-learning-rate`` over the time budget. After every ``--eval-every`` epochs the validation set is
   decoded greedily (NumPy) and scored (WER, CER); the best model by WER is kept at ``OUT/best.keras``; the last
   one goes to ``OUT/last.keras`` at the end, with ``OUT/log.jsonl`` (one line per evaluation) and
   ``OUT/settings.json``. The run stops itself ``--max-minutes`` after it started, so those files are always
   written. Call it again with ``--model OUT/best.keras`` to go on (the optimizer starts afresh, hence the
   warm-up).

Where what travels to the GPU machine is limited by size and counts whole disk blocks per file, carry the packed
folder as one stored zip (``cd .gpu_data && zip -0 -r ../data.zip train.jsonl val.jsonl train val``) and unpack it
there with ``python3 -m zipfile -e data.zip /tmp/gpu_data``.

Evaluate the result with the normal toolkit afterwards: ``python -m speech eval --data VAL --model best.keras``.
"""

import argparse
import json
import math
import os
import shutil
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# Time lengths (input frames) batches are padded to: every distinct shape is compiled once, so there are few.
BUCKETS = (256, 384, 512, 640, 768, 960, 1280)
LABEL_MULTIPLE = 64  # every batch's labels are padded to the longest label, rounded up to a multiple of this

_AUDIO = None  # int16 samples of every utterance, end to end (set before the worker processes fork)
_SPANS = None  # (start, length) of each utterance in _AUDIO
_TASK = None


# --- pack (here) -----------------------------------------------------------------------------------------------


def _encode(job):
    import soundfile

    from speech.audio import SAMPLE_RATE, load_audio

    source, target, level = job
    target = Path(target)
    if not target.is_file():  # a file is complete once it has its name: packing resumes where it stopped
        audio = load_audio(source)
        partial = target.with_name(target.name + ".partial")
        soundfile.write(partial, audio, SAMPLE_RATE, format="OGG", subtype="OPUS", compression_level=level)
        partial.replace(target)
    return target.stat().st_size, soundfile.info(target).duration


def pack(args):
    import concurrent.futures

    from speech.data import load_speech_dataset
    from speech.text import normalize_transcript

    out = Path(args.out)
    val = [(u.audio, normalize_transcript(u.text)) for path in args.val for u in load_speech_dataset(path)]
    val_texts = {text for _, text in val}
    train, dropped = [], 0
    for path in args.train:
        for u in load_speech_dataset(path):
            text = normalize_transcript(u.text)
            if text in val_texts:
                dropped += 1
            else:
                train.append((u.audio, text))
    print(f"{len(train)} training utterances ({dropped} left out: their text is a validation text), "
          f"{len(val)} validation utterances", flush=True)
    for name, rows in (("val", val), ("train", train)):
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        jobs, lines = [], []
        for n, (audio, text) in enumerate(rows):
            relative = f"{name}/{n:06d}.ogg"
            jobs.append((str(audio), str(out / relative), args.compression_level))
            lines.append(json.dumps({"audio": relative, "text": text, "source": Path(audio).name}) + "\n")
        with concurrent.futures.ProcessPoolExecutor(args.workers) as pool:
            results = list(pool.map(_encode, jobs, chunksize=8))
        (out / f"{name}.jsonl").write_text("".join(lines), encoding="utf-8")  # written once every file is there
        size, seconds = sum(r[0] for r in results), sum(r[1] for r in results)
        print(f"{name}: {len(rows)} files, {seconds / 3600:.2f} h, {size / 2**20:.1f} MiB "
              f"({size * 8 / seconds / 1000:.1f} kbit/s)", flush=True)
    return 0


# --- train (there) ---------------------------------------------------------------------------------------------


def _import_toolkit():
    """Import the toolkit modules the run needs.

    A toolkit module may import TensorFlow at its top for what only the TensorFlow backend uses (``tf.distribute``
    in ``common.recognizer``). Where TensorFlow is not installed, those imports get an inert stand-in that is
    removed again right after, so that Keras never sees it.
    """
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        stand_in = types.ModuleType("tensorflow")
        stand_in.distribute = types.SimpleNamespace(get_replica_context=lambda: None, ReduceOp=None)
        sys.modules["tensorflow"] = stand_in
        try:
            _import_toolkit_modules()
        finally:
            del sys.modules["tensorflow"]
    else:
        _import_toolkit_modules()


def _import_toolkit_modules():
    import common.recognizer  # noqa: F401
    import speech.task  # noqa: F401


def _prepare(path):
    """Worker: one utterance as 16 kHz int16 samples (``SpeechTask.prepare``)."""
    return _TASK.prepare(path)


def _load_corpus(path, pool):
    from speech.data import load_speech_dataset

    utterances = load_speech_dataset(path)
    return pool.map(_prepare, [str(u.audio) for u in utterances], chunksize=16), [u.text for u in utterances]


def _bucket(length):
    for size in BUCKETS:
        if length <= size:
            return size
    return int(math.ceil(length / 320) * 320)


def _featurize_batch(job):
    """Worker: features of a batch, zero-padded to its bucket; float16 halves what travels back."""
    import numpy as np

    indices, seed = job
    rng = np.random.default_rng(seed) if seed is not None else None
    features = []
    for i in indices:
        start, length = _SPANS[i]
        features.append(_TASK.featurize(_AUDIO[start:start + length], rng))
    lengths = np.array([f.shape[0] for f in features], dtype=np.int32)
    batch = np.zeros((len(features), _bucket(int(lengths.max())), features[0].shape[1]), dtype=np.float16)
    for b, f in enumerate(features):
        batch[b, :f.shape[0]] = f
    return batch, lengths


def _labels(encoded, indices, width):
    import numpy as np

    lengths = np.array([len(encoded[i]) for i in indices], dtype=np.int32)
    labels = np.zeros((len(indices), width), dtype=np.int32)
    for b, i in enumerate(indices):
        labels[b, :len(encoded[i])] = encoded[i]
    return labels, lengths


def _epoch_batches(lengths, batch_size, rng):
    """Length-sorted (jittered) batches of exactly ``batch_size`` items, in random order; the remainder waits."""
    import numpy as np

    order = np.argsort(np.asarray(lengths) * rng.uniform(0.9, 1.1, size=len(lengths)), kind="stable")
    usable = len(order) - len(order) % batch_size
    batches = [order[i:i + batch_size] for i in range(0, usable, batch_size)]
    rng.shuffle(batches)
    return batches


def train(args):
    os.environ["CTC_TOOLKIT_BACKEND"] = args.backend
    started = time.monotonic()
    deadline = started + args.max_minutes * 60.0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    log_file = out / "log.jsonl"

    def log(message):
        print(f"[{(time.monotonic() - started) / 60:5.2f} min] {message}", flush=True)

    import multiprocessing

    import numpy as np

    _import_toolkit()
    import keras

    from common.alphabet import Alphabet
    from common.ctc import ctc_loss, decode
    from common.metrics import cer, wer
    from common.model_file import load_model, read_metadata, save_model
    from speech.features import num_frames
    from speech.task import SpeechTask

    global _AUDIO, _SPANS, _TASK
    metadata = read_metadata(args.model, task="speech")
    alphabet = Alphabet.from_config(metadata["alphabet"])
    from common.preprocessor import preprocessor_from_metadata

    _TASK = SpeechTask(preprocessor=preprocessor_from_metadata(metadata, source=args.model))
    log(f"Keras {keras.__version__} on {keras.config.backend()}; model {args.model}")

    # Decode every file once, in worker processes forked before JAX touches the GPU.
    context = multiprocessing.get_context("fork")
    with context.Pool(args.workers) as pool:
        train_audio, train_texts = _load_corpus(Path(args.data) / "train.jsonl", pool)
        val_audio, val_texts = _load_corpus(Path(args.data) / "val.jsonl", pool)
    everything = train_audio + val_audio
    sizes = np.array([a.shape[0] for a in everything], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    _AUDIO = np.concatenate(everything)
    _SPANS = list(zip(starts.tolist(), sizes.tolist()))
    num_train = len(train_audio)
    del everything, train_audio, val_audio
    train_refs = [_TASK.normalize_text(t) for t in train_texts]
    val_refs = [_TASK.normalize_text(t) for t in val_texts]
    encoded = [alphabet.encode(t) for t in train_refs + val_refs]
    frames = [num_frames(n) for n in sizes.tolist()]
    label_width = int(math.ceil(max(len(e) for e in encoded) / LABEL_MULTIPLE) * LABEL_MULTIPLE)
    log(f"decoded {num_train} training utterances ({sizes[:num_train].sum() / 16000 / 3600:.2f} h) and "
        f"{len(val_refs)} validation utterances with {args.workers} workers")
    pool = context.Pool(args.workers)  # featurizes batches; forked now, it shares _AUDIO copy-on-write

    val_order = sorted(range(len(val_refs)), key=lambda i: frames[num_train + i])
    val_batches = [np.array([num_train + i for i in val_order[j:j + args.eval_batch_size]])
                   for j in range(0, len(val_order), args.eval_batch_size)]
    val_features = pool.map(_featurize_batch, [(b, None) for b in val_batches])

    import jax
    import jax.numpy as jnp

    if args.compilation_cache:
        jax.config.update("jax_compilation_cache_dir", str(Path(args.compilation_cache).resolve()))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    log(f"JAX {jax.__version__}, devices: {jax.devices()}")
    model = load_model(args.model, task="speech")
    optimizer = keras.optimizers.Adam(args.learning_rate, clipnorm=args.clipnorm)
    optimizer.build(model.trainable_variables)
    lr_index = next(i for i, v in enumerate(optimizer.variables) if v is optimizer._learning_rate)

    def loss_fn(trainable, non_trainable, features, lengths, labels, label_lengths):
        out, non_trainable = model.stateless_call(trainable, non_trainable,
                                                  {"features": features.astype("float32"), "lengths": lengths},
                                                  training=True)
        per_sample = ctc_loss(labels, out["logits"], label_lengths, out["lengths"])
        # Infeasible samples come back as 0 (see common.ctc.ctc_loss); the mean is over the others.
        used = jnp.sum((per_sample != 0).astype("float32"))
        return jnp.sum(per_sample) / jnp.maximum(used, 1.0), non_trainable

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    @jax.jit
    def train_step(state, features, lengths, labels, label_lengths):
        trainable, non_trainable, opt_vars = state
        (loss, non_trainable), grads = grad_fn(trainable, non_trainable, features, lengths, labels, label_lengths)
        trainable, opt_vars = optimizer.stateless_apply(opt_vars, grads, trainable)
        return loss, (trainable, non_trainable, opt_vars)

    @jax.jit
    def forward(trainable, non_trainable, features, lengths):
        out, _ = model.stateless_call(trainable, non_trainable,
                                      {"features": features.astype("float32"), "lengths": lengths}, training=False)
        return out["logits"], out["lengths"]

    state = ([v.value for v in model.trainable_variables], [v.value for v in model.non_trainable_variables],
             [v.value for v in optimizer.variables])

    def evaluate(state):
        hypotheses = []
        for (features, lengths) in val_features:
            logits, out_lengths = forward(state[0], state[1], features, lengths)
            hypotheses += [d.text for d in decode(np.asarray(logits), np.asarray(out_lengths), alphabet)]
        references = [val_refs[i - num_train] for b in val_batches for i in b]
        return {"val_wer": wer(references, hypotheses), "val_cer": cer(references, hypotheses)}

    def save(state, path):
        for variable, value in zip(model.trainable_variables, state[0]):
            variable.assign(value)
        for variable, value in zip(model.non_trainable_variables, state[1]):
            variable.assign(value)
        save_model(model, path)

    settings = {k: v for k, v in vars(args).items() if k != "func"}
    settings.update(num_train=num_train, num_val=len(val_refs), device=str(jax.devices()[0]))
    (out / "settings.json").write_text(json.dumps(settings, indent=2))

    clock = time.monotonic()
    start_scores = evaluate(state)
    log(f"first validation took {time.monotonic() - clock:.1f} s (compilation included)")
    log(f"start: val_wer={start_scores['val_wer']:.4f} val_cer={start_scores['val_cer']:.4f}")
    best = start_scores["val_wer"]
    with open(log_file, "a") as handle:
        handle.write(json.dumps({"epoch": 0, "step": 0, "minutes": (time.monotonic() - started) / 60,
                                 **start_scores}) + "\n")

    rng = np.random.default_rng(args.seed)
    train_lengths = frames[:num_train]
    train_start = time.monotonic()
    stop_at = deadline - args.reserve_seconds
    step, epoch, stop, lr = 0, 0, False, 0.0
    shapes = set()  # batch shapes compiled so far
    pending = []  # imap iterators of the next epochs (two in flight, so that an epoch starts without a stall)

    def submit(epoch_number):
        batches = _epoch_batches(train_lengths, args.batch_size, rng)
        jobs = [(b, (args.seed, epoch_number, n)) for n, b in enumerate(batches)]
        return batches, pool.imap(_featurize_batch, jobs)

    pending.append(submit(1))
    while not stop:
        epoch += 1
        pending.append(submit(epoch + 1))
        batches, features_iter = pending.pop(0)
        epoch_start, losses, items, waited = time.monotonic(), [], 0, 0.0
        for indices in batches:
            clock = time.monotonic()
            features, lengths = next(features_iter)
            now = time.monotonic()
            waited += now - clock  # time the GPU may have idled for want of features
            if now >= stop_at:
                stop = True
                break
            fraction = min(1.0, (now - train_start) / max(stop_at - train_start, 1.0))
            lr = args.final_learning_rate + 0.5 * (args.learning_rate - args.final_learning_rate) * (
                1.0 + math.cos(math.pi * fraction))
            lr *= min(1.0, (step + 1) / max(args.warmup_steps, 1))
            opt_vars = list(state[2])
            opt_vars[lr_index] = jnp.asarray(lr, dtype=opt_vars[lr_index].dtype)
            labels, label_lengths = _labels(encoded, indices, label_width)
            loss, state = train_step((state[0], state[1], opt_vars), features, lengths, labels, label_lengths)
            losses.append(loss)
            step += 1
            items += len(indices)
            if features.shape not in shapes:
                shapes.add(features.shape)
                jax.block_until_ready(loss)
                log(f"step {step}: new batch shape {features.shape} compiled and run in {time.monotonic() - now:.1f} s")
            elif step == args.log_first_steps:
                jax.block_until_ready(loss)
                log(f"first {step} steps done")
        seconds = time.monotonic() - epoch_start
        train_loss = float(np.mean([float(v) for v in losses])) if losses else float("nan")
        if stop and items < args.batch_size * 2 and epoch > 1:
            log(f"time budget reached at the start of epoch {epoch}")
        if epoch % args.eval_every == 0 or stop:
            scores = evaluate(state)
            record = {"epoch": epoch, "step": step, "minutes": (time.monotonic() - started) / 60,
                      "loss": train_loss, "lr": lr, "items_per_second": items / max(seconds, 1e-9),
                      "waiting_for_features": waited / max(seconds, 1e-9), **scores}
            with open(log_file, "a") as handle:
                handle.write(json.dumps(record) + "\n")
            improved = scores["val_wer"] < best
            if improved:
                best = scores["val_wer"]
                save(state, out / "best.keras")
            log(f"epoch {epoch}: step {step}, loss {train_loss:.2f}, lr {lr:.2e}, "
                f"{items / max(seconds, 1e-9):.0f} utt/s ({waited / max(seconds, 1e-9):.0%} waiting), val_wer={scores['val_wer']:.4f} "
                f"val_cer={scores['val_cer']:.4f}{' (best)' if improved else ''}")
        else:
            log(f"epoch {epoch}: step {step}, loss {train_loss:.2f}, lr {lr:.2e}, {items / max(seconds, 1e-9):.0f} utt/s "
                f"({waited / max(seconds, 1e-9):.0%} waiting)")
    pool.terminate()
    save(state, out / "last.keras")
    if not (out / "best.keras").exists():  # nothing beat the starting model: it stays the best
        shutil.copyfile(args.model, out / "best.keras")
    log(f"done: {step} steps, {epoch} epochs, best val_wer={best:.4f}; files in {out}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("pack", help="re-encode corpora as OGG/Opus + JSONL manifests (run here)")
    p.add_argument("--train", nargs="+", required=True, help="training corpora (folders or manifests)")
    p.add_argument("--val", nargs="+", required=True, help="validation corpora")
    p.add_argument("--out", required=True, help="new folder for train/, val/, train.jsonl, val.jsonl")
    p.add_argument("--compression-level", type=float, default=0.98,
                   help="libsndfile's Opus compression level in [0, 1]; 0.98 is about 13 kbit/s at 16 kHz")
    p.add_argument("--workers", type=int, default=os.cpu_count())
    p.set_defaults(func=pack)
    t = commands.add_parser("train", help="continue training a model on a GPU with the JAX backend (run there)")
    t.add_argument("--data", required=True, help="a folder written by `pack`")
    t.add_argument("--model", required=True, help="the speech model (.keras) to start from")
    t.add_argument("--out", required=True, help="folder for best.keras, last.keras, log.jsonl, settings.json")
    t.add_argument("--max-minutes", type=float, required=True, help="wall-clock budget of the whole run")
    t.add_argument("--reserve-seconds", type=float, default=40.0,
                   help="stop training this long before the budget ends (final evaluation and saving)")
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--eval-batch-size", type=int, default=300,
                   help="validation items per forward pass (each distinct batch shape is compiled once)")
    t.add_argument("--compilation-cache", default=None,
                   help="folder for JAX's persistent compilation cache (reused by a later run on the same machine)")
    t.add_argument("--learning-rate", type=float, default=1e-3, help="peak learning rate, after the warm-up")
    t.add_argument("--final-learning-rate", type=float, default=1e-5, help="learning rate at the end of the budget")
    t.add_argument("--warmup-steps", type=int, default=100)
    t.add_argument("--clipnorm", type=float, default=5.0)
    t.add_argument("--eval-every", type=int, default=1, help="epochs between validations")
    t.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--log-first-steps", type=int, default=20)
    t.add_argument("--backend", default="jax", help="Keras backend (CTC_TOOLKIT_BACKEND) to train on")
    t.set_defaults(func=train)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
