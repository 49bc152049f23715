"""The one training path both tasks use.

:func:`train` takes a :class:`TaskSpec` (what is task-specific: reading a data set, preparing and featurizing an
item, building a model) and a :class:`TrainConfig` (the run's settings, which the command line maps onto one to
one), and runs Keras ``fit`` with: validation CER/WER every epoch, early stopping, a learning-rate schedule
(warm-up, then halving on plateaus), atomic checkpoints, ``--resume``, ``--max-minutes``, TensorBoard and CSV
logs, and the resolved settings saved as JSON in the run folder beside the model.

Run folder layout, for ``--out models/mine.keras``: ``models/mine_run/`` holds ``settings.json``,
``last.keras`` (model + optimizer state + the run's state, for ``--resume``), ``state.json`` (a readable copy of
that state: last finished epoch, best score), ``log.csv`` and ``tensorboard/``. The best model so far (by the
validation metric) is always at ``--out``.

Kills: every file is written to a temporary name and renamed, and the run's state travels inside ``last.keras``,
so a run killed at any moment (mid-epoch, mid-save) resumes with ``--resume`` from its last finished epoch; what
it loses is the epoch it was in.

Precision (``--precision``): ``mixed`` trains under Keras' ``mixed_float16`` policy (float16 compute, float32
weights, dynamic loss scaling), except the logits head and the CTC loss, which stay float32; ``auto`` picks mixed
when TensorFlow sees a GPU. Scale-out (``--strategy``): ``mirrored`` runs one replica per GPU
(``tf.distribute.MirroredStrategy``), ``multiworker`` one per GPU on every machine named in ``TF_CONFIG``
(``tf.distribute.MultiWorkerMirroredStrategy``); ``--batch-size`` is then the *global* batch of a step, cut into
one share per replica, and batch normalization uses the whole batch's statistics, so a step equals one device's
step on the same batch. Only the chief (worker 0, or the ``chief`` task) writes files; every worker reads the
data, and with ``--resume`` the run folder, so put them where all workers see them. Whatever the precision or
strategy, the files written are plain float32 models that load anywhere.
"""

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from pathlib import Path

import common  # noqa: F401  (pins the Keras backend)
import keras
import numpy as np

from common.alphabet import Alphabet
from common.batching import CTCDataset, distribute_dataset, to_tf_dataset
from common.ctc import ctc_loss, decode
from common.errors import AlphabetError, ConfigError, DataError, InputError, ModelFileError
from common.metrics import cer, exact_rate, wer
from common.model_file import (atomic_write, load_model, lock_folder, read_metadata, remove_stale_temporaries,
                               save_model)

__all__ = ["TrainConfig", "TaskSpec", "train", "prepare_items", "split_validation", "alphabet_report",
           "resize_head", "run_folder", "resolve_precision", "read_tf_config", "make_strategy",
           "read_checkpoint_state"]

ALPHABET_POLICIES = ("union", "new", "keep")
FREEZE_CHOICES = ("none", "frontend", "encoder")
PRECISIONS = ("auto", "float32", "mixed")
STRATEGIES = ("none", "mirrored", "multiworker")


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
        val_fraction: share of ``data`` held out for validation when no ``val`` is given; ``None`` (the default):
            :data:`DEFAULT_VAL_FRACTION`, raised on small data sets (see :func:`validation_count`).
        seed: seed of the split, shuffling and augmentation.
        resume: continue the run in the run folder from its last checkpoint.
        alphabet: with ``from_model``: ``union`` adds new characters, ``new`` builds a new head over the data's
            characters, ``keep`` makes unknown characters an error.
        freeze: ``frontend`` or ``encoder`` (front end + encoder) to train only what comes after; ``none``.
        augment: augment training items on the fly.
        model: model-size settings for a new model (task-specific keys, e.g. ``units``, ``num_layers``).
        max_items: use at most this many training items (quick experiments).
        verbose: Keras' progress bar (1), one line per epoch (2), or silent (0).
        precision: ``float32``, ``mixed`` (float16 compute, float32 head and loss) or ``auto`` (mixed when a GPU
            is visible).
        strategy: ``none``, ``mirrored`` (one replica per GPU; without GPUs, per logical CPU device) or
            ``multiworker`` (``TF_CONFIG`` names the machines). ``batch_size`` is the global batch.
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
    val_fraction: float = None
    seed: int = 0
    resume: bool = False
    alphabet: str = "union"
    freeze: str = "none"
    augment: bool = True
    model: dict = dataclasses.field(default_factory=dict)
    max_items: int = None
    verbose: int = 1
    precision: str = "auto"
    strategy: str = "none"

    def __post_init__(self):
        if not str(self.out).endswith(".keras"):
            raise ConfigError(f"--out must name a .keras file. Received: out={self.out!r}")
        if self.alphabet not in ALPHABET_POLICIES:
            raise ConfigError(f"--alphabet must be one of {ALPHABET_POLICIES}. Received: alphabet={self.alphabet!r}")
        if self.freeze not in FREEZE_CHOICES:
            raise ConfigError(f"--freeze must be one of {FREEZE_CHOICES}. Received: freeze={self.freeze!r}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision must be one of {PRECISIONS}. Received: precision={self.precision!r}")
        if self.strategy not in STRATEGIES:
            raise ConfigError(f"--strategy must be one of {STRATEGIES}. Received: strategy={self.strategy!r}")
        if self.val_fraction is not None and not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"--val-fraction must be in (0, 0.5). Received: val_fraction={self.val_fraction}")
        if self.max_items is not None and (isinstance(self.max_items, bool) or int(self.max_items) < 1):
            raise ConfigError(f"--max-items must be >= 1 (leave it out to use every item). "
                              f"Received: max_items={self.max_items!r}")
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


DEFAULT_VAL_FRACTION = 0.05
"""Share of the data held out for validation when neither ``--val`` nor ``--val-fraction`` is given..."""
MIN_VAL_ITEMS = 50
"""...but at least this many examples (or a fifth of a smaller data set): 5 of 100 lines measure nothing (their CER
is 0 from the first epoch and early stopping ends the run at once)."""


def validation_count(num_examples, fraction=None):
    """How many of ``num_examples`` to hold out: ``fraction`` of them when given; by default
    :data:`DEFAULT_VAL_FRACTION` of them, raised to :data:`MIN_VAL_ITEMS` or a fifth of the data, whichever is
    smaller. Always at least 1 and at most 1000."""
    if fraction is not None:
        count = int(round(num_examples * fraction))
    else:
        count = max(int(round(num_examples * DEFAULT_VAL_FRACTION)), min(MIN_VAL_ITEMS, num_examples // 5))
    return min(1000, max(1, count))


def split_validation(examples, fraction, seed):
    """Hold out :func:`validation_count` examples at random; returns (train, val)."""
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


def alphabet_report(alphabet, train_texts, val_texts):
    """Count characters only in training, only in validation, and unknown to ``alphabet``; returns lines of text."""
    from collections import Counter

    train_counts = Counter("".join(train_texts))
    val_counts = Counter("".join(val_texts))

    def fmt(counts, shown=30):
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])
        more = f" (+{len(ranked) - shown} more)" if len(ranked) > shown else ""
        return (", ".join(f"{c!r}x{n}" for c, n in ranked[:shown]) + more) or "none"

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


def resolve_precision(precision):
    """The Keras dtype policy of ``--precision``: ``"mixed_float16"`` or ``"float32"``.

    ``auto`` means mixed precision when TensorFlow sees a GPU (float16 is slower than float32 on CPUs).
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {PRECISIONS}. Received: precision={precision!r}")
    if precision == "auto":
        import tensorflow as tf

        precision = "mixed" if tf.config.list_physical_devices("GPU") else "float32"
    return "mixed_float16" if precision == "mixed" else "float32"


def read_tf_config(text):
    """Check a ``TF_CONFIG`` value for ``--strategy multiworker``.

    Args:
        text: the JSON text of the ``TF_CONFIG`` environment variable (``None`` when unset), e.g.
            ``{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}``.

    Returns:
        dict with ``task_type``, ``task_index``, ``num_workers`` and ``is_chief`` (the ``chief`` task, or worker 0
        when the cluster names no chief: the one that writes checkpoints and logs).

    Raises:
        ConfigError: saying what is missing or wrong.
    """
    example = ('{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}} '
               "(the same cluster on every machine, each with its own task index)")
    if not text or not text.strip():
        raise ConfigError(f"--strategy multiworker needs the TF_CONFIG environment variable on every worker, e.g. "
                          f"TF_CONFIG='{example}'. Received: TF_CONFIG unset")
    try:
        settings = json.loads(text)
    except ValueError as error:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({error}); expected e.g. {example}. "
                          f"Received: TF_CONFIG={text!r}") from None
    cluster = settings.get("cluster") if isinstance(settings, dict) else None
    task = settings.get("task") if isinstance(settings, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ConfigError(f"TF_CONFIG needs a 'cluster' and a 'task' object, e.g. {example}. "
                          f"Received: TF_CONFIG={text!r}")
    unsupported = sorted(set(cluster) - {"chief", "worker"})
    if unsupported:
        raise ConfigError(f"TF_CONFIG: multiworker training uses 'chief' and 'worker' jobs only (no parameter "
                          f"servers or evaluators). Received: cluster jobs {sorted(cluster)}")
    addresses = []
    for job, hosts in cluster.items():
        if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) and ":" in h for h in hosts):
            raise ConfigError(f"TF_CONFIG: cluster['{job}'] must be a non-empty list of 'host:port' strings. "
                              f"Received: {job}={hosts!r}")
        addresses += hosts
    if len(cluster.get("chief", [])) > 1:
        raise ConfigError(f"TF_CONFIG: there can be one chief only. Received: chief={cluster['chief']!r}")
    if len(set(addresses)) != len(addresses):
        raise ConfigError(f"TF_CONFIG: every task needs its own host:port. Received: {addresses}")
    task_type, task_index = task.get("type"), task.get("index")
    if task_type not in cluster:
        raise ConfigError(f"TF_CONFIG: task type must be one of the cluster's jobs {sorted(cluster)}. "
                          f"Received: type={task_type!r}")
    if not isinstance(task_index, int) or isinstance(task_index, bool) or not 0 <= task_index < len(cluster[task_type]):
        raise ConfigError(f"TF_CONFIG: task index must be an integer in [0, {len(cluster[task_type])}) for "
                          f"'{task_type}'. Received: index={task_index!r}")
    is_chief = task_type == "chief" or ("chief" not in cluster and task_index == 0)
    return {"task_type": task_type, "task_index": task_index, "num_workers": len(addresses), "is_chief": is_chief}


def make_strategy(name):
    """The ``tf.distribute`` strategy of ``--strategy`` and whether this process is the chief.

    ``none``: ``(None, True)``. ``mirrored``: one replica per visible GPU; without GPUs, one per logical CPU device
    (one, unless the process configured more). ``multiworker``: ``MultiWorkerMirroredStrategy`` over the cluster in
    ``TF_CONFIG`` (checked by :func:`read_tf_config`); create it before anything else touches TensorFlow.
    """
    if name not in STRATEGIES:
        raise ConfigError(f"--strategy must be one of {STRATEGIES}. Received: strategy={name!r}")
    if name == "none":
        return None, True
    import tensorflow as tf

    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices]), True
    cluster = read_tf_config(os.environ.get("TF_CONFIG"))
    return tf.distribute.MultiWorkerMirroredStrategy(), cluster["is_chief"]


def _is_multi_worker(strategy):
    import tensorflow as tf

    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


@contextlib.contextmanager
def _global_dtype_policy(name):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def _rebuild(model, *, policy="float32", strategy=None):
    """A copy of ``model`` (same weights) computing under dtype ``policy``, its variables made in ``strategy``'s scope.

    The front end and encoder create their inner layers themselves, so the copy is built under ``policy`` as the
    global policy too; the head stays float32 (:class:`~common.recognizer.Recognizer`). Trainable flags (freezing)
    travel in the configs.
    """
    from common.recognizer import Recognizer

    config = model.get_config()
    for key in ("frontend", "encoder"):
        config[key] = dict(config[key], config=dict(config[key]["config"], dtype=policy))
    config["metadata"] = {k: v for k, v in config["metadata"].items() if k != "checkpoint"}
    with _global_dtype_policy(policy), (strategy.scope() if strategy else contextlib.nullcontext()):
        copy = Recognizer.from_config(config)
        copy.set_weights(model.get_weights())
    return copy


def _synchronize_batch_norm(model):
    """Make batch normalization use the statistics of the whole global batch, all-reduced across replicas (as one
    device would see them; a replica's share alone is small). The flag is not saved with the model."""
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True


def _inference_copy(model):
    """The model as a plain float32 model without optimizer state (the file that is shipped)."""
    return _rebuild(model)


def _base_optimizer(optimizer):
    """The optimizer under a LossScaleOptimizer (mixed precision), else ``optimizer``."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def _copy_optimizer_state(source, target):
    """Copy the step count, learning rate and slots of ``source`` into ``target`` (both built over the same
    variables, in the same order); loss-scaling state is not copied. Returns False (and copies nothing) when
    their variables do not pair up, e.g. a run resumed with another ``--freeze``."""
    source, target = _base_optimizer(source), _base_optimizer(target)
    if type(source) is not type(target):
        return False
    pairs = list(zip(source.variables, target.variables))
    if len(source.variables) != len(target.variables) or any(tuple(a.shape) != tuple(b.shape) for a, b in pairs):
        return False
    for src, dst in pairs:
        dst.assign(keras.ops.convert_to_numpy(src))
    return True


def _compile(model, make_optimizer, strategy=None):
    """Compile ``model`` with ``make_optimizer()`` (Keras wraps it for loss scaling under mixed precision); the
    optimizer and its variables are made in ``strategy``'s scope."""
    with strategy.scope() if strategy else contextlib.nullcontext():
        model.compile(optimizer=make_optimizer())
        model.optimizer.build(model.trainable_variables)


def _checkpoint_copy(model):
    """A plain float32 copy of a mixed-precision or distributed ``model`` with its optimizer settings and state."""
    copy = _rebuild(model)
    base = _base_optimizer(model.optimizer)
    _compile(copy, lambda: base.__class__.from_config(base.get_config()))
    if not _copy_optimizer_state(model.optimizer, copy.optimizer):
        raise ModelFileError("internal: the checkpoint copy's optimizer does not match the training optimizer")
    return copy


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


class ValidationMetrics(keras.callbacks.Callback):
    """Decode the validation set after each epoch and put ``val_loss``, ``val_cer``, ``val_wer`` into the logs.

    The model runs on this process's devices only (also under a distribution strategy), so every worker computes
    the same figures and takes the same early-stopping and learning-rate decisions.
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
            import tensorflow as tf

            self._predict = tf.function(lambda inputs: self.model(inputs, training=False), reduce_retracing=True)
        return self._predict(x)

    def evaluate(self):
        losses, hypotheses, references = [], [], []
        for b in range(len(self.dataset)):
            x, y = self.dataset[b]
            out = self._predict_batch(x)
            losses.append(keras.ops.convert_to_numpy(
                ctc_loss(y["labels"], out["logits"], y["label_lengths"], out["lengths"])))
            logits, lengths = keras.ops.convert_to_numpy(out["logits"]), keras.ops.convert_to_numpy(out["lengths"])
            hypotheses += [d.text for d in decode(logits, lengths, self.alphabet)]
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


class TimeLimit(keras.callbacks.Callback):
    """Stop training after ``max_minutes`` (checked after every batch); the epoch is then closed normally.

    With several workers, they stop at the same batch: as soon as one of them is over time (a collective sum of
    their votes).
    """

    def __init__(self, max_minutes, *, strategy=None):
        super().__init__()
        self.max_seconds = max_minutes * 60.0
        self.strategy = strategy if strategy is not None and _is_multi_worker(strategy) else None
        self.start = None
        self.stopped = False

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
        over = time.monotonic() - self.start >= self.max_seconds
        if self.strategy is not None:
            over = float(self._votes(np.float32(over))) > 0.0
        if over:
            self.model.stop_training = True
            self.stopped = True


class WarmUp(keras.callbacks.Callback):
    """Raise the learning rate linearly from ~0 to ``learning_rate`` over the first ``steps`` steps.

    It follows the optimizer's step count, so a resumed run goes on with the warm-up where it stopped.
    """

    def __init__(self, learning_rate, steps):
        super().__init__()
        self.learning_rate = learning_rate
        self.steps = steps

    def on_train_batch_begin(self, batch, logs=None):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        if step <= self.steps:
            self.model.optimizer.learning_rate.assign(self.learning_rate * min(1.0, (step + 1) / self.steps))


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
    """

    def __init__(self, run_dir, out, *, monitor, best=math.inf, best_loss=math.inf, best_epoch=None, plain=True):
        super().__init__()
        self.run_dir = Path(run_dir)
        self.out = Path(out)
        self.monitor = monitor
        self.best = best
        self.best_loss = best_loss
        self.best_epoch = best_epoch
        self.plain = plain

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
        checkpoint = self.model if self.plain else _checkpoint_copy(self.model)
        checkpoint.metadata["checkpoint"] = state
        try:
            save_model(checkpoint, self.run_dir / "last.keras")
        finally:
            checkpoint.metadata.pop("checkpoint", None)
        if improved:
            save_model(_inference_copy(self.model), self.out)
        atomic_write(self.run_dir / "state.json", lambda tmp: Path(tmp).write_text(json.dumps(state, indent=2)))


def _ctc_frames_needed(label):
    """Fewest frames CTC needs for ``label``: one per character plus a blank between repeated characters."""
    return len(label) + int(np.sum(label[1:] == label[:-1])) if len(label) else 0


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


def _apply_freeze(model, freeze):
    model.frontend.trainable = freeze == "none"
    model.encoder.trainable = freeze != "encoder"


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
        return model, state
    if config.from_model:
        model = load_model(config.from_model, task=spec.name)
        spec.use_preprocessor(model.preprocessor, config.from_model)
        alphabet = model.alphabet
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
            _log(f"alphabet: a new output layer over the data's {len(model.metadata['alphabet']['characters'])} "
                 "character(s)")
        return model, None
    model = spec.build_model(spec.default_alphabet(train_texts + val_texts), **config.model)
    return model, None


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
    # A multi-worker strategy has to exist before anything else touches TensorFlow.
    strategy, is_chief = make_strategy(config.strategy)
    num_replicas = strategy.num_replicas_in_sync if strategy else 1
    policy = resolve_precision(config.precision)
    plain = strategy is None and policy == "float32"
    keras.utils.set_random_seed(config.seed)
    out = Path(config.out)
    run_dir = run_folder(out)
    if is_chief:
        held.enter_context(lock_folder(run_dir))  # creates the folder; refuses a second run into it
        remove_stale_temporaries(run_dir)
        remove_stale_temporaries(out.parent, of=out)

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
    train_examples = _drop_empty(train_examples, label="training")
    val_examples = _drop_empty(val_examples, label="validation")

    train_texts, val_texts = [t for _, t in train_examples], [t for _, t in val_examples]
    model, state = _initial_model(spec, config, train_texts, val_texts)
    alphabet = model.alphabet
    if state is not None or not config.from_model:  # (fine-tuning reported before it resized the head)
        for line in alphabet_report(alphabet, train_texts, val_texts)[0]:
            _log(line)
    _refuse_unknown_characters(alphabet, train_texts, val_texts, resumed=state is not None)
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
            if 0 < _ctc_frames_needed(lab) <= int(model.frontend.compute_output_length(spec.item_length(train_items[i])))]
    if not keep:
        raise DataError("No training example is usable: every transcript is too long for its input.")
    dropped = len(train_labels) - len(keep)
    if dropped:
        _log(f"warning: skipped {dropped} training example(s) whose transcript needs more frames than the input "
             "gives (text too long for the image or audio)")
    if len(keep) < num_replicas:
        raise DataError(f"{num_replicas} replicas need at least {num_replicas} training examples. "
                        f"Received: {len(keep)} usable example(s)")

    train_data = CTCDataset([train_items[i] for i in keep], [train_labels[i] for i in keep], spec.featurize,
                            [spec.item_length(train_items[i]) for i in keep], batch_size=config.batch_size,
                            augment=config.augment, shuffle=True, seed=config.seed, min_batch_size=num_replicas)
    val_data = CTCDataset(val_items, val_labels, spec.featurize, [spec.item_length(i) for i in val_items],
                          batch_size=config.batch_size, augment=False, shuffle=False)
    if auto_warmup and config.warmup_steps > len(train_data):
        # Fine-tuning on a small data set: warm up over one epoch, not over most of the run.
        config = dataclasses.replace(config, warmup_steps=len(train_data))

    # The model to train: the plain model itself, or a copy computing in mixed precision and/or with its
    # variables mirrored across the strategy's replicas.
    resumed_optimizer = model.optimizer if state is not None else None
    if not plain:
        model = _rebuild(model, policy=policy, strategy=strategy)
    if num_replicas > 1:
        _synchronize_batch_norm(model)
    _apply_freeze(model, config.freeze)
    _compile(model, lambda: keras.optimizers.Adam(config.learning_rate, clipnorm=5.0), strategy)
    if resumed_optimizer is not None and not _copy_optimizer_state(resumed_optimizer, model.optimizer):
        _log("warning: the checkpoint's optimizer state does not fit this run (another --freeze?); "
             "the optimizer starts afresh")
    if strategy is not None:
        _log(f"strategy {config.strategy}: {num_replicas} replica(s); a step's global batch of up to "
             f"{config.batch_size} items is cut into {num_replicas} share(s)")
    _log(f"precision: {policy}")

    initial_epoch = state["epoch"] + 1 if state else 0
    best, best_loss = (state["best"], state["best_loss"]) if state else (math.inf, math.inf)
    best_epoch = state.get("best_epoch") if state else None
    if is_chief and state is not None and best_epoch is not None and best_epoch == state["epoch"]:
        # The kill may have come between last.keras and the best model: the checkpoint is the best model.
        save_model(_inference_copy(model), out)
    if is_chief:
        settings = {"task": spec.name, "training": config.to_dict(), "model": model.get_config(),
                    "num_train": len(keep), "num_val": len(val_items), "dtype_policy": policy,
                    "num_replicas": num_replicas}
        atomic_write(run_dir / "settings.json",
                     lambda tmp: Path(tmp).write_text(json.dumps(settings, indent=2, ensure_ascii=False, default=str)))

    monitor = f"val_{spec.metric}"
    checkpoint = AtomicCheckpoint(run_dir, out, monitor=monitor, best=best, best_loss=best_loss, best_epoch=best_epoch,
                                  plain=plain)
    early_stopping = keras.callbacks.EarlyStopping(monitor=monitor, mode="min", patience=config.patience)
    # The learning rate halves on plateaus of the validation loss, which is smoother than CER/WER on small
    # validation sets (on 50 validation captchas, halving on CER plateaus cut the rate to 2e-5 within 3 minutes).
    callbacks = [
        ValidationMetrics(val_data, [alphabet.decode(lab) for lab in val_labels], alphabet, verbose=config.verbose),
        early_stopping,
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", mode="min", factor=0.5,
                                          patience=max(2, config.patience // 3), min_lr=1e-5),
    ]
    if is_chief:
        callbacks[1:1] = [checkpoint]
        callbacks += [
            keras.callbacks.CSVLogger(str(run_dir / "log.csv"), append=config.resume),
            keras.callbacks.TensorBoard(str(run_dir / "tensorboard"), write_graph=False, profile_batch=0),
        ]
    if config.warmup_steps:
        _log(f"learning rate {config.learning_rate:g}, warm-up over {config.warmup_steps} step(s)")
        callbacks.append(WarmUp(config.learning_rate, config.warmup_steps))
    limit = None
    if config.max_minutes:
        limit = TimeLimit(config.max_minutes, strategy=strategy)
        callbacks.append(limit)
    callbacks.append(EpochReport(len(train_data), config.epochs, verbose=config.verbose))
    if initial_epoch >= config.epochs:
        _log(f"the run already finished {initial_epoch} of {config.epochs} epochs; raise --epochs to go on")
        return None
    # The data set shuffles its own (length-bucketed) batches with the run's seed and epoch, so every path (one
    # device, replicas, workers, a resumed run) trains on the same sequence of batches.
    if strategy is None:
        inputs = to_tf_dataset(train_data, first_epoch=initial_epoch)
    else:
        inputs = distribute_dataset(train_data, strategy, first_epoch=initial_epoch)
    start = time.monotonic()
    history = model.fit(inputs, epochs=config.epochs, initial_epoch=initial_epoch, steps_per_epoch=len(train_data),
                        shuffle=False, callbacks=callbacks, verbose=0)  # EpochReport reports
    seconds = time.monotonic() - start
    epochs_run = len(history.epoch)
    items_per_second = len(keep) * epochs_run / max(seconds, 1e-9)
    if limit is not None and limit.stopped:
        _log(f"--max-minutes {config.max_minutes}: stopped training after {seconds / 60:.1f} min")
    elif early_stopping.stopped_epoch:
        _log(f"stopped early after epoch {early_stopping.stopped_epoch + 1}: {monitor} did not improve for "
             f"{config.patience} epochs (--patience)")
    best_figure = f"{checkpoint.best * 100:.2f}%" if math.isfinite(checkpoint.best) else str(checkpoint.best)
    outcome = f"best {monitor} {best_figure}; model: {out}" if is_chief else "the chief writes the model"
    _log(f"trained {epochs_run} epoch(s) in {seconds:.0f} s (~{items_per_second:.1f} items/s); {outcome}")
    if is_chief and not out.is_file():
        raise ModelFileError(f"{out}: no model was saved (no epoch finished).")
    return history
