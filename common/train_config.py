"""The settings of one training run: :class:`TrainConfig`, which the command line maps onto one to one.

The resolved settings are saved as JSON in the run folder (``settings.json``); unknown keys are an error.
"""

import dataclasses

from common.errors import ConfigError
from common.limits import check_count

__all__ = ["TrainConfig", "ALPHABET_POLICIES", "FREEZE_CHOICES", "PRECISIONS", "STRATEGIES", "DEFAULT_VAL_FRACTION",
           "MIN_VAL_ITEMS", "validation_count"]

ALPHABET_POLICIES = ("union", "new", "keep")
FREEZE_CHOICES = ("none", "frontend", "encoder")
PRECISIONS = ("auto", "float32", "mixed")
STRATEGIES = ("none", "mirrored", "multiworker")


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
        max_minutes: a time budget: training runs until it is spent (or ``epochs`` are done) and keeps the best
            model; after the warm-up the learning rate follows a cosine from ``learning_rate`` down to 1e-5 over
            the budget, and ``patience`` stops nothing (a small validation set's noise would stop it early).
        patience: without ``max_minutes``: epochs without improvement of the validation metric before stopping
            (the learning rate halves after a third of that without improvement of the validation loss).
        val_fraction: share of ``data`` held out for validation when no ``val`` is given; ``None`` (the default):
            :data:`DEFAULT_VAL_FRACTION`, raised on small data sets (see :func:`validation_count`).
        seed: seed of the split, shuffling and augmentation.
        resume: continue the run in the run folder from its last checkpoint.
        alphabet: with ``from_model``: ``union`` adds new characters, ``new`` builds a new head over the data's
            characters, ``keep`` makes unknown characters an error.
        freeze: ``frontend`` or ``encoder`` (front end + encoder) to train only what comes after; ``none``.
        widen: with ``from_model``: grow the encoder to this many LSTM units per direction first, keeping what the
            model computes (:func:`common.fine_tuning.widen_encoder`); ``None`` keeps its width.
        augment: augment training items on the fly.
        model: model-size settings for a new model (task-specific keys, e.g. ``units``, ``num_layers``).
        max_items: use at most this many training items (quick experiments).
        verbose: Keras' progress bar (1), one line per epoch (2), or silent (0).
        precision: ``float32``, ``mixed`` (float16 compute, float32 head and loss) or ``auto`` (mixed when a GPU
            is visible).
        strategy: ``none``, ``mirrored`` (one replica per GPU; without GPUs, per logical CPU device) or
            ``multiworker`` (``TF_CONFIG`` names the machines). ``batch_size`` is the global batch.
        workers: threads that compute (featurize, augment, pad) the next batches while the model trains one;
            more keep a GPU busy on expensive features (speech), one suffices on a CPU.
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
    widen: int = None
    augment: bool = True
    model: dict = dataclasses.field(default_factory=dict)
    max_items: int = None
    verbose: int = 1
    precision: str = "auto"
    strategy: str = "none"
    workers: int = 1

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
        if self.widen is not None:
            check_count("widen", self.widen, flag="--widen")
            if self.from_model is None and not self.resume:
                raise ConfigError("--widen grows a model given with --from; a new model takes --units. "
                                  f"Received: widen={self.widen}, from_model=None")
            if self.freeze == "encoder":
                raise ConfigError("--widen with --freeze encoder would keep the new LSTM units at their zero start "
                                  "weights: freeze the front end only, or do not freeze. "
                                  f"Received: widen={self.widen}, freeze='encoder'")
        if self.val_fraction is not None and not 0.0 < self.val_fraction < 0.5:
            raise ConfigError(f"--val-fraction must be in (0, 0.5). Received: val_fraction={self.val_fraction}")
        if self.max_items is not None:
            check_count("max_items", self.max_items, flag="--max-items")
        for name in ("epochs", "batch_size", "patience", "workers"):
            check_count(name, getattr(self, name), flag="--" + name.replace("_", "-"))

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
