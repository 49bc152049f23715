"""The one training path both tasks use, on every Keras backend (TensorFlow; JAX for a GPU machine without it).

:func:`train` takes a :class:`TaskSpec` (what is task-specific: reading a data set, preparing and featurizing an
item, building a model) and a :class:`~common.train_config.TrainConfig` (the run's settings, which the command line
maps onto one to one), and runs Keras ``fit`` with: validation CER/WER every epoch, one learning-rate schedule
(warm-up; then a cosine over ``--max-minutes``, or halving on plateaus and early stopping without a time budget),
atomic checkpoints, ``--resume``, CSV (and, on TensorFlow, TensorBoard) logs, and the resolved settings saved as
JSON in the run folder beside the model. The pieces live beside it: settings (:mod:`common.train_config`),
fine-tuning (:mod:`common.fine_tuning`), precision and scale-out (:mod:`common.distribution`), callbacks
(:mod:`common.train_callbacks`), batches (:mod:`common.batching`).

Run folder layout, for ``--out models/mine.keras``: ``models/mine_run/`` holds ``settings.json``,
``last.keras`` (model + optimizer state + the run's state, for ``--resume``), ``state.json`` (a readable copy of
that state: last finished epoch, best score), ``log.csv`` and ``tensorboard/``. The best model so far (by the
validation metric) is always at ``--out``.

Kills: every file is written to a temporary name and renamed, and the run's state travels inside ``last.keras``,
so a run killed at any moment (mid-epoch, mid-save) resumes with ``--resume`` from its last finished epoch; what
it loses is the epoch it was in.

Backends: ``CTC_TOOLKIT_BACKEND=jax`` (see :mod:`common`) trains through this same function with Keras' JAX
backend and no TensorFlow: batches are then padded to a few bucketed shapes (JAX compiles each shape once), and
``--strategy`` must be ``none``.
"""

import contextlib
import dataclasses
import json
import math
import sys
import time
from pathlib import Path

import common  # noqa: F401  (pins the Keras backend)
import keras
import numpy as np

from common.alphabet import Alphabet
from common.batching import CTCDataset, feed
from common.distribution import (compile_model, inference_copy, make_strategy, rebuild, resolve_precision,
                                 synchronize_batch_norm)
from common.errors import AlphabetError, ConfigError, DataError, InputError, ModelFileError
from common.fine_tuning import adapt_head, alphabet_report, apply_freeze, copy_optimizer_state, widen_encoder
from common.model_file import atomic_write, load_model, lock_folder, remove_stale_temporaries, save_model
from common.train_callbacks import (AtomicCheckpoint, EpochReport, LearningRate, TimeBudget, ValidationMetrics,
                                    read_checkpoint_state)
from common.train_config import DEFAULT_VAL_FRACTION, MIN_VAL_ITEMS, TrainConfig, validation_count

__all__ = ["TrainConfig", "TaskSpec", "train", "prepare_items", "split_validation", "run_folder",
           "read_checkpoint_state", "ctc_frames_needed"]


class TaskSpec:
    """What a task supplies to :func:`train`; ``ocr`` and ``speech`` each subclass it.

    Attributes:
        name: ``"ocr"`` or ``"speech"`` (stored in model files).
        metric: the validation metric that picks the best model, ``"cer"`` or ``"wer"``.
        preprocessor: the :class:`~common.preprocessor.Preprocessor` that prepares items (``None``: the task has
            none); a model that is fine-tuned or resumed brings its own (:meth:`use_preprocessor`).
        explicit_preprocessor: whether the user chose the preprocessing settings (then a model with other ones is
            refused rather than silently followed).
    """

    name = None
    metric = "cer"
    preprocessor = None
    explicit_preprocessor = False

    def use_preprocessor(self, preprocessor, source):
        """Prepare the data the way the model from ``source`` (fine-tuned or resumed) was trained: take its
        ``preprocessor``; raise ConfigError if the user explicitly asked for other settings."""
        if preprocessor is None or preprocessor == self.preprocessor:
            return
        if self.explicit_preprocessor:
            raise ConfigError(
                f"{source}: the model prepares its input with {preprocessor!r}, but this run asks for "
                f"{self.preprocessor!r}; a model reads input prepared its own way only. Drop the preprocessing "
                f"options (e.g. --height) to use the model's. Received: {self.preprocessor!r}")
        self.preprocessor = preprocessor

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
    """Hold out :func:`~common.train_config.validation_count` examples at random; returns (train, val)."""
    if len(examples) < 2:
        raise DataError(
            f"Need at least 2 examples to hold some out for validation; pass --val. Received: {len(examples)} example(s)"
        )
    count = validation_count(len(examples), fraction)
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



def ctc_frames_needed(label):
    """Fewest frames CTC needs for ``label``: one per character plus a blank between repeated characters."""
    return len(label) + int(np.sum(label[1:] == label[:-1])) if len(label) else 0


@dataclasses.dataclass
class _Data:
    """A run's prepared data: the batches to train and validate on, and what the reports need."""

    train: CTCDataset
    val: CTCDataset
    val_references: list
    alphabet: Alphabet


def _start_run_folder(config, is_chief, held):
    """The chief locks the run folder (creating it; a second run into it is refused) for as long as ``held``
    lasts, and removes what killed runs left behind."""
    out = Path(config.out)
    if is_chief:
        held.enter_context(lock_folder(run_folder(out)))
        remove_stale_temporaries(run_folder(out))
        remove_stale_temporaries(out.parent, of=out)


def _read_examples(spec, config):
    """The training and validation ``(source, text)`` pairs, transcripts normalized."""
    examples = [(s, spec.normalize_text(t)) for s, t in spec.load_examples(config.data)]
    if config.val:
        train_examples = examples
        val_examples = [(s, spec.normalize_text(t)) for s, t in spec.load_examples(config.val)]
    else:
        train_examples, val_examples = split_validation(examples, config.val_fraction, config.seed)
        if config.val_fraction is not None:
            why = f"--val-fraction {config.val_fraction}"
        elif len(val_examples) > round(len(examples) * DEFAULT_VAL_FRACTION):
            why = (f"{DEFAULT_VAL_FRACTION:.0%} would be {round(len(examples) * DEFAULT_VAL_FRACTION)}, too few to "
                   f"measure: at least {MIN_VAL_ITEMS} or a fifth of a small data set")
        else:
            why = f"{DEFAULT_VAL_FRACTION:.0%}"
        _log(f"no --val given: holding out {len(val_examples)} of {len(examples)} examples for validation ({why}; "
             f"--seed {config.seed}); choose with --val DIR or --val-fraction F")
    if config.max_items:
        train_examples = train_examples[: config.max_items]
    _check_characters(train_examples + val_examples)
    # An empty transcript (a blank .gt.txt, or speech text that normalizes to nothing) cannot be a CTC target.
    return _drop_empty(train_examples, label="training"), _drop_empty(val_examples, label="validation")


def _check_characters(examples):
    """Refuse transcripts holding control characters (TAB, CR, NUL, ...): they would become classes of the model."""
    import unicodedata

    bad = dict((source, char) for source, text in examples
               for char in sorted({c for c in text if unicodedata.category(c) == "Cc"})[:1])
    bad = sorted(bad.items(), key=lambda pair: str(pair[0]))  # once each, also when --val is the data itself
    if bad:
        shown = "; ".join(f"{source}: {char!r} (U+{ord(char):04X})" for source, char in bad[:5])
        more = f" and {len(bad) - 5} more" if len(bad) > 5 else ""
        raise DataError(
            f"{len(bad)} transcript(s) hold control characters, which a model cannot write ({shown}{more}); replace "
            f"tabs with spaces and remove the other control characters. Received: {len(bad)} transcript(s)")


def _drop_empty(examples, *, label):
    """Leave out ``(source, text)`` examples whose transcript is empty, with a warning that counts and names them."""
    empty = [source for source, text in examples if not text.strip()]
    if not empty:
        return examples
    if len(empty) == len(examples):
        raise DataError(f"Every {label} transcript is empty after normalization (blank, or only characters the "
                        f"task removes), e.g. {empty[0]}; a model cannot learn from empty text. "
                        f"Received: {len(empty)} empty transcript(s)")
    shown = ", ".join(str(source) for source in empty[:3]) + (" ..." if len(empty) > 3 else "")
    _log(f"warning: skipped {len(empty)} {label} example(s) whose transcript is empty after normalization "
         f"(blank, or only characters the task removes): {shown}")
    return [(source, text) for source, text in examples if text.strip()]


def _refuse_unknown_characters(alphabet, train_texts, val_texts, *, resumed):
    """Refuse data with characters the model cannot write (a resumed run keeps its output layer); they used to be
    dropped from the labels without a word."""
    unknown = sorted(alphabet.unknown_characters("".join(train_texts + val_texts)) - {"\n"})
    if not unknown:
        return
    how = ("a resumed run keeps its output layer; to add them, fine-tune from the checkpoint instead: "
           "--from RUN/last.keras --alphabet union with a new --out") if resumed else \
        "fine-tune with --alphabet union to add them"
    raise AlphabetError(
        f"{len(unknown)} character(s) of the data are not in the model's alphabet: {''.join(unknown)!r}; {how}. "
        f"Received: unknown={''.join(unknown)!r}")


def _initial_model(spec, config, train_texts, val_texts):
    """Build, fine-tune-load or resume the model (plain float32, not distributed).

    Returns:
        ``(model, state)``: ``state`` is the checkpoint's state when resuming (the model then carries its
        optimizer), else ``None``.
    """
    run_dir = run_folder(config.out)
    if config.resume:
        state = read_checkpoint_state(run_dir, task=spec.name)
        model = load_model(run_dir / "last.keras", task=spec.name, compile=True)
        model.metadata.pop("checkpoint", None)
        spec.use_preprocessor(model.preprocessor, run_dir / "last.keras")
        best = "none yet" if math.isinf(state["best"]) else f"{state['best']:.4f}"
        _log(f"resuming from {run_dir / 'last.keras'} after epoch {state['epoch'] + 1} "
             f"(best {state['monitor']}={best})")
    elif config.from_model:
        model = load_model(config.from_model, task=spec.name)
        spec.use_preprocessor(model.preprocessor, config.from_model)
        if config.widen is not None:
            model = widen_encoder(model, config.widen)
        return adapt_head(model, config.alphabet, spec.default_alphabet(train_texts + val_texts), train_texts,
                          val_texts), None
    else:
        model, state = spec.build_model(spec.default_alphabet(train_texts + val_texts), **config.model), None
    for line in alphabet_report(model.alphabet, train_texts, val_texts)[0]:
        _log(line)
    return model, state


def _prepare_data(spec, config, model, state, train_examples, val_examples, num_replicas):
    """Load and encode the items; drop those whose transcript cannot fit their input; batch them."""
    alphabet = model.alphabet
    _refuse_unknown_characters(alphabet, [t for _, t in train_examples], [t for _, t in val_examples],
                               resumed=state is not None)
    label_alphabet = Alphabet(alphabet.characters)
    _log(f"preparing {len(train_examples)} training and {len(val_examples)} validation items")
    train_items, train_texts, _ = prepare_items(spec, train_examples, label="training", verbose=config.verbose)
    val_items, val_texts, _ = prepare_items(spec, val_examples, label="validation", verbose=config.verbose)
    num_features = spec.featurize(train_items[0], None).shape[-1]
    if num_features != model.num_features:
        raise ConfigError(
            f"The model takes {model.num_features} features per frame but the task prepares {num_features} "
            "(e.g. another --height than the model's strip height). Prepare the data the way the model was "
            f"trained. Received: model num_features={model.num_features}, data num_features={num_features}")
    train_labels = [label_alphabet.encode(t) for t in train_texts]
    val_labels = [label_alphabet.encode(t) for t in val_texts]
    keep = [i for i, lab in enumerate(train_labels)
            if 0 < ctc_frames_needed(lab) <= int(model.frontend.compute_output_length(spec.item_length(train_items[i])))]
    if not keep:
        raise DataError("No training example is usable: every transcript is too long for its input.")
    dropped = len(train_labels) - len(keep)
    if dropped:
        _log(f"warning: skipped {dropped} training example(s) whose transcript needs more frames than the input "
             "gives (text too long for the image or audio)")
    if len(keep) < num_replicas:
        raise DataError(f"{num_replicas} replicas need at least {num_replicas} training examples. "
                        f"Received: {len(keep)} usable example(s)")
    bucket = keras.config.backend() != "tensorflow"  # JAX compiles every distinct shape
    train_data = CTCDataset([train_items[i] for i in keep], [train_labels[i] for i in keep], spec.featurize,
                            [spec.item_length(train_items[i]) for i in keep], batch_size=config.batch_size,
                            augment=config.augment, shuffle=True, seed=config.seed, min_batch_size=num_replicas,
                            bucket=bucket)
    val_data = CTCDataset(val_items, val_labels, spec.featurize, [spec.item_length(i) for i in val_items],
                          batch_size=config.batch_size, augment=False, shuffle=False, bucket=bucket)
    return _Data(train_data, val_data, [alphabet.decode(lab) for lab in val_labels], alphabet)


def _training_model(model, state, config, policy, strategy):
    """The model to train: the plain model itself, or a copy computing in mixed precision and/or with its variables
    mirrored across the strategy's replicas; frozen as asked and compiled (with the checkpoint's optimizer state
    when resuming)."""
    resumed_optimizer = model.optimizer if state is not None else None
    if strategy is not None or policy != "float32":
        model = rebuild(model, policy=policy, strategy=strategy)
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        synchronize_batch_norm(model)
    apply_freeze(model, config.freeze)
    compile_model(model, lambda: keras.optimizers.Adam(config.learning_rate, clipnorm=5.0), strategy)
    if resumed_optimizer is not None and not copy_optimizer_state(resumed_optimizer, model.optimizer):
        _log("warning: the checkpoint's optimizer state does not fit this run (another --freeze?); "
             "the optimizer starts afresh")
    if strategy is not None:
        _log(f"strategy {config.strategy}: {strategy.num_replicas_in_sync} replica(s); a step's global batch of up "
             f"to {config.batch_size} items is cut into {strategy.num_replicas_in_sync} share(s)")
    _log(f"backend: {keras.config.backend()}; precision: {policy}")
    return model


def _record_run(spec, config, model, state, data, policy, num_replicas):
    """The chief's files before training: the best model repaired after a kill, and ``settings.json``."""
    out = Path(config.out)
    if state is not None and state.get("best_epoch") is not None and state["best_epoch"] == state["epoch"]:
        # The kill may have come between last.keras and the best model: the checkpoint is the best model.
        save_model(inference_copy(model), out)
    settings = {"task": spec.name, "training": config.to_dict(), "model": model.get_config(),
                "num_train": len(data.train.items), "num_val": len(data.val.items), "dtype_policy": policy,
                "num_replicas": num_replicas, "backend": keras.config.backend()}
    atomic_write(run_folder(out) / "settings.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(settings, indent=2, ensure_ascii=False, default=str)))


def _callbacks(spec, config, data, state, *, is_chief, plain, strategy):
    """The run's callbacks, in the order they run after an epoch: validation, checkpoint, stopping, schedule, logs.

    With a time budget (``--max-minutes``) the run spends it: the learning rate follows a cosine over the budget
    and nothing stops the run early (on a small validation set, CER is too noisy to stop on). Without one, the
    learning rate halves on plateaus of the validation loss (smoother than CER/WER on small validation sets) and
    ``--patience`` epochs without a better validation metric stop the run.
    """
    monitor = f"val_{spec.metric}"
    state = state or {}
    budget = None
    if config.max_minutes:
        budget = TimeBudget(config.max_minutes, spent_minutes=state.get("minutes_trained", 0.0), strategy=strategy)
    checkpoint = AtomicCheckpoint(run_folder(config.out), config.out, monitor=monitor,
                                  best=state.get("best", math.inf), best_loss=state.get("best_loss", math.inf),
                                  best_epoch=state.get("best_epoch"), plain=plain, budget=budget)
    callbacks = [ValidationMetrics(data.val, data.val_references, data.alphabet, verbose=config.verbose)]
    if is_chief:
        callbacks.append(checkpoint)
    if budget is not None:
        callbacks.append(budget)
        _log(f"learning rate {config.learning_rate:g} after {config.warmup_steps} warm-up step(s), then a cosine "
             f"down to 1e-5 over --max-minutes {config.max_minutes:g}")
    else:
        callbacks += [
            keras.callbacks.EarlyStopping(monitor=monitor, mode="min", patience=config.patience),
            keras.callbacks.ReduceLROnPlateau(monitor="val_loss", mode="min", factor=0.5,
                                              patience=max(2, config.patience // 3), min_lr=1e-5),
        ]
        if config.warmup_steps:
            _log(f"learning rate {config.learning_rate:g}, warm-up over {config.warmup_steps} step(s)")
    if config.warmup_steps or budget is not None:
        callbacks.append(LearningRate(config.learning_rate, config.warmup_steps, budget=budget))
    if is_chief:
        callbacks.append(keras.callbacks.CSVLogger(str(run_folder(config.out) / "log.csv"), append=config.resume))
        if keras.config.backend() == "tensorflow":
            callbacks.append(keras.callbacks.TensorBoard(str(run_folder(config.out) / "tensorboard"),
                                                         write_graph=False, profile_batch=0))
    return callbacks, checkpoint, budget


def _report(history, seconds, config, monitor, checkpoint, budget, callbacks, num_train, is_chief):
    epochs_run = len(history.epoch)
    stopper = next((c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)), None)
    if budget is not None and budget.stopped:
        _log(f"--max-minutes {config.max_minutes}: stopped training after {seconds / 60:.1f} min")
    elif stopper is not None and stopper.stopped_epoch:
        _log(f"stopped early after epoch {stopper.stopped_epoch + 1}: {monitor} did not improve for "
             f"{config.patience} epochs (--patience)")
    best_figure = f"{checkpoint.best * 100:.2f}%" if math.isfinite(checkpoint.best) else str(checkpoint.best)
    outcome = f"best {monitor} {best_figure}; model: {config.out}" if is_chief else "the chief writes the model"
    _log(f"trained {epochs_run} epoch(s) in {seconds:.0f} s (~{num_train * epochs_run / max(seconds, 1e-9):.1f} "
         f"items/s); {outcome}")


def train(spec, config):
    """Train (or fine-tune, or resume) a model for ``spec`` with ``config``; returns the Keras History.

    The best model is at ``config.out`` when this returns, even when ``max_minutes`` cut the run short (on the
    chief; other workers of a multi-worker run write nothing and return their History). The chief holds a lock on
    the run folder meanwhile: a second run into the same ``--out`` is refused with the first one's PID.
    """
    with contextlib.ExitStack() as held:
        return _train(spec, config, held)


def _train(spec, config, held):
    auto_warmup = config.warmup_steps is None
    config = config.resolved()
    strategy, is_chief = make_strategy(config.strategy)  # first: a multi-worker strategy must precede all else
    num_replicas = strategy.num_replicas_in_sync if strategy else 1
    policy = resolve_precision(config.precision)
    keras.utils.set_random_seed(config.seed)
    _start_run_folder(config, is_chief, held)

    train_examples, val_examples = _read_examples(spec, config)
    model, state = _initial_model(spec, config, [t for _, t in train_examples], [t for _, t in val_examples])
    data = _prepare_data(spec, config, model, state, train_examples, val_examples, num_replicas)
    if auto_warmup and config.warmup_steps > len(data.train):
        # Fine-tuning on a small data set: warm up over one epoch, not over most of the run.
        config = dataclasses.replace(config, warmup_steps=len(data.train))
    model = _training_model(model, state, config, policy, strategy)
    if is_chief:
        _record_run(spec, config, model, state, data, policy, num_replicas)
    callbacks, checkpoint, budget = _callbacks(spec, config, data, state, is_chief=is_chief,
                                               plain=strategy is None and policy == "float32", strategy=strategy)
    callbacks.append(EpochReport(len(data.train), config.epochs, verbose=config.verbose))  # after what adds to logs

    initial_epoch = state["epoch"] + 1 if state else 0
    if initial_epoch >= config.epochs:
        _log(f"the run already finished {initial_epoch} of {config.epochs} epochs; raise --epochs to go on")
        return None
    if budget is not None and budget.fraction() >= 1.0:
        _log(f"the run already spent its --max-minutes {config.max_minutes:g}; raise it to go on")
        return None
    # The data set shuffles its own (length-bucketed) batches with the run's seed and epoch, so every path (one
    # device, replicas, workers, a resumed run, any backend) trains on the same sequence of batches.
    start = time.monotonic()
    history = model.fit(feed(data.train, strategy=strategy, first_epoch=initial_epoch, workers=config.workers), epochs=config.epochs,
                        initial_epoch=initial_epoch, steps_per_epoch=len(data.train), shuffle=False,
                        callbacks=callbacks, verbose=0)  # EpochReport reports
    _report(history, time.monotonic() - start, config, f"val_{spec.metric}", checkpoint, budget, callbacks,
            len(data.train.items), is_chief)
    if is_chief and not Path(config.out).is_file():
        raise ModelFileError(f"{config.out}: no model was saved (no epoch finished).")
    return history
