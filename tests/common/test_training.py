"""The shared training path: precision, distribution, checkpoints, fine-tuning defaults and what the run says.

Most tests train the toy task of ``toy_task.py`` (a ~5 k-weight model over 12 three-character items). The
mirrored-strategy test runs in a child process, which splits the CPU into two logical devices before TensorFlow
starts (that cannot be undone in this process).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from common.alphabet import Alphabet
from common.batching import length_batches, replica_shares
from common.errors import ConfigError
from common.model_file import load_model, save_model
from common.distribution import make_strategy, read_tf_config, resolve_precision
from common.keras_compat import all_layers
from common.training import TrainConfig, read_checkpoint_state, run_folder, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toy_task import ToyTask, write_dataset  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "toy_task.py"
ROOT = Path(__file__).resolve().parents[2]


def toy_config(root, **overrides):
    root.mkdir(parents=True, exist_ok=True)
    data = write_dataset(root / "data.txt")
    values = dict(data=data, val=data, out=str(root / "toy.keras"), epochs=2, batch_size=4, learning_rate=1e-2,
                  augment=False, verbose=0, precision="float32")
    values.update(overrides)
    return TrainConfig(**values)


def all_dtype_policies(model):
    return {layer.dtype_policy.name for layer in all_layers(model)}


# -- settings --------------------------------------------------------------------------------------------------------

def test_precision_and_strategy_settings_are_checked():
    assert resolve_precision("auto") == "float32"  # no GPU in the test run
    assert resolve_precision("mixed") == "mixed_float16"
    assert resolve_precision("float32") == "float32"
    with pytest.raises(ConfigError, match="precision='half'"):
        TrainConfig(data="d", out="m.keras", precision="half")
    with pytest.raises(ConfigError, match="strategy='tpu'"):
        TrainConfig(data="d", out="m.keras", strategy="tpu")
    assert make_strategy("none") == (None, True)


def cluster(task_type="worker", index=0, **jobs):
    jobs = jobs or {"worker": ["localhost:12345", "localhost:12346"]}
    return json.dumps({"cluster": jobs, "task": {"type": task_type, "index": index}})


def test_tf_config_is_read_and_checked():
    assert read_tf_config(cluster()) == {"task_type": "worker", "task_index": 0, "num_workers": 2, "is_chief": True}
    assert read_tf_config(cluster(index=1))["is_chief"] is False
    with_chief = {"chief": ["a:1"], "worker": ["b:1", "c:1"]}
    assert read_tf_config(cluster("chief", 0, **with_chief))["is_chief"] is True
    assert read_tf_config(cluster("worker", 0, **with_chief)) == {
        "task_type": "worker", "task_index": 0, "num_workers": 3, "is_chief": False}
    bad = {
        None: "TF_CONFIG unset",
        "": "TF_CONFIG unset",
        "{cluster": "not valid JSON",
        json.dumps({"cluster": {"worker": ["a:1"]}}): "needs a 'cluster' and a 'task'",
        cluster(index=2): "index must be an integer in [0, 2)",
        cluster(index="0"): "Received: index='0'",
        cluster("evaluator"): "task type must be one of",
        cluster(ps=["a:1"], worker=["b:1"]): "no parameter servers",
        cluster(worker=["a:1", "a:1"]): "its own host:port",
        cluster(worker=["localhost"]): "'host:port' strings",
        cluster("chief", 0, chief=["a:1", "b:1"], worker=["c:1"]): "one chief only",
    }
    for text, message in bad.items():
        with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
            read_tf_config(text)


def test_multiworker_without_tf_config_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="needs the TF_CONFIG environment variable"):
        train(ToyTask(), toy_config(tmp_path, strategy="multiworker"))


# -- batching for replicas -------------------------------------------------------------------------------------------

def test_replica_shares_cover_the_batch_once():
    for items in range(1, 12):
        for replicas in (1, 2, 3, 4):
            shares = replica_shares(items, replicas)
            assert len(shares) == replicas
            assert np.concatenate([np.arange(items)[s] for s in shares]).tolist() == list(range(items))
            sizes = [s.stop - s.start for s in shares]
            assert max(sizes) - min(sizes) <= 1


def test_small_batches_join_a_neighbour():
    lengths = np.arange(9)
    batches = length_batches(lengths, batch_size=4, min_batch_size=2)  # 4 + 4 + 1: the 1 joins its neighbour
    assert [len(b) for b in batches] == [4, 5]
    assert sorted(np.concatenate(batches).tolist()) == list(range(9))
    assert [len(b) for b in length_batches(lengths, batch_size=4)] == [4, 4, 1]
    # A batch cut short by max_frames joins too, so every replica of 3 gets an item.
    batches = length_batches([1, 1, 1, 10, 10], batch_size=4, max_frames=20, min_batch_size=3)
    assert all(len(b) >= 3 for b in batches) and sum(len(b) for b in batches) == 5


# -- precision -------------------------------------------------------------------------------------------------------

def test_mixed_precision_trains_and_saves_float32_models(tmp_path):
    config = toy_config(tmp_path, precision="mixed")
    history = train(ToyTask(), config)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert keras.config.dtype_policy().name == "float32"  # the run left the global policy alone
    settings = json.loads((run_folder(config.out) / "settings.json").read_text())
    assert settings["dtype_policy"] == "mixed_float16"

    best = load_model(config.out, task="toy")
    assert all_dtype_policies(best) == {"float32"}
    x = {"features": np.random.default_rng(0).random((2, 12, 8), dtype=np.float32),
         "lengths": np.array([12, 8], dtype=np.int32)}
    logits = best(x)["logits"]
    assert logits.dtype == "float32" and np.all(np.isfinite(keras.ops.convert_to_numpy(logits)))

    # The checkpoint is float32 too, with a plain Adam carrying the run's state.
    last = load_model(run_folder(config.out) / "last.keras", task="toy", compile=True)
    assert all_dtype_policies(last) == {"float32"}
    steps = int(last.optimizer.iterations.numpy())
    # 6 steps ran; the loss scaler skips the update of a step whose float16 gradients overflowed (the first ones,
    # while it lowers its scale from 2**15), and Adam does not count skipped steps.
    assert type(last.optimizer).__name__ == "Adam" and 1 <= steps <= 6

    # It resumes in mixed precision with the checkpoint's optimizer state (it would in float32 too).
    history = train(ToyTask(), toy_config(tmp_path, precision="mixed", epochs=3, resume=True))
    assert history.epoch == [2] and np.isfinite(history.history["loss"][0])
    resumed = int(load_model(run_folder(config.out) / "last.keras", compile=True).optimizer.iterations.numpy())
    assert steps < resumed <= steps + 3


def test_mixed_precision_model_keeps_head_and_loss_in_float32(tmp_path):
    from common.distribution import rebuild

    model = ToyTask().build_model(ToyTask().default_alphabet([]))
    mixed = rebuild(model, policy="mixed_float16")
    assert mixed.frontend.compute_dtype == mixed.encoder.recurrent_layers[0].compute_dtype == "float16"
    assert mixed.head.compute_dtype == "float32"
    x = {"features": np.ones((1, 12, 8), dtype=np.float32), "lengths": np.array([12], dtype=np.int32)}
    y = {"labels": np.array([[1, 2, 3]], dtype=np.int32), "label_lengths": np.array([3], dtype=np.int32)}
    out = mixed(x, training=True)
    assert out["logits"].dtype == "float32"
    loss = mixed.compute_loss(x, y, out)
    assert loss.dtype == "float32" and np.isfinite(float(loss))
    # Same weights, nearly the same answer as in float32.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out["logits"]),
                               keras.ops.convert_to_numpy(model(x, training=True)["logits"]), atol=0.05)


# -- distribution ----------------------------------------------------------------------------------------------------

def test_mirrored_strategy_on_two_cpu_devices_matches_one_device(tmp_path):
    config = toy_config(tmp_path, epochs=2, strategy="mirrored").to_dict()
    report = tmp_path / "report.json"
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(dict(config, logical_cpus=2, compare_single=True, report=str(report))))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run([sys.executable, str(SCRIPT), str(settings)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(report.read_text())
    assert result["num_replicas"] == 2 and result["gradient_replicas"] == 2
    # One global batch: the replicas' summed gradients are one device's gradients on the whole batch (here a
    # batch of 5 split 3 + 2, so the loss must be scaled by the global count, not averaged per replica).
    assert result["gradient_error"] <= 1e-5 * max(1.0, result["gradient_scale"])
    losses = result["loss"]
    assert np.all(np.isfinite(losses)) and losses[0] > losses[1]
    # Six steps on two replicas end where six steps on one device end.
    np.testing.assert_allclose(losses, result["single_loss"], rtol=1e-4)
    for mirrored, single in zip(result["weights"], result["single_weights"]):
        np.testing.assert_allclose(np.array(mirrored), np.array(single), atol=1e-3)


def free_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_multiworker_strategy_with_two_local_workers(tmp_path):
    """Two processes on this machine (one CPU replica each) train one model; ~25-60 s on 2 busy cores."""
    config = toy_config(tmp_path, epochs=2, strategy="multiworker").to_dict()
    workers = [f"localhost:{free_port()}", f"localhost:{free_port()}"]
    children = []
    for index in range(2):
        settings = tmp_path / f"worker{index}.json"
        settings.write_text(json.dumps(dict(config, report=str(tmp_path / f"report{index}.json"))))
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="", TF_CONFIG=json.dumps(tf_config))
        children.append(subprocess.Popen([sys.executable, str(SCRIPT), str(settings)], env=env,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    try:
        errors = [child.communicate(timeout=240)[1] for child in children]
    finally:
        for child in children:
            child.kill()
    assert [child.returncode for child in children] == [0, 0], [e[-2000:] for e in errors]
    chief, other = (json.loads((tmp_path / f"report{i}.json").read_text()) for i in range(2))
    assert chief["num_replicas"] == 2
    assert chief["loss"] == other["loss"] and np.all(np.isfinite(chief["loss"]))
    # Both wrote to the same --out; only the chief wrote files (one log line per epoch, not two).
    assert "the chief writes the model" in errors[1] and "model: " in errors[0]
    assert len((run_folder(config["out"]) / "log.csv").read_text().splitlines()) == 1 + 2
    # Each worker took its share of every global batch: the run equals one device's run on the same batches.
    single = train(ToyTask(), toy_config(tmp_path / "single", epochs=2))
    np.testing.assert_allclose(chief["loss"], single.history["loss"], rtol=1e-4)
    # The best model (every epoch improves the toy task's val_loss) is the chief's last checkpoint.
    for best, last in zip(load_model(config["out"], task="toy").get_weights(), chief["weights"]):
        np.testing.assert_allclose(best, np.array(last), rtol=0, atol=0)


# -- checkpoints and resume ------------------------------------------------------------------------------------------

def test_checkpoint_state_lives_in_last_keras(tmp_path):
    config = toy_config(tmp_path)
    train(ToyTask(), config)
    run = run_folder(config.out)
    state = read_checkpoint_state(run, task="toy")
    assert state["epoch"] == 1 and state["best_epoch"] == 1 and state["monitor"] == "val_loss"
    assert state == json.loads((run / "state.json").read_text())
    assert state["best"] == state["best_loss"]  # (the toy task's metric is the validation loss)
    # The shipped model carries no training state; the run folder holds no temporary files.
    assert "checkpoint" not in load_model(config.out).metadata
    assert not list(run.glob(".*")) and not list(Path(config.out).parent.glob(".*.tmp-*"))
    with pytest.raises(ConfigError, match="no checkpoint"):
        train(ToyTask(), toy_config(tmp_path / "other", resume=True))


# -- fine-tuning -----------------------------------------------------------------------------------------------------

def test_fine_tuning_defaults_and_alphabet_report(tmp_path, capsys):
    base = save_model(ToyTask().build_model(Alphabet("abcd")), tmp_path / "base.keras")
    data = write_dataset(tmp_path / "new.txt", ["abc", "bad", "cab", "dab", "acd", "bda", "cca", "dbb"] * 3)
    config = TrainConfig(data=data, out=str(tmp_path / "tuned.keras"), from_model=str(base), epochs=1,
                         batch_size=4, augment=False, verbose=0, precision="float32", val_fraction=0.2)
    resolved = config.resolved()
    assert (resolved.learning_rate, resolved.warmup_steps) == (3e-4, 100)
    assert TrainConfig(data="d", out="m.keras").resolved().learning_rate == 1e-3
    train(ToyTask(), config)
    err = capsys.readouterr().err
    assert "no --val given: holding out 5 of 24 examples for validation" in err
    report = err.index("characters: 4 in training")
    assert report < err.index("only in training:") < err.index("unknown to the model: none") < err.index("preparing")
    settings = json.loads((run_folder(config.out) / "settings.json").read_text())["training"]
    # 19 training examples in batches of 4: the default warm-up (100 steps) is cut to one epoch of 5 steps
    assert settings["learning_rate"] == 3e-4 and settings["warmup_steps"] == 5
    assert "warm-up over 5 step(s)" in err


@pytest.mark.parametrize("task", ["ocr", "speech"])
def test_from_default_fine_tunes_the_shipped_model(task, tmp_path, capsys):
    if task == "ocr":
        from ocr.cli import main
        from ocr.reader import DEFAULT_MODEL
        from ocr.synth import synthesize_dataset

        data = synthesize_dataset(tmp_path / "lines", 6, seed=0, degrade_fraction=0.0, max_chars=12)
    else:
        from speech.cli import main
        from speech.transcriber import DEFAULT_MODEL

        data = ROOT / "tests" / "fixtures" / "speech" / "manifest.jsonl"
    out = tmp_path / "tuned.keras"
    status = main(["train", "--data", str(data), "--from", "default", "--out", str(out), "--epochs", "1",
                   "--batch-size", "2", "--max-items", "2", "--quiet", "--no-augment"])
    err = capsys.readouterr().err
    assert status == 0, err
    assert "no --val given: holding out 1 of" in err and "unknown to the model:" in err
    settings = json.loads((run_folder(out) / "settings.json").read_text())["training"]
    assert settings["from_model"] == str(DEFAULT_MODEL)
    assert (settings["learning_rate"], settings["warmup_steps"]) == (3e-4, 1)  # one epoch of 1 batch
    tuned = load_model(out, task=task)
    assert tuned.count_params() >= load_model(DEFAULT_MODEL).count_params()


# -- schedule and time budget ----------------------------------------------------------------------------------------

def test_learning_rate_warms_up_then_follows_a_cosine_over_the_budget():
    from common.train_callbacks import LearningRate, TimeBudget, cosine_factor, warmup_factor

    assert [warmup_factor(s, 4) for s in range(5)] == [0.25, 0.5, 0.75, 1.0, 1.0] and warmup_factor(7, 0) == 1.0
    assert cosine_factor(0.0, 1e-3, 1e-5) == pytest.approx(1e-3)
    assert cosine_factor(0.5, 1e-3, 1e-5) == pytest.approx((1e-3 + 1e-5) / 2)
    assert cosine_factor(1.0, 1e-3, 1e-5) == pytest.approx(1e-5) == cosine_factor(3.0, 1e-3, 1e-5)

    class HalfSpent(TimeBudget):
        def fraction(self):
            return 0.5

    schedule = LearningRate(1e-3, 10, budget=HalfSpent(10))
    assert schedule.rate(4) == pytest.approx(0.5 * (1e-3 + 1e-5) / 2)  # in the warm-up
    assert schedule.rate(50) == pytest.approx((1e-3 + 1e-5) / 2)
    assert LearningRate(1e-3, 10).rate(50) == 1e-3  # no budget: plateaus set the rate


def test_a_time_budget_is_spent_not_cut_short_by_patience(tmp_path):
    from common.training import _callbacks

    task = ToyTask()
    data = type("Data", (), {"val": None, "val_references": [], "alphabet": Alphabet("abcd")})()

    def kinds(config):
        callbacks, _, budget = _callbacks(task, config.resolved(), data, None, is_chief=False, plain=True,
                                          strategy=None)
        return {type(c).__name__ for c in callbacks}, budget

    names, budget = kinds(toy_config(tmp_path, max_minutes=10, patience=1))
    assert "EarlyStopping" not in names and "ReduceLROnPlateau" not in names
    assert {"TimeBudget", "LearningRate"} <= names and budget.max_seconds == 600
    names, budget = kinds(toy_config(tmp_path, patience=1))
    assert {"EarlyStopping", "ReduceLROnPlateau"} <= names and budget is None


def test_a_resumed_run_goes_on_with_what_is_left_of_its_budget(tmp_path, capsys):
    first = toy_config(tmp_path, epochs=1, max_minutes=5)
    train(ToyTask(), first)
    spent = read_checkpoint_state(run_folder(first.out))["minutes_trained"]
    assert 0 < spent < 5
    train(ToyTask(), toy_config(tmp_path, epochs=2, max_minutes=5, resume=True))
    assert read_checkpoint_state(run_folder(first.out))["minutes_trained"] > spent
    capsys.readouterr()
    assert train(ToyTask(), toy_config(tmp_path, epochs=3, max_minutes=spent / 2, resume=True)) is None
    assert "already spent its --max-minutes" in capsys.readouterr().err
