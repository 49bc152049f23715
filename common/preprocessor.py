"""The base of the tasks' preprocessors: the one object that turns a task's input into model features.

A task model is *preprocessor -> front end -> encoder -> head* (keras-hub's Task = Preprocessor + Backbone + head).
The preprocessor holds every setting that decides what the network sees (OCR: strip height, contrast and polarity
rules; speech: sample rate, window, hop, mel bands) and is saved inside the ``.keras`` file, in the model's
metadata under ``"preprocessor"``, as ``keras.saving.serialize_keras_object`` writes it. Training, evaluation, the
Reader, the Transcriber and export all take it from the model, so features are computed one way only.

This module knows no task: ``ocr.preprocessor`` and ``speech.preprocessor`` subclass :class:`Preprocessor`, which
registers each subclass under its ``task`` name. :func:`preprocessor_from_metadata` rebuilds and checks a stored
one, and upgrades the older layout (format version 1: a flat ``"preprocessing"`` dict of settings).

Keras is not imported here: reading a model file's preprocessor, and running an exported model, need no TensorFlow
(``ocr read`` starts in half a second). Subclasses are registered in this module's own registry under Keras' name
(``ctc_toolkit>LinePreprocessor``), and with Keras itself (for ``keras.saving.serialize_keras_object``) as soon as
Keras is imported: at once if it already is, else when :mod:`common.recognizer` is (see :func:`register_with_keras`).
"""

import sys

import common  # noqa: F401  (pins the Keras backend)
from common.errors import ConfigError, ModelFileError, ToolkitError

__all__ = ["Preprocessor", "PACKAGE", "preprocessor_class", "preprocessor_from_metadata", "upgrade_metadata",
           "serialize_preprocessor", "register_with_keras"]

PACKAGE = "ctc_toolkit"
"""The Keras registration package of the toolkit's serializable classes."""

_BY_TASK = {}  # task name -> Preprocessor subclass (filled as the task packages are imported)
_BY_NAME = {}  # registered name ("ctc_toolkit>LinePreprocessor") -> Preprocessor subclass
_IN_KERAS = set()  # the subclasses registered with Keras too


def register_with_keras():
    """Register every Preprocessor subclass defined so far with Keras (``package=PACKAGE``); imports Keras.

    Called by :mod:`common.recognizer` (so any code that builds or loads a Keras model has them registered) and by
    each subclass defined while Keras is imported. Call it yourself before ``keras.saving.serialize_keras_object``
    on a preprocessor in a program that imported its task package before Keras.
    """
    import keras

    for cls in _BY_NAME.values():
        if cls not in _IN_KERAS:
            keras.saving.register_keras_serializable(package=PACKAGE)(cls)
            _IN_KERAS.add(cls)


def serialize_preprocessor(preprocessor):
    """The stored form of a preprocessor: what ``keras.saving.serialize_keras_object`` writes for it (``module``,
    ``class_name``, ``config``, ``registered_name``), without importing Keras."""
    cls = type(preprocessor)
    return {"module": cls.__module__, "class_name": cls.__name__, "config": preprocessor.get_config(),
            "registered_name": f"{PACKAGE}>{cls.__name__}"}


class Preprocessor:
    """Turns one input of a task into float32 features ``(time, num_features)``; subclasses say how.

    Subclasses set ``task`` (``"ocr"``, ``"speech"``), validate their settings in ``__init__`` (raising
    :class:`~common.errors.ConfigError`), implement :meth:`get_config`, :attr:`num_features`, :meth:`load` and
    :meth:`features`; defining a subclass registers it (see :func:`register_with_keras`).
    """

    task = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.task is not None:
            _BY_TASK[cls.task] = cls
        _BY_NAME[f"{PACKAGE}>{cls.__name__}"] = cls
        if "keras" in sys.modules:
            register_with_keras()

    @property
    def num_features(self):
        """Features per frame: what the model's front end must take."""
        raise NotImplementedError

    def load(self, source, **limits):
        """Load and check one input (a path or an array); raise :class:`~common.errors.InputError` if unusable."""
        raise NotImplementedError

    def features(self, loaded):
        """float32 ``(time, num_features)`` from what :meth:`load` returned."""
        raise NotImplementedError

    def __call__(self, source, **limits):
        """Features of one input: :meth:`features` of :meth:`load`."""
        return self.features(self.load(source, **limits))

    def normalize_text(self, text):
        """The transcript normalization applied to training and evaluation references."""
        return text

    def get_config(self):
        raise NotImplementedError

    @classmethod
    def from_config(cls, config):
        if not isinstance(config, dict):
            raise ConfigError(f"A {cls.__name__} config must be a dict of settings. Received: "
                              f"config={type(config).__name__}")
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self.get_config().items()))))

    def __repr__(self):
        settings = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({settings})"


def preprocessor_class(task):
    """The registered :class:`Preprocessor` subclass of ``task``, or ``None`` (a task without one, or whose package
    was not imported)."""
    return _BY_TASK.get(task)


def _unknown_settings(cls, settings):
    import inspect

    known = set(inspect.signature(cls.__init__).parameters) - {"self"}
    return sorted(set(settings) - known)


def _from_stored(stored, source):
    """A Preprocessor from its ``serialize_keras_object`` dict; ModelFileError naming ``source`` if unusable."""
    if not isinstance(stored, dict) or not isinstance(stored.get("config"), dict):
        raise ModelFileError(f"{source}: the model's preprocessor is not a serialized object (a dict with 'config'). "
                             f"Received: preprocessor={stored!r:.120}")
    name = stored.get("registered_name") or stored.get("class_name")
    cls = (_BY_NAME.get(name) or _BY_NAME.get(f"{PACKAGE}>{name}")) if isinstance(name, str) else None
    if not (isinstance(cls, type) and issubclass(cls, Preprocessor)):
        package = str(stored.get("module", "")).split(".")[0] or "the task"
        raise ModelFileError(f"{source}: the model's preprocessor {name!r} is unknown here; it is defined by the "
                             f"{package!r} package: import it before loading the model, or use its command. "
                             f"Received: preprocessor={name!r}")
    return _build(cls, stored["config"], source)


def _build(cls, settings, source):
    unknown = _unknown_settings(cls, settings)
    if unknown:
        raise ModelFileError(f"{source}: the model's preprocessing has settings this toolkit does not know: {unknown} "
                             f"(a newer toolkit's file, or edited). Received: {unknown[0]}={settings[unknown[0]]!r}")
    try:
        return cls.from_config(dict(settings))
    except ToolkitError as error:
        raise ModelFileError(f"{source}: the model's preprocessing settings are invalid: {error}") from None


def upgrade_metadata(metadata, *, source="the model"):
    """A copy of ``metadata`` in the current layout: format version 1's flat ``"preprocessing"`` dict becomes the
    serialized ``"preprocessor"`` of the task (``text_normalization``, which only named the task's rule, is dropped).
    Metadata of a task without a registered preprocessor, or already current, comes back unchanged."""
    metadata = dict(metadata)
    if "preprocessor" in metadata or "preprocessing" not in metadata:
        return metadata
    cls = preprocessor_class(metadata.get("task"))
    if cls is None:
        return metadata
    legacy = metadata.pop("preprocessing")
    if not isinstance(legacy, dict):
        raise ModelFileError(f"{source}: the model's preprocessing settings are not a dict of settings. "
                             f"Received: preprocessing={legacy!r:.120}")
    settings = {key: value for key, value in legacy.items() if key != "text_normalization"}
    metadata["preprocessor"] = serialize_preprocessor(_build(cls, settings, source))
    return metadata


def preprocessor_from_metadata(metadata, *, source="the model", num_features=None, required=True):
    """The model's :class:`Preprocessor`, rebuilt from its metadata (either layout) and checked.

    Args:
        metadata: the model's metadata dict (``task``, ``preprocessor`` or format 1's ``preprocessing``).
        source: the model file, named in errors.
        num_features: the network's input features; a preprocessor giving another number is refused.
        required: refuse metadata without preprocessing for a task whose preprocessor class is registered.

    Returns:
        the Preprocessor, or ``None`` for a task that has none registered and whose file carries none.

    Raises:
        ModelFileError: settings missing for a task that needs them, unknown, invalid, or not what the network
            takes.
    """
    task = metadata.get("task")
    metadata = upgrade_metadata(metadata, source=source)
    stored = metadata.get("preprocessor")
    if stored is None:
        if required and preprocessor_class(task) is not None:
            raise ModelFileError(f"{source}: the {task} model carries no preprocessing settings, so its input cannot "
                                 f"be prepared the way it was trained; the file is incomplete or edited. "
                                 f"Received: preprocessor=None")
        return None
    preprocessor = _from_stored(stored, source)
    if preprocessor.task != task:
        raise ModelFileError(f"{source}: the model is for the {task!r} task but its preprocessor is for "
                             f"{preprocessor.task!r}. Received: preprocessor={type(preprocessor).__name__}")
    if num_features is not None and preprocessor.num_features != num_features:
        raise ModelFileError(f"{source}: the preprocessing gives {preprocessor.num_features} features per frame but "
                             f"the network takes {num_features}; the file is inconsistent. Received: "
                             f"{preprocessor!r}")
    return preprocessor
