"""The step both recipes end with: run a task's ``train`` command, copy the best model into the package, and
regenerate its ONNX twin (``default.onnx``, what ``read`` / ``transcribe`` run without TensorFlow), quantized as the
task's ``defaults.TWIN_QUANTIZATION`` says."""

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def train_and_ship(task, work, ship, options, *, resume=False):
    """Run ``python -m TASK train --out WORK/model.keras OPTIONS... [--resume]``; on success copy it to ``ship``
    and export ``ship`` to ONNX beside it (``python -m TASK export``, the same as ``make onnx``).

    Returns the command's exit status.
    """
    work = Path(work)
    command = [sys.executable, "-m", task, "train", "--out", str(work / "model.keras"), *map(str, options)]
    if resume:
        command.append("--resume")
    print(" ".join(command), flush=True)
    status = subprocess.call(command, cwd=ROOT)
    if status == 0:
        Path(ship).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(work / "model.keras", ship)
        print(f"copied the best model to {ship}")
        twin = Path(ship).with_suffix(".onnx")
        quantization = importlib.import_module(f"{task}.defaults").TWIN_QUANTIZATION
        status = subprocess.call([sys.executable, "-m", task, "export", "--model", str(ship), "--out", str(twin),
                                  "--overwrite", *(["--quantize", quantization] if quantization else [])], cwd=ROOT)
        if status == 0:
            print(f"wrote its ONNX twin {twin}")
    return status
