"""Precision and scale-out of a training run: dtype policies, ``tf.distribute`` strategies, ``TF_CONFIG``.

Precision (``--precision``): ``mixed`` trains under Keras' ``mixed_float16`` policy (float16 compute, float32
weights, dynamic loss scaling), except the logits head and the CTC loss, which stay float32; ``auto`` picks mixed
when the backend sees a GPU. Scale-out (``--strategy``, TensorFlow only): ``mirrored`` runs one replica per GPU
(``tf.distribute.MirroredStrategy``), ``multiworker`` one per GPU on every machine named in ``TF_CONFIG``
(``tf.distribute.MultiWorkerMirroredStrategy``); ``--batch-size`` is then the *global* batch of a step, cut into
one share per replica, and batch normalization uses the whole batch's statistics, so a step equals one device's
step on the same batch. Only the chief (worker 0, or the ``chief`` task) writes files. Whatever the precision or
strategy, the files written are plain float32 models that load anywhere.
"""

import contextlib
import json
import os

import common  # noqa: F401  (pins the Keras backend)
import keras

from common.errors import ConfigError, ModelFileError
from common.fine_tuning import base_optimizer, copy_optimizer_state
from common.keras_compat import all_layers
from common.train_config import PRECISIONS, STRATEGIES

__all__ = ["resolve_precision", "read_tf_config", "make_strategy", "is_multi_worker", "rebuild",
           "synchronize_batch_norm", "inference_copy", "checkpoint_copy", "compile_model"]


def resolve_precision(precision):
    """The Keras dtype policy of ``--precision``: ``"mixed_float16"`` or ``"float32"``.

    ``auto`` means mixed precision when the backend sees a GPU (float16 is slower than float32 on CPUs).
    """
    if precision not in PRECISIONS:
        raise ConfigError(f"--precision must be one of {PRECISIONS}. Received: precision={precision!r}")
    if precision == "auto":
        precision = "mixed" if _gpu_visible() else "float32"
    return "mixed_float16" if precision == "mixed" else "float32"


def _gpu_visible():
    if keras.config.backend() == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if keras.config.backend() == "jax":
        import jax

        return any(device.platform == "gpu" for device in jax.devices())
    return False


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
    if keras.config.backend() != "tensorflow":
        raise ConfigError(f"--strategy {name} is TensorFlow's scale-out; on the {keras.config.backend()} backend "
                          f"train with --strategy none. Received: strategy={name!r}")
    import tensorflow as tf

    if name == "mirrored":
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy([d.name for d in devices]), True
    cluster = read_tf_config(os.environ.get("TF_CONFIG"))
    return tf.distribute.MultiWorkerMirroredStrategy(), cluster["is_chief"]


def is_multi_worker(strategy):
    """Whether ``strategy`` spans several machines (``--strategy multiworker``)."""
    if strategy is None:
        return False
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


def rebuild(model, *, policy="float32", strategy=None):
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


def synchronize_batch_norm(model):
    """Make batch normalization use the statistics of the whole global batch, all-reduced across replicas (as one
    device would see them; a replica's share alone is small). The flag is not saved with the model."""
    for layer in all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True


def inference_copy(model):
    """The model as a plain float32 model without optimizer state (the file that is shipped)."""
    return rebuild(model)


def compile_model(model, make_optimizer, strategy=None):
    """Compile ``model`` with ``make_optimizer()`` (Keras wraps it for loss scaling under mixed precision); the
    optimizer and its variables are made in ``strategy``'s scope."""
    with strategy.scope() if strategy else contextlib.nullcontext():
        model.compile(optimizer=make_optimizer())
        model.optimizer.build(model.trainable_variables)


def checkpoint_copy(model):
    """A plain float32 copy of a mixed-precision or distributed ``model`` with its optimizer settings and state."""
    copy = rebuild(model)
    base = base_optimizer(model.optimizer)
    compile_model(copy, lambda: base.__class__.from_config(base.get_config()))
    if not copy_optimizer_state(model.optimizer, copy.optimizer):
        raise ModelFileError("internal: the checkpoint copy's optimizer does not match the training optimizer")
    return copy


