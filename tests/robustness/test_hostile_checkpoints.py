"""Hostile use, round two (issue #17): checkpoints, resume and write failures.

Two trainings into one ``--out`` both exited 0 and one was silently lost; resuming on data with characters the
checkpoint does not know dropped them from the labels; a corrupt run state inside ``last.keras`` (``best: "x"``)
was a ValueError traceback; a full disk while saving and a read-only ``--out`` folder were OSError tracebacks.
"""

import errno
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from common.alphabet import Alphabet
from common.errors import AlphabetError, ConfigError, ModelFileError, OutputError
from common.model_file import atomic_write, load_model, lock_folder
from common.training import TrainConfig, read_checkpoint_state, train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from toy_task import ToyTask, write_dataset  # noqa: E402



class ThreeLetterToyTask(ToyTask):
    """The toy task with a model that knows "abc" only."""

    def default_alphabet(self, texts):
        return Alphabet("abc")


def _config(tmp_path, texts=("abc", "cba", "bca", "acb", "bac", "cab"), **overrides):
    data = write_dataset(tmp_path / "data.txt", list(texts))
    values = dict(data=data, val=data, out=str(tmp_path / "m.keras"), epochs=1, batch_size=3, augment=False,
                  verbose=0, precision="float32", model={"units": 4})
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A toy run of one epoch over "abc" texts (its model knows "abc" only)."""
    folder = tmp_path_factory.mktemp("run")
    config = _config(folder)
    train(ThreeLetterToyTask(), config)
    return folder, config


def _rewrite_state(last, **changes):
    """Rewrite the run state inside a ``last.keras`` archive."""
    with zipfile.ZipFile(last) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(entries["config.json"])
    config["config"]["metadata"]["checkpoint"].update(changes)
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(last, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)


@pytest.mark.time_limit(60)
def test_a_second_training_into_the_same_out_is_refused_with_the_first_ones_pid(tmp_path):
    run_dir = tmp_path / "m_run"
    run_dir.mkdir()
    # Another process holding the run folder the way lock_folder does (flock on .lock, its PID inside), without
    # paying for TensorFlow's import in a child.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"handle = open({str(run_dir / '.lock')!r}, 'a+'); fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
         "handle.write(str(os.getpid())); handle.flush(); print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(ConfigError, match=rf"another training run \(PID {holder.pid}\) is writing into this "
                                              r"folder.*pass another --out"):
            train(ToyTask(), _config(tmp_path))
        assert not (tmp_path / "m.keras").exists() and not (run_dir / "settings.json").exists()
    finally:
        holder.kill()
        holder.wait()
    with lock_folder(run_dir):  # the kernel dropped the killed holder's lock: no stale lock is left behind
        assert (run_dir / ".lock").read_text().strip() == str(os.getpid())
    assert not (run_dir / ".lock").exists()


def test_the_lock_is_released_when_training_fails(tmp_path):
    with pytest.raises(Exception):  # the toy task cannot draw "x": the run fails after taking the lock
        train(ToyTask(), _config(tmp_path, texts=("abx", "abc")))
    with lock_folder(tmp_path / "m_run"):
        pass


@pytest.mark.time_limit(90)
def test_resuming_on_unknown_characters_is_refused_not_dropped(finished_run, tmp_path):
    folder, config = finished_run
    data = write_dataset(tmp_path / "more.txt", ["abd", "dcb", "abc"])
    resumed = TrainConfig(**dict(config.to_dict(), data=data, val=data, resume=True, epochs=2))
    with pytest.raises(AlphabetError, match=r"1 character\(s\) of the data are not in the model's alphabet: 'd'; "
                                            r"a resumed run keeps its output layer"):
        train(ThreeLetterToyTask(), resumed)


@pytest.mark.parametrize("changes", [{"best": "x"}, {"epoch": "3"}, {"epoch": -5}, {"best_epoch": [1]},
                                     {"monitor": None}, {"best_loss": {"a": 1}}])
def test_a_corrupt_run_state_names_the_file(finished_run, tmp_path, changes):
    folder, _ = finished_run
    run_dir = tmp_path / "m_run"
    run_dir.mkdir()
    (run_dir / "last.keras").write_bytes((folder / "m_run" / "last.keras").read_bytes())
    _rewrite_state(run_dir / "last.keras", **changes)
    with pytest.raises(ModelFileError, match=r"last\.keras: the run state is corrupt .*without --resume.*Received: "):
        read_checkpoint_state(run_dir)


def test_a_full_disk_while_saving_is_one_error_and_keeps_the_previous_file(finished_run, monkeypatch):
    folder, _ = finished_run
    model = load_model(folder / "m.keras")
    before = (folder / "m.keras").read_bytes()

    def full(tmp):
        Path(tmp).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OutputError, match=r"m\.keras: cannot write the file: No space left on device \(the previous "
                                          r"file is intact\)"):
        atomic_write(folder / "m.keras", full)
    assert (folder / "m.keras").read_bytes() == before
    assert not [p for p in folder.iterdir() if ".tmp-" in p.name]
    assert load_model(folder / "m.keras").count_params() == model.count_params()


@pytest.mark.time_limit(90)
def test_a_full_disk_while_saving_during_resume_is_one_error(finished_run, tmp_path, monkeypatch):
    import common.recognizer

    folder, config = finished_run
    copy = tmp_path / "copy"
    (copy / "m_run").mkdir(parents=True)
    for name in ("m.keras", "m_run/last.keras", "m_run/state.json"):
        (copy / name).write_bytes((folder / name).read_bytes())
    resumed = TrainConfig(**dict(config.to_dict(), out=str(copy / "m.keras"), resume=True, epochs=2))

    def no_space(self, path, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(common.recognizer.Recognizer, "save", no_space)
    with pytest.raises(OutputError, match=r"\.keras: cannot write the file: No space left on device \(the previous "
                                          r"file is intact\)"):
        train(ThreeLetterToyTask(), resumed)
    monkeypatch.undo()
    assert read_checkpoint_state(copy / "m_run")["epoch"] == 0  # the previous checkpoint is intact
    load_model(copy / "m.keras")


def test_an_out_folder_that_cannot_be_written_is_one_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the run folder's parent should be")
    with pytest.raises(OutputError, match=r"not-a-folder/m_run: cannot write the folder: Not a directory"):
        train(ToyTask(), _config(tmp_path, out=str(blocker / "m.keras")))


def test_the_cli_reports_an_unwritable_out_in_one_line(tmp_path, capsys):
    from ocr.cli import main

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    data = tmp_path / "lines"
    data.mkdir()
    assert main(["train", "--data", str(data), "--out", str(blocker / "m.keras")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and "not-a-folder/m_run: cannot write the folder" in err[-1]
    assert not any("Traceback" in line for line in err)
