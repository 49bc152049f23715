"""The one trainer on Keras' JAX backend (``CTC_TOOLKIT_BACKEND=jax``), as on a GPU machine without TensorFlow.

Each run is a child process with TensorFlow made unimportable, so that nothing on the training path may lean on
it. The toy task's tiny model trains for a few steps; what costs the time is JAX compiling the steps.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from common.model_file import load_model, read_metadata
from common.training import run_folder

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toy_task import write_dataset  # noqa: E402

pytest.importorskip("jax", reason="the JAX backend needs jax (pip install -e '.[test]')")

SCRIPT = Path(__file__).resolve().parent / "toy_task.py"


def train_on_jax(root, name, **overrides):
    """Train the toy task on JAX in a child process without TensorFlow; returns its report."""
    data = write_dataset(root / "data.txt")
    settings = dict(data=data, val=data, out=str(root / "toy.keras"), epochs=1, batch_size=4, learning_rate=1e-2,
                    warmup_steps=2, augment=False, verbose=0, precision="auto", report=str(root / f"{name}.json"))
    settings.update(overrides)
    path = root / f"{name}.settings.json"
    path.write_text(json.dumps(settings))
    env = dict(os.environ, CTC_TOOLKIT_BACKEND="jax", KERAS_BACKEND="jax", TOY_WITHOUT_TENSORFLOW="1",
               JAX_PLATFORMS="cpu", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, str(SCRIPT), str(path)], env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "backend: jax; precision: float32" in done.stderr
    return json.loads(Path(settings["report"]).read_text()), done.stderr


def log_rows(root):
    with open(run_folder(root / "toy.keras") / "log.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_jax_backend_trains_an_epoch(tmp_path):
    report, _ = train_on_jax(tmp_path, "first")
    assert np.isfinite(report["loss"][0]) and np.isfinite(report["val_loss"][0])
    run = run_folder(tmp_path / "toy.keras")
    assert json.loads((run / "settings.json").read_text())["backend"] == "jax"
    # The files it wrote are the toolkit's usual ones and load here, on TensorFlow.
    assert read_metadata(run / "last.keras")["checkpoint"]["epoch"] == 0
    model = load_model(tmp_path / "toy.keras", task="toy")
    np.testing.assert_allclose(model.get_weights()[0], np.array(report["weights"][0]), rtol=0, atol=0)


@pytest.mark.slow
def test_jax_backend_resumes_with_the_optimizer_state(tmp_path):
    first, _ = train_on_jax(tmp_path, "first", epochs=2)
    resumed, err = train_on_jax(tmp_path, "resumed", epochs=3, resume=True)
    assert "resuming from" in err and "after epoch 2" in err
    assert [row["epoch"] for row in log_rows(tmp_path)] == ["0", "1", "2"]
    assert len(resumed["loss"]) == 1  # the third epoch only
    state = read_metadata(run_folder(tmp_path / "toy.keras") / "last.keras")["checkpoint"]
    assert state["epoch"] == 2
    checkpoint = load_model(run_folder(tmp_path / "toy.keras") / "last.keras", task="toy", compile=True)
    # 12 items in batches of 4: three steps an epoch, counted on from the checkpoint's optimizer
    assert int(checkpoint.optimizer.iterations.numpy()) == 9
    assert not np.allclose(np.array(first["weights"][0]), np.array(resumed["weights"][0]))
