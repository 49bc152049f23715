"""A training run killed with SIGKILL at any moment resumes with ``--resume`` and loses at most the epoch it was in.

Each test trains the toy task in a child process (``toy_task.py``) that stalls at one chosen moment (inside an
epoch, or in the middle of writing one of the checkpoint files), kills it there with SIGKILL, checks that the
files it left load, and resumes the run in this process.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from common.model_file import load_model, read_metadata
from common.training import TrainConfig, read_checkpoint_state, run_folder, train

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toy_task import ToyTask, write_dataset  # noqa: E402

SCRIPT = Path(__file__).resolve().parent / "toy_task.py"


def settings(root, **overrides):
    data = write_dataset(root / "data.txt")
    values = dict(data=data, val=data, out=str(root / "toy.keras"), epochs=4, batch_size=4, learning_rate=1e-2,
                  augment=False, verbose=0, precision="float32")
    values.update(overrides)
    return values


def kill_at(root, pause, **overrides):
    """Run the toy training in a child process until it stalls at ``pause``, then SIGKILL it. Returns the pid."""
    values = settings(root, **overrides)
    marker = root / "stalled"
    path = root / "settings.json"
    path.write_text(json.dumps(dict(values, pause=pause, marker=str(marker))))
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
    child = subprocess.Popen([sys.executable, str(SCRIPT), str(path)], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            if child.poll() is not None:
                pytest.fail(f"the training process ended before it stalled at {pause}: {child.stderr.read()[-2000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"the training process did not reach {pause} in 120 s")
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    return child.pid, values


def resume(values, epochs):
    config = TrainConfig(**dict(values, resume=True, epochs=epochs))
    return train(ToyTask(), config)


def test_kill_mid_epoch_loses_only_that_epoch(tmp_path):
    _, values = kill_at(tmp_path, "epoch", warmup_steps=1)
    run = run_folder(values["out"])
    # The checkpoint of the first epoch is whole: it loads with its optimizer, and says which epoch it is.
    model = load_model(run / "last.keras", task="toy", compile=True)
    assert int(model.optimizer.iterations.numpy()) == 3  # 12 items in batches of 4
    assert read_checkpoint_state(run)["epoch"] == 0 == json.loads((run / "state.json").read_text())["epoch"]
    load_model(values["out"], task="toy")
    history = resume(values, epochs=2)
    assert history.epoch == [1]  # the killed epoch, run again
    assert np.isfinite(history.history["loss"][0])
    assert read_checkpoint_state(run)["epoch"] == 1


def test_kill_while_writing_last_keras_keeps_the_previous_checkpoint(tmp_path):
    pid, values = kill_at(tmp_path, "last.keras")
    run = run_folder(values["out"])
    leftover = run / f".last.tmp-{pid}.keras"
    assert leftover.is_file()  # the new checkpoint was complete but not yet in place
    assert read_checkpoint_state(run)["epoch"] == 0
    load_model(run / "last.keras", task="toy", compile=True)
    history = resume(values, epochs=2)
    assert history.epoch == [1]
    assert not leftover.exists()  # a killed process's temporary files are cleaned up


def test_kill_between_checkpoint_and_state_json_resumes_from_the_checkpoint(tmp_path):
    _, values = kill_at(tmp_path, "state.json")
    run = run_folder(values["out"])
    # state.json still says epoch 0, but last.keras holds epoch 1, and carries its own state.
    assert json.loads((run / "state.json").read_text())["epoch"] == 0
    assert read_metadata(run / "last.keras")["checkpoint"]["epoch"] == 1
    history = resume(values, epochs=3)
    assert history.epoch == [2]


def test_kill_before_the_best_model_is_written_is_repaired_on_resume(tmp_path):
    _, values = kill_at(tmp_path, "out")
    run = run_folder(values["out"])
    state = read_checkpoint_state(run)
    assert state["epoch"] == state["best_epoch"] == 1
    stale = load_model(values["out"], task="toy").get_weights()
    checkpoint = load_model(run / "last.keras", task="toy").get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(stale, checkpoint))
    assert resume(values, epochs=2) is None  # nothing left to train, but the best model is put in place
    best = load_model(values["out"], task="toy")
    assert "checkpoint" not in best.metadata
    assert all(np.array_equal(a, b) for a, b in zip(best.get_weights(), checkpoint))
