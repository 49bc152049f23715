"""Hostile use, round two (issue #17): model and export names.

A model file named ``.KERAS`` or with no suffix was refused with Keras' long internal message (it now loads: the
archive is checked before Keras sees it); a model with no task said "Use the 'None' command"; ``ocr export --out
out.txt`` exited 0 and wrote a SavedModel folder called out.txt.
"""

import json
import zipfile

import pytest

from common.errors import ConfigError, ModelFileError
from common.model_file import load_model, read_metadata
from ocr.reader import Reader
from robustness_support import outcome


@pytest.mark.parametrize("name", ["model.KERAS", "model"])
def test_a_model_file_with_another_suffix_loads(tiny_models, tmp_path, name):
    import numpy as np

    path = tmp_path / name
    path.write_bytes(tiny_models["ocr"].read_bytes())
    line = np.full((32, 80), 250, np.uint8)
    line[8:24, 10:70:5] = 0
    assert Reader.load(path).read(line)[0].text == Reader.load(tiny_models["ocr"]).read(line)[0].text


def test_a_file_with_no_suffix_that_is_not_a_model_is_one_line(tmp_path):
    path = tmp_path / "model"
    path.write_text("hello")
    kind, message = outcome(lambda: load_model(path), source=path)
    assert kind == "error" and "not a Keras model file" in message


def _without_task(source, target, task=None):
    with zipfile.ZipFile(source) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(entries["config.json"])
    metadata = config["config"]["metadata"]
    metadata.pop("task")
    if task is not None:
        metadata["task"] = task
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return target


@pytest.mark.parametrize("task", [None, "", 7])
def test_a_model_with_no_task_says_so(tiny_models, tmp_path, task, capsys):
    from ocr.cli import main

    path = _without_task(tiny_models["ocr"], tmp_path / "m.keras", task)
    with pytest.raises(ModelFileError, match=r"m\.keras: the model file names no task .*expected a ocr model") as error:
        read_metadata(path, task="ocr")
    assert "'None'" not in str(error.value) and "command with it" not in str(error.value)
    assert main(["read", str(path), "--model", str(path)]) == 2
    assert "names no task" in capsys.readouterr().err


@pytest.mark.parametrize("out", ["out.txt", "model.keras", "weights.h5"])
def test_export_to_a_file_name_is_refused(tiny_models, tmp_path, out, capsys):
    from common.export import export_model
    from ocr.cli import main

    with pytest.raises(ConfigError, match=r"a SavedModel export is a folder, so its path takes no file suffix"):
        export_model(load_model(tiny_models["ocr"]), tmp_path / out)
    assert main(["export", "--out", str(tmp_path / out), "--model", str(tiny_models["ocr"])]) == 2
    assert "takes no file suffix" in capsys.readouterr().err
    assert not (tmp_path / out).exists()
