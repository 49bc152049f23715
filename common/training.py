"""The one training path both tasks use.

:func:`train` takes a :class:`TaskSpec` (what is task-specific: reading a data set, preparing and featurizing an
item, building a model) and a :class:`TrainConfig` (the run's settings, which the command line maps onto one to
one), and runs Keras ``fit`` with: validation CER/WER every epoch, early stopping, a learning-rate schedule
(warm-up, then halving on plateaus), atomic checkpoints, ``--resume``, ``--max-minutes``, TensorBoard and CSV
logs, and the resolved settings saved as JSON in the run folder beside the model.

Run folder layout, for ``--out models/mine.keras``: ``models/mine_run/`` holds ``settings.json``,
``last.keras`` (model + optimizer state, for ``--resume``), ``state.json`` (last finished epoch, best score),
``log.csv`` and ``tensorboard/``. The best model so far (by the validation metric) is always at ``--out``.
"""

import dataclasses
import json
import math
import sys
import time
import warnings
from pathlib import Path

import common  # noqa: F401  (pins the Keras backend)
import keras
import numpy as np

from common.alphabet import Alphabet
from common.batching import CTCDataset
from common.ctc import ctc_loss, decode
from common.errors import AlphabetError, ConfigError, DataError, InputError, ModelFileError
from common.metrics import cer, exact_rate, wer
from common.model_file import atomic_write, load_model, save_model

__all__ = ["TrainConfig", "TaskSpec", "train", "prepare_items", "split_validation", "alphabet_report",
           "resize_head", "run_folder"]

ALPHABET_POLICIES = ("union", "new", "keep")
FREEZE_CHOICES = ("none", "frontend", "encoder")


@dataclasses.dataclass
class TrainConfig:
    """Settings of one training run (every field is a command-line option of ``ocr train`` / ``speech train``).

    Attributes:
        data: training data (a folder or manifest the task understands).
        out: where the best model is written (``.keras``).
        val: validation data; when ``None``, ``val_fraction`` of ``data`` is held out (and the run says so).
        from_model: a model file to continue from (fine-tuning); ``None`` trains a new model.
        epochs: maximum number of epochs.
        batch_size: items per batch.
        learning_rate: peak learning rate; ``None`` means 1e-3 for a new model, 3e-4 when fine-tuning.
        warmup_steps: steps of linear learning-rate warm-up; ``None`` means 0 for a new model, 100 when fine-tuning.
        max_minutes: stop after this many minutes of training and keep the best model.
        patience: epochs without improvement of the validation metric before stopping.
        val_fraction: share of ``data`` held out for validation when no ``val`` is given.
        seed: seed of the split, shuffling and augmentation.
        resume: continue the run in the run folder from its last checkpoint.
        alphabet: with ``from_model``: ``union`` adds new characters, ``new`` builds a new head over the data's
            characters, ``keep`` makes unknown characters an error.
        freeze: ``frontend`` or ``encoder`` (front end + encoder) to train only what comes after; ``none``.
        augment: augment training items on the fly.
        model: model-size settings for a new model (task-specific keys, e.g. ``units``, ``num_layers``).
        max_items: use at most this many training items (quick experiments).
        verbose: Keras' progress bar (1), one line per epoch (2), or silent (0).
    """

    data: str
    out: str
    val: str = None
    from_model: str = None
    epochs: int = 100
    batch_size: int = 32
    learning_rate: float = None
    warmup_steps: int = None
    max_minutes: float = None
    patience: int = 10
    val_fraction: float = 0.05
    seed: int = 0
    resume: bool = False
    alphabet: str = "union"
    freeze: str = "none"
    augment: bool = True
    model: dict = dataclasses.field(default_factory=dict)
    max_items: int = None
    verbose: int = 1

    def __post_init__(self):
        if not str(self.out).endswith(".keras"):
            raise ConfigError(f"--out must name a .keras file. Received: out={self.out!r}")
        if self.alphabet not in ALPHABET_POLICIES:
            raise ConfigError(f"--alphabet must be one of {ALPHABET_POLICIES}. Received: alphabet={self.alphabet!r}")
        if self.freeze not in FREEZE_CHOICES:
            raise ConfigError(f"--freeze must be one of {FREEZE_CHOICES}. Received: freeze={self.freeze!r}")
        if not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"--val-fraction must be in (0, 0.5). Received: val_fraction={self.val_fraction}")
        for name in ("epochs", "batch_size", "patience"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"--{name.replace('_', '-')} must be >= 1. Received: {name}={getattr(self, name)}")

    @property
    def fine_tuning(self):
        return self.from_model is not None

    def resolved(self):
        """A copy with the ``None`` defaults that depend on fine-tuning filled in."""
        lr = self.learning_rate if self.learning_rate is not None else (3e-4 if self.fine_tuning else 1e-3)
        warmup = self.warmup_steps if self.warmup_steps is not None else (100 if self.fine_tuning else 0)
        return dataclasses.replace(self, learning_rate=lr, warmup_steps=warmup)

    @classmethod
    def from_dict(cls, settings):
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(settings) - names)
        if unknown:
            raise ConfigError(f"Unknown training settings {unknown}; known: {sorted(names)}.")
        return cls(**settings)

    def to_dict(self):
        return dataclasses.asdict(self)


class TaskSpec:
    """What a task supplies to :func:`train`; ``ocr`` and ``speech`` each subclass it.

    Attributes:
        name: ``"ocr"`` or ``"speech"`` (stored in model files).
        metric: the validation metric that picks the best model, ``"cer"`` or ``"wer"``.
    """

    name = None
    metric = "cer"

    def load_examples(self, path):
        """Return a list of ``(source, text)`` pairs from a data set path. Raise DataError when unusable."""
        raise NotImplementedError

    def normalize_text(self, text):
        """Transcript normalization applied to training and evaluation text."""
        return text

    def default_alphabet(self, texts):
        """The alphabet of a new model trained on ``texts``."""
        return Alphabet.from_texts(texts)

    def prepare(self, source):
        """Load and cache one training item (raise InputError for a bad file)."""
        raise NotImplementedError

    def item_length(self, item):
        """Approximate number of input frames of a prepared item (for bucketing)."""
        raise NotImplementedError

    def featurize(self, item, rng):
        """float32 ``(time, features)`` from a prepared item; augment when ``rng`` is a Generator."""
        raise NotImplementedError

    def build_model(self, alphabet, **settings):
        """A new :class:`~common.recognizer.Recognizer` for ``alphabet``."""
        raise NotImplementedError


def run_folder(out):
    """The run folder beside a model path: ``models/mine.keras`` -> ``models/mine_run``."""
    out = Path(out)
    return out.with_name(out.stem + "_run")


def _log(message):
    print(message, file=sys.stderr, flush=True)


def split_validation(examples, fraction, seed):
    """Hold out ``fraction`` of the examples (at least 1, at most 1000) at random; returns (train, val)."""
    if len(examples) < 2:
        raise DataError(
            f"Need at least 2 examples to hold some out for validation; pass --val. Received: {len(examples)} example(s)"
        )
    count = min(1000, max(1, int(round(len(examples) * fraction))))
    order = np.random.default_rng(seed).permutation(len(examples))
    val = [examples[i] for i in sorted(order[:count])]
    train = [examples[i] for i in sorted(order[count:])]
    return train, val


def prepare_items(spec, examples, *, label, verbose=1):
    """Prepare (load, cache) every example; bad files are skipped with a warning that names them.

    Returns:
        ``(items, texts, sources)`` of the examples that loaded.
    """
    items, texts, sources, failures = [], [], [], []
    bar = keras.utils.Progbar(len(examples), verbose=1 if verbose == 1 and len(examples) > 50 else 0,
                              unit_name="item")
    for n, (source, text) in enumerate(examples):
        try:
            items.append(spec.prepare(source))
        except InputError as error:
            failures.append(str(error))
        else:
            texts.append(text)
            sources.append(source)
        if n % 50 == 0 or n == len(examples) - 1:
            bar.update(n + 1)
    if failures:
        _log(f"warning: skipped {len(failures)} unreadable {label} file(s), e.g. " + "; ".join(failures[:3]))
    if not items:
        raise DataError(f"None of the {len(examples)} {label} files could be read; first error: {failures[:1]}")
    return items, texts, sources


def alphabet_report(alphabet, train_texts, val_texts):
    """Count characters only in training, only in validation, and unknown to ``alphabet``; returns lines of text."""
    from collections import Counter

    train_counts = Counter("".join(train_texts))
    val_counts = Counter("".join(val_texts))

    def fmt(counts):
        return ", ".join(f"{c!r}x{n}" for c, n in sorted(counts.items(), key=lambda kv: -kv[1])[:30]) or "none"

    only_train = {c: n for c, n in train_counts.items() if c not in val_counts}
    only_val = {c: n for c, n in val_counts.items() if c not in train_counts}
    unknown = {c: n for c, n in (train_counts + val_counts).items() if c not in alphabet}
    return [
        f"characters: {len(train_counts)} in training, {len(val_counts)} in validation, model alphabet {len(alphabet)}",
        f"only in training: {fmt(only_train)}",
        f"only in validation: {fmt(only_val)}",
        f"unknown to the model: {fmt(unknown)}",
    ], unknown


def resize_head(model, alphabet):
    """A copy of ``model`` whose output layer covers ``alphabet``, keeping the rows of characters it knew.

    Characters the old alphabet had keep their trained weights; new characters start from the mean of the
    known characters' weights with a lower bias, so the model does not start out emitting them.
    """
    from common.recognizer import Recognizer

    old_alphabet = Alphabet.from_config(model.metadata["alphabet"])
    metadata = dict(model.metadata, alphabet=alphabet.get_config())
    new = Recognizer(
        keras.layers.deserialize(keras.layers.serialize(model.frontend)),
        keras.layers.deserialize(keras.layers.serialize(model.encoder)),
        alphabet.num_classes,
        metadata=metadata,
    )
    for target, source in ((new.frontend, model.frontend), (new.encoder, model.encoder)):
        target.set_weights(source.get_weights())
    kernel, bias = model.head.get_weights()
    new_kernel = np.zeros((kernel.shape[0], alphabet.num_classes), dtype=kernel.dtype)
    new_bias = np.zeros(alphabet.num_classes, dtype=bias.dtype)
    known_kernel = kernel[:, 1:].mean(axis=1) if kernel.shape[1] > 1 else kernel[:, 0]
    known_bias = (bias[1:].mean() if bias.shape[0] > 1 else 0.0) - 2.0
    new_kernel[:, 0], new_bias[0] = kernel[:, 0], bias[0]
    for i, char in enumerate(alphabet.characters, start=1):
        if char in old_alphabet:
            j = old_alphabet.characters.index(char) + 1
            new_kernel[:, i], new_bias[i] = kernel[:, j], bias[j]
        else:
            new_kernel[:, i], new_bias[i] = known_kernel, known_bias
    new.head.set_weights([new_kernel, new_bias])
    return new


class ValidationMetrics(keras.callbacks.Callback):
    """Decode the validation set after each epoch and put ``val_loss``, ``val_cer``, ``val_wer`` into the logs."""

    def __init__(self, dataset, references, alphabet, *, verbose=1):
        super().__init__()
        self.dataset = dataset
        self.references = references
        self.alphabet = alphabet
        self.verbose = verbose

    def evaluate(self):
        losses, hypotheses, references = [], [], []
        for b in range(len(self.dataset)):
            x, y = self.dataset[b]
            out = self.model.predict_on_batch(x)
            losses.append(keras.ops.convert_to_numpy(
                ctc_loss(y["labels"], out["logits"], y["label_lengths"], out["lengths"])))
            hypotheses += [d.text for d in decode(out["logits"], out["lengths"], self.alphabet)]
            references += [self.references[i] for i in self.dataset.batches[b]]
        return {
            "val_loss": float(np.mean(np.concatenate(losses))),
            "val_cer": cer(references, hypotheses),
            "val_wer": wer(references, hypotheses),
            "val_exact": exact_rate(references, hypotheses),
        }

    def on_epoch_end(self, epoch, logs=None):
        results = self.evaluate()
        if logs is not None:
            logs.update(results)
        if self.verbose:
            _log(f"epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4f}" for k, v in results.items()))


class TimeLimit(keras.callbacks.Callback):
    """Stop training after ``max_minutes`` (checked after every batch); the epoch is then closed normally."""

    def __init__(self, max_minutes):
        super().__init__()
        self.max_seconds = max_minutes * 60.0
        self.start = None
        self.stopped = False

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def on_train_batch_end(self, batch, logs=None):
        if time.monotonic() - self.start >= self.max_seconds:
            self.model.stop_training = True
            self.stopped = True


class WarmUp(keras.callbacks.Callback):
    """Raise the learning rate linearly from ~0 to ``learning_rate`` over the first ``steps`` steps."""

    def __init__(self, learning_rate, steps):
        super().__init__()
        self.learning_rate = learning_rate
        self.steps = steps

    def on_train_batch_begin(self, batch, logs=None):
        step = int(self.model.optimizer.iterations.numpy())
        if step <= self.steps:
            self.model.optimizer.learning_rate.assign(self.learning_rate * min(1.0, (step + 1) / self.steps))


class AtomicCheckpoint(keras.callbacks.Callback):
    """After each epoch: ``last.keras`` + ``state.json`` in the run folder; the best model so far at ``out``.

    Every file is written to a temporary name and renamed, so a kill at any moment leaves the previous files
    loadable.
    """

    def __init__(self, run_dir, out, *, monitor, best=math.inf):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.out = Path(out)
        self.monitor = monitor
        self.best = best

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        if value is not None and value < self.best:
            self.best = float(value)
            save_model(_inference_copy(self.model), self.out)
        save_model(self.model, self.run_dir / "last.keras")
        state = {"epoch": epoch, "best": self.best, "monitor": self.monitor,
                 "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))}
        atomic_write(self.run_dir / "state.json", lambda tmp: Path(tmp).write_text(json.dumps(state, indent=2)))


def _ctc_frames_needed(label):
    """Fewest frames CTC needs for ``label``: one per character plus a blank between repeated characters."""
    return len(label) + int(np.sum(label[1:] == label[:-1])) if len(label) else 0


def _inference_copy(model):
    """The model without optimizer state (smaller file for shipping)."""
    from common.recognizer import Recognizer

    copy = Recognizer.from_config(model.get_config())
    copy.set_weights(model.get_weights())
    return copy


def _apply_freeze(model, freeze):
    model.frontend.trainable = freeze == "none"
    model.encoder.trainable = freeze != "encoder"


def _initial_model(spec, config, train_texts, val_texts):
    """Build, fine-tune-load or resume the model; returns ``(model, initial_epoch, best)``."""
    run_dir = run_folder(config.out)
    if config.resume:
        last = run_dir / "last.keras"
        state_file = run_dir / "state.json"
        if not last.is_file() or not state_file.is_file():
            raise ConfigError(f"--resume: no checkpoint in {run_dir} (expected last.keras and state.json).")
        model = load_model(last, task=spec.name, compile=True)
        state = json.loads(state_file.read_text())
        _log(f"resuming from {last} after epoch {state['epoch'] + 1} (best {state['monitor']}={state['best']:.4f})")
        return model, state["epoch"] + 1, state["best"]
    if config.from_model:
        model = load_model(config.from_model, task=spec.name)
        alphabet = Alphabet.from_config(model.metadata["alphabet"])
        lines, unknown = alphabet_report(alphabet, train_texts, val_texts)
        for line in lines:
            _log(line)
        if config.alphabet == "keep" and unknown:
            raise AlphabetError(
                f"{len(unknown)} character(s) of the data are not in the model's alphabet: "
                f"{''.join(sorted(unknown))!r}. Use --alphabet union to add them. Received: alphabet='keep'"
            )
        if config.alphabet == "union" and unknown:
            model = resize_head(model, alphabet.union(unknown))
            _log(f"alphabet: added {len(unknown)} character(s) to the model's output layer")
        elif config.alphabet == "new":
            model = resize_head(model, spec.default_alphabet(train_texts + val_texts))
        return model, 0, math.inf
    model = spec.build_model(spec.default_alphabet(train_texts + val_texts), **config.model)
    return model, 0, math.inf


def train(spec, config):
    """Train (or fine-tune, or resume) a model for ``spec`` with ``config``; returns the Keras History.

    The best model is at ``config.out`` when this returns, even when ``max_minutes`` cut the run short.
    """
    config = config.resolved()
    keras.utils.set_random_seed(config.seed)
    out = Path(config.out)
    run_dir = run_folder(out)
    run_dir.mkdir(parents=True, exist_ok=True)

    examples = [(s, spec.normalize_text(t)) for s, t in spec.load_examples(config.data)]
    if config.val:
        train_examples = examples
        val_examples = [(s, spec.normalize_text(t)) for s, t in spec.load_examples(config.val)]
    else:
        train_examples, val_examples = split_validation(examples, config.val_fraction, config.seed)
        _log(f"no --val given: holding out {len(val_examples)} of {len(examples)} examples for validation")
    if config.max_items:
        train_examples = train_examples[: config.max_items]

    model, initial_epoch, best = _initial_model(
        spec, config, [t for _, t in train_examples], [t for _, t in val_examples])
    alphabet = Alphabet.from_config(model.metadata["alphabet"])
    # Characters the model still cannot write (alphabet=keep raised already) are dropped from the labels.
    label_alphabet = Alphabet(alphabet.characters, unknown="drop")

    _log(f"preparing {len(train_examples)} training and {len(val_examples)} validation items")
    train_items, train_texts, _ = prepare_items(spec, train_examples, label="training", verbose=config.verbose)
    val_items, val_texts, _ = prepare_items(spec, val_examples, label="validation", verbose=config.verbose)
    train_labels = [label_alphabet.encode(t) for t in train_texts]
    val_labels = [label_alphabet.encode(t) for t in val_texts]
    keep = [i for i, lab in enumerate(train_labels)
            if 0 < _ctc_frames_needed(lab) <= int(model.frontend.compute_output_length(spec.item_length(train_items[i])))]
    if not keep:
        raise DataError("No training example is usable: the transcripts are empty after normalization, or too long "
                        "for their inputs.")
    dropped = sum(1 for lab in train_labels if len(lab) > 0) - len(keep)
    if dropped:
        _log(f"warning: skipped {dropped} training example(s) whose transcript needs more frames than the input "
             "gives (text too long for the image or audio)")

    train_data = CTCDataset([train_items[i] for i in keep], [train_labels[i] for i in keep], spec.featurize,
                            [spec.item_length(train_items[i]) for i in keep], batch_size=config.batch_size,
                            augment=config.augment, shuffle=True, seed=config.seed)
    val_data = CTCDataset(val_items, val_labels, spec.featurize, [spec.item_length(i) for i in val_items],
                          batch_size=config.batch_size, augment=False, shuffle=False)

    _apply_freeze(model, config.freeze)
    if not config.resume:
        model.compile(optimizer=keras.optimizers.Adam(config.learning_rate, clipnorm=5.0))
    settings = {"task": spec.name, "training": config.to_dict(), "model": model.get_config(),
                "num_train": len(keep), "num_val": len(val_items)}
    atomic_write(run_dir / "settings.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(settings, indent=2, ensure_ascii=False, default=str)))

    monitor = f"val_{spec.metric}"
    callbacks = [
        ValidationMetrics(val_data, [alphabet.decode(lab) for lab in val_labels], alphabet, verbose=config.verbose),
        AtomicCheckpoint(run_dir, out, monitor=monitor, best=best),
        keras.callbacks.EarlyStopping(monitor=monitor, mode="min", patience=config.patience),
        keras.callbacks.ReduceLROnPlateau(monitor=monitor, mode="min", factor=0.5,
                                          patience=max(2, config.patience // 3), min_lr=1e-5),
        keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=config.resume),
        keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False, profile_batch=0),
    ]
    if config.warmup_steps and not config.resume:
        callbacks.append(WarmUp(config.learning_rate, config.warmup_steps))
    limit = None
    if config.max_minutes:
        limit = TimeLimit(config.max_minutes)
        callbacks.append(limit)
    if initial_epoch >= config.epochs:
        _log(f"the run already finished {initial_epoch} of {config.epochs} epochs; raise --epochs to go on")
        return None
    start = time.monotonic()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*PyDataset.*")
        history = model.fit(train_data, epochs=config.epochs, initial_epoch=initial_epoch, callbacks=callbacks,
                            verbose=config.verbose)
    seconds = time.monotonic() - start
    epochs_run = len(history.epoch)
    items_per_second = len(keep) * epochs_run / max(seconds, 1e-9)
    if limit is not None and limit.stopped:
        _log(f"--max-minutes {config.max_minutes}: stopped training after {seconds / 60:.1f} min")
    _log(f"trained {epochs_run} epoch(s) in {seconds:.0f} s (~{items_per_second:.1f} items/s); "
         f"best {monitor}={callbacks[1].best:.4f}; model: {out}")
    if not out.is_file():
        raise ModelFileError(f"{out}: no model was saved (no epoch finished).")
    return history
