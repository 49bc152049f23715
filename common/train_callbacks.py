"""The callbacks of a training run: validation figures, the learning-rate schedule, the time budget and atomic
checkpoints; and :func:`read_checkpoint_state`, which reads a checkpoint's run state back for ``--resume``.

They work on every backend. On JAX, Keras keeps the model's state outside the model during an epoch and copies it
back whenever a callback reads ``self.model``; the per-batch callbacks here therefore count steps themselves and
touch the model only when they change something (the learning rate, the stop flag).
"""

import json
import math
import sys
import time
from pathlib import Path

import common  # noqa: F401  (pins the Keras backend)
import keras
import numpy as np

from common.ctc import counted_ctc_loss, decode
from common.distribution import checkpoint_copy, inference_copy, is_multi_worker
from common.errors import ConfigError, ModelFileError
from common.metrics import cer, exact_rate, wer
from common.model_file import atomic_write, read_metadata, save_model

__all__ = ["ValidationMetrics", "EpochReport", "format_epoch", "LearningRate", "TimeBudget", "AtomicCheckpoint",
           "read_checkpoint_state", "warmup_factor", "cosine_factor"]


def _log(message):
    print(message, file=sys.stderr, flush=True)


def warmup_factor(step, warmup_steps):
    """Linear warm-up: ``(step + 1) / warmup_steps`` for the first steps (counted from 0), then 1."""
    return min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0


def cosine_factor(fraction, learning_rate, final_learning_rate):
    """The rate ``fraction`` (0..1) of the way along a cosine from ``learning_rate`` down to ``final_learning_rate``."""
    fraction = min(1.0, max(0.0, fraction))
    final = min(final_learning_rate, learning_rate)
    return final + 0.5 * (learning_rate - final) * (1.0 + math.cos(math.pi * fraction))


class ValidationMetrics(keras.callbacks.Callback):
    """Decode the validation set after each epoch and put ``val_loss``, ``val_cer``, ``val_wer`` into the logs.

    ``val_loss`` follows the toolkit's one loss-mean rule (:func:`common.ctc.counted_ctc_loss`): the mean over the
    validation items whose label fits their frames. The model runs on this process's devices only (also under a
    distribution strategy), so every worker computes the same figures and takes the same early-stopping and
    learning-rate decisions.
    """

    def __init__(self, dataset, references, alphabet, *, verbose=1):
        super().__init__()
        self.dataset = dataset
        self.references = references
        self.alphabet = alphabet
        self.verbose = verbose
        self._predict = None

    def _predict_batch(self, x):
        if self._predict is None:
            model = self.model
            if keras.config.backend() == "tensorflow":
                import tensorflow as tf

                self._predict = tf.function(lambda inputs: model(inputs, training=False), reduce_retracing=True)
            else:
                self._predict = model.predict_on_batch
        return self._predict(x)

    def evaluate(self):
        total, count, hypotheses, references = 0.0, 0.0, [], []
        for b in range(len(self.dataset)):
            x, y = self.dataset[b]
            out = self._predict_batch(x)
            loss, counts = counted_ctc_loss(y["labels"], out["logits"], y["label_lengths"], out["lengths"])
            total += float(np.sum(keras.ops.convert_to_numpy(loss)))
            count += float(np.sum(keras.ops.convert_to_numpy(counts)))
            logits, lengths = keras.ops.convert_to_numpy(out["logits"]), keras.ops.convert_to_numpy(out["lengths"])
            hypotheses += [d.text for d in decode(logits, lengths, self.alphabet)]
            references += [self.references[i] for i in self.dataset.batches[b]]
        return {
            "val_loss": total / max(count, 1.0),
            "val_cer": cer(references, hypotheses),
            "val_wer": wer(references, hypotheses),
            "val_exact": exact_rate(references, hypotheses),
        }

    def on_epoch_end(self, epoch, logs=None):
        results = self.evaluate()
        if logs is not None:
            logs.update(results)  # EpochReport prints them


RATES = ("cer", "wer", "exact")
"""Metrics that are fractions: printed as percentages."""


def format_epoch(epoch, epochs, logs, seconds):
    """One line for an epoch: ``epoch 3/100: loss 12.34, val_loss 11.20, val_cer 12.34%, ..., lr 0.001, 12 s``."""
    parts = []
    for key, value in (logs or {}).items():
        if not isinstance(value, (int, float, np.floating, np.integer)):
            continue
        name = "lr" if key == "learning_rate" else key
        if name.removeprefix("val_") in RATES:
            parts.append(f"{name} {float(value) * 100:.2f}%")
        elif name == "lr":
            parts.append(f"lr {float(value):.3g}")
        else:
            parts.append(f"{name} {float(value):.4g}")
    return f"epoch {epoch + 1}/{epochs}: " + ", ".join(parts) + f", {seconds:.0f} s"


class EpochReport(keras.callbacks.Callback):
    """The run's progress, in place of Keras' own: with ``verbose=1`` a progress bar over each epoch's batches
    (training loss), closed before the epoch's summary line; with ``verbose=2`` (``--quiet``) the summary line
    alone (:func:`format_epoch`, on stderr); ``0``: nothing. Put it after the callbacks that add to the logs."""

    def __init__(self, steps, epochs, *, verbose=1):
        super().__init__()
        self.steps, self.epochs, self.verbose = int(steps), int(epochs), int(verbose)
        self._bar, self._start, self._seen = None, 0.0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._start, self._seen = time.monotonic(), 0
        if self.verbose == 1:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)
            self._bar = keras.utils.Progbar(self.steps, verbose=1, unit_name="step")

    def on_train_batch_end(self, batch, logs=None):
        self._seen = batch + 1
        if self._bar is not None:
            loss = (logs or {}).get("loss")
            self._bar.update(self._seen, [("loss", float(loss))] if loss is not None else None)

    def on_epoch_end(self, epoch, logs=None):
        if self._bar is not None and self._seen < self.steps:
            sys.stdout.write("\n")  # a bar cut short (--max-minutes) still ends its line
        self._bar = None
        sys.stdout.flush()
        if self.verbose:
            _log(format_epoch(epoch, self.epochs, logs, time.monotonic() - self._start))


class LearningRate(keras.callbacks.Callback):
    """The one learning-rate schedule: a linear warm-up over ``warmup_steps`` steps to ``learning_rate``, then, with
    a time budget, a cosine down to ``final_learning_rate`` over the budget (else the rate is left to
    ``ReduceLROnPlateau``).

    Steps are counted from the optimizer's step count at the start, so a resumed run goes on with the warm-up where
    it stopped. Along the cosine the rate is set every ``every`` steps.

    Args:
        learning_rate: the peak rate.
        warmup_steps: steps of linear warm-up (0: none).
        budget: a :class:`TimeBudget` whose elapsed fraction drives the cosine, or ``None``.
        final_learning_rate: the rate at the end of the budget.
        every: steps between two updates along the cosine.
    """

    def __init__(self, learning_rate, warmup_steps=0, *, budget=None, final_learning_rate=1e-5, every=10):
        super().__init__()
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps
        self.budget = budget
        self.final_learning_rate = final_learning_rate
        self.every = every
        self.step = None

    def on_train_begin(self, logs=None):
        self.step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def rate(self, step):
        """The learning rate of ``step`` (counted from 0)."""
        rate = self.learning_rate
        if self.budget is not None:
            rate = cosine_factor(self.budget.fraction(), self.learning_rate, self.final_learning_rate)
        return rate * warmup_factor(step, self.warmup_steps)

    def on_train_batch_begin(self, batch, logs=None):
        in_warmup = self.step <= self.warmup_steps
        if in_warmup or (self.budget is not None and self.step % self.every == 0):
            self.model.optimizer.learning_rate.assign(self.rate(self.step))
        self.step += 1


class TimeBudget(keras.callbacks.Callback):
    """Stop training after ``max_minutes`` (checked after every batch); the epoch is then closed normally.

    A resumed run goes on with what is left of the budget: ``spent_minutes`` were spent before (the checkpoint
    keeps the count, see :class:`AtomicCheckpoint`), and the learning rate's cosine goes on from there.

    With several workers, they stop at the same batch: as soon as one of them is over time (a collective sum of
    their votes).
    """

    def __init__(self, max_minutes, *, spent_minutes=0.0, strategy=None):
        super().__init__()
        self.max_seconds = max_minutes * 60.0
        self.spent_before = spent_minutes * 60.0
        self.strategy = strategy if is_multi_worker(strategy) else None
        self.start = None
        self.stopped = False

    def seconds(self):
        """Seconds of the budget spent so far, by earlier calls of a resumed run too."""
        return self.spent_before + (0.0 if self.start is None else time.monotonic() - self.start)

    def fraction(self):
        """The share of the budget spent so far."""
        return min(1.0, self.seconds() / self.max_seconds)

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()
        if self.strategy is not None:
            import tensorflow as tf

            strategy = self.strategy

            @tf.function
            def votes(flag):
                return strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(tf.identity, args=(flag,)), axis=None)

            self._votes = votes

    def on_train_batch_end(self, batch, logs=None):
        over = self.seconds() >= self.max_seconds
        if self.strategy is not None:
            over = float(self._votes(np.float32(over))) > 0.0
        if over:
            self.model.stop_training = True
            self.stopped = True


class AtomicCheckpoint(keras.callbacks.Callback):
    """After each epoch, in this order: ``last.keras`` in the run folder (model, optimizer state, and the run's
    state: epoch, best score and its epoch), the best model so far at ``out`` when the epoch improved on it, and
    ``state.json`` (a readable copy of the state).

    An epoch improves when its ``monitor`` value is lower than the best so far, or equal to it with a lower
    ``val_loss``: on a small validation set CER/WER soon reach a floor (often 0) that later, better-fitted epochs
    only tie.

    Every file is written to a temporary name and renamed, so a kill at any moment leaves the previous files
    loadable; the state inside ``last.keras`` always belongs to its weights. A kill between ``last.keras`` and
    ``out`` is repaired on resume (:func:`train` re-saves ``out`` when the last checkpoint was the best epoch).

    Args:
        plain: the training model is float32 and not distributed, so it is saved as it is; otherwise a float32
            copy with the same optimizer state is saved.
        budget: the run's :class:`TimeBudget`, whose spent minutes the state keeps (``minutes_trained``).
    """

    def __init__(self, run_dir, out, *, monitor, best=math.inf, best_loss=math.inf, best_epoch=None, plain=True,
                 budget=None):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.out = Path(out)
        self.monitor = monitor
        self.best = best
        self.best_loss = best_loss
        self.best_epoch = best_epoch
        self.plain = plain
        self.budget = budget

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        value = logs.get(self.monitor)
        loss = logs.get("val_loss", math.inf)
        improved = value is not None and (value < self.best or (value == self.best and loss < self.best_loss))
        if improved:
            self.best, self.best_loss, self.best_epoch = float(value), float(loss), epoch

        def finite(x):
            return None if math.isinf(x) or math.isnan(x) else x

        state = {"epoch": epoch, "best": finite(self.best), "best_loss": finite(self.best_loss),
                 "best_epoch": self.best_epoch, "monitor": self.monitor,
                 "learning_rate": float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))}
        if self.budget is not None:
            state["minutes_trained"] = self.budget.seconds() / 60.0
        checkpoint = self.model if self.plain else checkpoint_copy(self.model)
        checkpoint.metadata["checkpoint"] = state
        try:
            save_model(checkpoint, self.run_dir / "last.keras")
        finally:
            checkpoint.metadata.pop("checkpoint", None)
        if improved:
            save_model(inference_copy(self.model), self.out)
        atomic_write(self.run_dir / "state.json", lambda tmp: Path(tmp).write_text(json.dumps(state, indent=2)))



def read_checkpoint_state(run_dir, *, task=None):
    """The state of a run's last checkpoint: ``epoch`` (last finished, from 0), ``best`` (the best ``monitor``
    value; ``inf`` before any), ``best_loss`` (its epoch's ``val_loss``), ``best_epoch``, ``monitor``.

    It is read from ``last.keras`` itself, so it always belongs to the weights there; ``state.json`` (a copy) is
    only read for checkpoints written before the state moved inside.
    """
    run_dir = Path(run_dir)
    last, state_file = run_dir / "last.keras", run_dir / "state.json"
    if not last.is_file():
        raise ConfigError(f"--resume: no checkpoint in {run_dir} (expected last.keras). Start the run without "
                          f"--resume, or pass the --out of the run to continue. Received: out folder {run_dir}")
    state = read_metadata(last, task=task).get("checkpoint")
    if state is None:
        if not state_file.is_file():
            raise ConfigError(f"--resume: {last} carries no training state and there is no {state_file.name}.")
        try:
            state = json.loads(state_file.read_text())
        except (OSError, ValueError) as error:
            raise ModelFileError(f"{state_file}: the run state cannot be read ({error}); start the run again "
                                 "without --resume, or fine-tune from the last model with --from.") from None
        last = state_file
    _check_state(state, last)
    return dict(state, **{key: math.inf if state.get(key) is None else float(state[key])
                          for key in ("best", "best_loss")})


def _check_state(state, source):
    """Refuse a run state (from ``last.keras`` or ``state.json``) whose fields have the wrong types."""
    def number(value):
        return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))

    def index(value):
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0

    problems = [] if isinstance(state, dict) else [f"state={type(state).__name__}"]
    if not problems:
        problems = [f"{key}={state.get(key)!r}" for key, ok in (
            ("epoch", index(state.get("epoch"))), ("best", number(state.get("best"))),
            ("best_loss", number(state.get("best_loss"))),
            ("best_epoch", state.get("best_epoch") is None or index(state.get("best_epoch"))),
            ("monitor", isinstance(state.get("monitor"), str))) if not ok]
    if problems:
        raise ModelFileError(
            f"{source}: the run state is corrupt (expected an epoch number, best scores as numbers or null, and the "
            f"monitored metric's name); start the run again without --resume, or fine-tune from the last model "
            f"with --from. Received: {', '.join(problems)}"[:400])
