"""A toy task for training tests, and a script that trains it in a child process.

Each character of ``abcd`` is drawn as three frames lighting two of eight features, with a dark frame after it;
a data set is a text file with one transcript per line. The model is tiny (~5 k weights), so an epoch takes
milliseconds and the tests spend their time on what they test (and on TensorFlow tracing): killing, resuming,
precision and distribution.

As a script (``python tests/common/toy_task.py SETTINGS.json``) it trains with the settings in the file and writes
``{"loss", "val_loss"}`` (and, where the run folder is, ``"num_replicas"`` and the checkpoint's ``"weights"``) as
JSON to ``settings["report"]``. Keys besides the :class:`~common.training.TrainConfig` fields:

* ``logical_cpus``: split the CPU into this many logical devices first (for ``--strategy mirrored`` tests).
* ``pause``: ``"epoch"`` stalls between two batches of the epoch after the first checkpoint (needs
  ``warmup_steps``); ``"last.keras"``, ``"state.json"`` or ``"out"`` stall the second save of that file after its
  temporary file is complete but before it is renamed. On the stall, the file ``settings["marker"]`` is created,
  and the parent kills the process (SIGKILL) at that exact moment.
* ``compare_single``: also train the same run on one device (strategy ``none``) and report its weights, and the
  gradients of one global batch computed both ways.
"""

import json
import os
import sys
import time
import zlib
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    if os.environ.get("TOY_WITHOUT_TENSORFLOW"):
        # As on a GPU machine that has JAX but no TensorFlow: importing TensorFlow fails.
        sys.modules["tensorflow"] = None

import numpy as np

from common.alphabet import Alphabet
from common.training import TaskSpec

CHARACTERS = "abcd"
NUM_FEATURES = 8
# All of one length: one input shape, so Keras traces its step functions once (tracing, not training, is what
# costs time here).
TEXTS = ["abc", "dcb", "bad", "cab", "dab", "acd", "bda", "cca", "dbb", "add", "bcd", "dac"]


def write_dataset(path, texts=TEXTS):
    Path(path).write_text("\n".join(texts) + "\n", encoding="utf-8")
    return str(path)


def draw(text):
    """float32 ``(4 * len(text), NUM_FEATURES)``: three lit frames and one dark frame per character."""
    rng = np.random.default_rng(zlib.crc32(text.encode()))
    frames = []
    for char in text:
        k = CHARACTERS.index(char)
        frame = np.zeros(NUM_FEATURES, dtype=np.float32)
        frame[2 * k: 2 * k + 2] = 1.0
        frames += [frame] * 3 + [np.zeros(NUM_FEATURES, dtype=np.float32)]
    return np.clip(np.array(frames) + rng.normal(0, 0.05, (len(frames), NUM_FEATURES)), 0, 1).astype(np.float32)


def build_toy_model(alphabet, *, units=16, num_layers=1):
    from common.encoder import BiLSTMEncoder
    from common.frontend import ConvFrontend
    from common.model_file import FORMAT_VERSION
    from common.recognizer import Recognizer

    metadata = {"task": "toy", "format_version": FORMAT_VERSION, "alphabet": alphabet.get_config()}
    frontend = ConvFrontend(num_features=NUM_FEATURES, filters=(4,), time_strides=(1,), feature_strides=(2,),
                            projection_units=16, name="toy_frontend")
    encoder = BiLSTMEncoder(num_layers=num_layers, units=units, dropout=0.0, name="encoder")
    return Recognizer(frontend, encoder, alphabet.num_classes, metadata=metadata, name="toy_recognizer")


class ToyTask(TaskSpec):
    name = "toy"
    metric = "loss"  # val_loss falls every epoch on this data, so every epoch writes a best model

    def load_examples(self, path):
        return [(line, line) for line in Path(path).read_text(encoding="utf-8").split()]

    def default_alphabet(self, texts):
        return Alphabet(CHARACTERS)

    def prepare(self, source):
        return draw(source)

    def item_length(self, item):
        return item.shape[0]

    def featurize(self, item, rng):
        return item

    def build_model(self, alphabet, **settings):
        return build_toy_model(alphabet, **settings)


def _stall(marker):
    Path(marker).touch()
    time.sleep(600)


def _install_pause(pause, marker, run_dir):
    """Stall the process at the moment named by ``pause`` (see the module docstring)."""
    if pause == "epoch":
        # Inside the training loop, at the second batch of the first epoch after a checkpoint (the learning-rate
        # callback runs before every batch: the run needs warmup_steps or max_minutes).
        from common.train_callbacks import LearningRate

        original = LearningRate.on_train_batch_begin

        def on_train_batch_begin(self, batch, logs=None):
            if batch >= 1 and (Path(run_dir) / "state.json").exists():
                _stall(marker)
            return original(self, batch, logs)

        LearningRate.on_train_batch_begin = on_train_batch_begin
        return
    replace = os.replace
    seen = []

    def slow_replace(src, dst):
        if Path(dst).name == pause or (pause == "out" and Path(dst).name == "toy.keras"):
            seen.append(dst)
            if len(seen) == 2:
                assert Path(src).is_file()
                _stall(marker)
        return replace(src, dst)

    os.replace = slow_replace


def single_device_gradients(model, x, y):
    import tensorflow as tf

    with tf.GradientTape() as tape:
        loss = model.compute_loss(x, y, model(x, training=True))
    return [g.numpy() for g in tape.gradient(loss, model.trainable_variables)]


def distributed_gradients(model, strategy, x, y):
    """The replicas' gradients of one global batch, summed across replicas as the optimizer sums them."""
    import tensorflow as tf

    from common.batching import replica_shares

    shares = replica_shares(len(x["lengths"]), strategy.num_replicas_in_sync)

    def piece(context):
        share = shares[context.replica_id_in_sync_group]
        return {k: v[share] for k, v in x.items()}, {k: v[share] for k, v in y.items()}

    inputs = strategy.experimental_distribute_values_from_function(piece)

    @tf.function
    def step(data):
        def replica_step(data):
            xs, ys = data
            with tf.GradientTape() as tape:
                loss = model.compute_loss(xs, ys, model(xs, training=True))
            return tape.gradient(loss, model.trainable_variables)

        return strategy.run(replica_step, args=(data,))

    per_replica = [strategy.experimental_local_results(g) for g in step(inputs)]
    return [np.sum([r.numpy() for r in replicas], axis=0) for replicas in per_replica]


def main(settings_path):
    settings = json.loads(Path(settings_path).read_text())
    logical_cpus = settings.pop("logical_cpus", None)
    pause = settings.pop("pause", None)
    marker = settings.pop("marker", None)
    report = settings.pop("report", None)
    compare_single = settings.pop("compare_single", False)
    if logical_cpus:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * logical_cpus)
    from common.training import TrainConfig, run_folder, train

    config = TrainConfig(**settings)
    if pause:
        _install_pause(pause, marker, run_folder(config.out))
    history = train(ToyTask(), config)
    result = {"loss": history.history["loss"], "val_loss": history.history["val_loss"]}
    from common.model_file import load_model

    run = run_folder(config.out)
    if run.is_dir():  # (the chief's; other workers write nothing)
        result["num_replicas"] = json.loads((run / "settings.json").read_text())["num_replicas"]
        result["weights"] = [w.tolist() for w in load_model(run / "last.keras").get_weights()]
    if compare_single:
        single = dict(settings, strategy="none", out=str(Path(config.out).with_name("single.keras")))
        history = train(ToyTask(), TrainConfig(**single))
        result["single_loss"] = history.history["loss"]
        result["single_weights"] = [
            w.tolist() for w in load_model(run_folder(single["out"]) / "last.keras").get_weights()]
        result.update(gradient_check(config))
    if report:
        Path(report).write_text(json.dumps(result))


def gradient_check(config):
    """Gradients of one global batch: on one device vs. summed over the mirrored strategy's replicas."""
    from common.batching import CTCDataset
    from common.distribution import make_strategy, rebuild, synchronize_batch_norm

    strategy, _ = make_strategy("mirrored")
    task = ToyTask()
    texts = TEXTS[:5]  # odd: the replicas get 3 and 2 items
    model = task.build_model(task.default_alphabet(texts))
    alphabet = Alphabet(CHARACTERS)
    data = CTCDataset([draw(t) for t in texts], [alphabet.encode(t) for t in texts], task.featurize,
                      [4 * len(t) for t in texts], batch_size=len(texts), shuffle=False)
    x, y = data[0]
    single = single_device_gradients(model, x, y)
    mirrored = rebuild(model, strategy=strategy)
    synchronize_batch_norm(mirrored)
    summed = distributed_gradients(mirrored, strategy, x, y)
    error = max(float(np.max(np.abs(a - b))) for a, b in zip(single, summed))
    scale = max(float(np.max(np.abs(a))) for a in single)
    return {"gradient_replicas": strategy.num_replicas_in_sync, "gradient_error": error, "gradient_scale": scale}


if __name__ == "__main__":
    main(sys.argv[1])
