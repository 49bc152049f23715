"""Batch runs (common/scale.py) without Ray: inputs, shards, resume, settings, per-file errors, the missing-Ray message.

Ray itself (a local instance, a two-node cluster) is exercised by tests/test_scale_cluster.py (slow)."""

import json
import sys

import pytest

from common.errors import ConfigError, DataError
from common.scale import (SETTINGS_FILE, check_run_settings, collect_inputs, import_ray, load_results, plan_shards,
                          read_records, run_batch, write_shard)

CALLS = []  # what the toy worker was asked to process, shard by shard


def toy_worker(*, suffix="!", stop_after=None, chdir=None):
    """A worker factory: 'reads' a text file into its upper-cased content; a file named bad* fails. ``chdir``: work
    in another folder, as Ray's workers on other machines do."""
    import os
    from pathlib import Path

    if chdir is not None:
        os.chdir(chdir)

    def process(paths):
        if stop_after is not None and len(CALLS) >= stop_after:
            raise KeyboardInterrupt
        CALLS.append(list(paths))
        records = []
        for path in paths:
            if Path(path).name.startswith("bad"):
                records.append({"path": path, "text": "", "error": f"{path}: cannot read it"})
            else:
                records.append({"path": path, "text": Path(path).read_text().upper() + suffix, "error": None})
        return records

    return process


@pytest.fixture(autouse=True)
def _clear_calls():
    CALLS.clear()


def _files(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text(name.split(".")[0])
    return [str(folder / name) for name in names]


def test_collect_inputs_walks_folders_globs_and_manifests(tmp_path):
    _files(tmp_path / "scans" / "sub", ["b.png", "a.PNG", ".hidden.png", "notes.txt"])
    _files(tmp_path / "scans", ["c.jpg"])
    _files(tmp_path / "other", ["x.png", "y.png"])
    (tmp_path / "list.csv").write_text("path\nother/y.png\nother/missing.png\n")
    found = collect_inputs([tmp_path / "scans", str(tmp_path / "other" / "x.*"), tmp_path / "list.csv",
                            str(tmp_path / "scans" / "c.jpg")], suffixes=(".png", ".jpg"), what="image")
    assert found == [str(tmp_path / "scans" / "c.jpg"), str(tmp_path / "scans" / "sub" / "a.PNG"),
                     str(tmp_path / "scans" / "sub" / "b.png"), str(tmp_path / "other" / "x.png"),
                     str(tmp_path / "other" / "y.png"), str(tmp_path / "other" / "missing.png")]


def test_collect_inputs_refuses_what_gives_nothing_to_do(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"empty: the folder holds no image files \(searched for \.png"):
        collect_inputs([tmp_path / "empty"], suffixes=(".png",), what="image")
    with pytest.raises(ConfigError, match=r"the pattern matches no file"):
        collect_inputs([str(tmp_path / "*.wav")], suffixes=(".wav",))
    (tmp_path / "list.jsonl").write_text('{"path": "a.png"}\nnot json\n')
    with pytest.raises(DataError, match=r"list.jsonl: 1 malformed row\(s\): not JSON .*\(line 2\)"):
        collect_inputs([tmp_path / "list.jsonl"], suffixes=(".png",))


def test_plan_shards_skips_what_is_done_and_never_reuses_a_name():
    paths = [f"/d/{i}.png" for i in range(7)]
    assert plan_shards(paths, files_per_shard=3) == [
        ("part-0001-000000", paths[:3]), ("part-0001-000001", paths[3:6]), ("part-0001-000002", paths[6:])]
    assert plan_shards(paths, done=paths[:5], files_per_shard=3, run=2) == [("part-0002-000000", paths[5:])]
    with pytest.raises(ConfigError, match=r"`files_per_shard` \(--files-per-shard\)"):
        plan_shards(paths, files_per_shard=0)


@pytest.mark.parametrize("shard_format", ["jsonl", "parquet"])
def test_a_shard_is_written_whole_and_read_back(tmp_path, shard_format):
    if shard_format == "parquet":
        pytest.importorskip("pyarrow", reason="Parquet shards need pyarrow (the 'scale' extra)")
    records = [{"path": "/d/a.png", "text": "Ä b", "error": None, "lines": [{"box": [0, 1, 2, 3]}]},
               {"path": "/d/b.png", "text": "", "error": "/d/b.png: broken"}]
    path = write_shard(tmp_path, "part-0001-000000", records, shard_format=shard_format)
    assert path.name == f"part-0001-000000.{shard_format}"
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary file left beside it
    assert list(read_records(tmp_path)) == records


def test_a_run_writes_every_file_once_with_its_error_and_resumes(tmp_path):
    paths = _files(tmp_path / "in", ["a.txt", "bad.txt", "c.txt", "d.txt", "e.txt"])
    out = tmp_path / "out"
    options = {"suffix": "!"}
    report = run_batch(paths[:3], out, task="toy", factory=toy_worker, options=options, local=True,
                       files_per_shard=2)
    assert (report.total, report.processed, report.failed, report.skipped) == (3, 3, 1, 0)
    assert report.errors == [f"{paths[1]}: cannot read it"]
    assert report.shards == ["part-0001-000000", "part-0001-000001"]
    # The same command over more files does only the new ones, in new shards.
    report = run_batch(paths, out, task="toy", factory=toy_worker, options=options, local=True, files_per_shard=2)
    assert (report.processed, report.skipped, report.failed) == (2, 3, 0)
    assert CALLS[-1] == paths[3:]
    results = load_results(out)
    assert {p: r["text"] for p, r in results.items()} == {
        paths[0]: "A!", paths[1]: "", paths[2]: "C!", paths[3]: "D!", paths[4]: "E!"}
    assert sum(1 for _ in read_records(out)) == 5  # each file once
    # --retry-failed gives the failed file another go; its newer record wins.
    report = run_batch(paths, out, task="toy", factory=toy_worker, options=options, local=True, retry_failed=True)
    assert (report.processed, report.skipped) == (1, 4)
    assert CALLS[-1] == [paths[1]]
    assert load_results(out)[paths[1]]["error"] == f"{paths[1]}: cannot read it"


def test_an_interrupted_run_keeps_its_finished_shards_and_the_next_run_finishes(tmp_path):
    paths = _files(tmp_path / "in", [f"{i}.txt" for i in range(6)])
    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt):
        run_batch(paths, out, task="toy", factory=toy_worker, options={"stop_after": 2}, settings={},
                  local=True, files_per_shard=2)
    assert sorted(p.name for p in out.iterdir()) == [SETTINGS_FILE, "part-0001-000000.jsonl",
                                                     "part-0001-000001.jsonl"]
    report = run_batch(paths, out, task="toy", factory=toy_worker, options={}, settings={}, local=True,
                       files_per_shard=2)
    assert (report.processed, report.skipped) == (2, 4)
    assert sorted(load_results(out)) == sorted(paths)
    assert sum(1 for _ in read_records(out)) == 6


def test_a_resume_with_other_settings_or_another_task_is_refused(tmp_path):
    check_run_settings(tmp_path, task="ocr", settings={"model": "typo.keras", "layout": "auto"})
    # A run that wrote no shard (it stopped at a bad setting) binds nothing: the corrected command goes ahead.
    check_run_settings(tmp_path, task="ocr", settings={"model": None, "layout": "auto"})
    write_shard(tmp_path, "part-0001-000000", [{"path": "/a", "text": "", "error": None}])
    check_run_settings(tmp_path, task="ocr", settings={"model": None, "layout": "auto"})  # the same: fine
    with pytest.raises(ConfigError, match=r"holds a run with other settings \(layout\).*Received: layout='line'"):
        check_run_settings(tmp_path, task="ocr", settings={"model": None, "layout": "line"})
    with pytest.raises(ConfigError, match=r"holds a 'ocr' run"):
        check_run_settings(tmp_path, task="speech", settings={"model": None, "layout": "auto"})
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match=r"--output-dir must be a folder"):
        check_run_settings(tmp_path / "file", task="ocr", settings={})


def test_a_damaged_shard_is_named(tmp_path):
    write_shard(tmp_path, "part-0001-000000", [{"path": "/a", "text": "", "error": None}])
    (tmp_path / "part-0001-000000.jsonl").write_text('{"path": "/a", "te')
    with pytest.raises(DataError, match=r"part-0001-000000.jsonl: cannot read this result shard .*delete it"):
        load_results(tmp_path)


def test_without_ray_the_error_names_the_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    with pytest.raises(ConfigError, match=r"pip install 'ctc-toolkit\[scale\]', or pass --local"):
        import_ray()


def test_the_batch_command_without_ray_is_one_line_and_status_2(monkeypatch, tmp_path, capsys):
    from ocr.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)
    status = main(["batch", "ocr/samples", "--output-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and err.startswith("error: batch runs on Ray Data, which is not installed")


def _assert_equal(a, b):
    assert a == b


def _cli_lines(main, argv, capsys):
    status = main(argv)
    return status, capsys.readouterr()


@pytest.mark.parametrize("task", ["ocr", "speech"])
def test_batch_gives_the_same_records_as_the_command_line(task, tmp_path, capsys, assert_same_but_confidences):
    """``batch --local`` (the same shards as on Ray) writes what ``read --json`` / ``transcribe --format json``
    prints, for good and bad files alike (OCR: but for confidences, since a file is read in another batch and the
    OCR twin's int8 activations are quantized per batch)."""
    import shutil
    from pathlib import Path

    if task == "ocr":
        from ocr.cli import main
        samples, json_flag, command = ["ocr/samples/line.png", "ocr/samples/paragraph.png"], ["--json"], "read"
        bad = tmp_path / "in" / "bad.png"
        same_records = assert_same_but_confidences
    else:
        from speech.cli import main
        samples, json_flag, command = ["speech/samples/hello.wav"], ["--format", "json"], "transcribe"
        bad = tmp_path / "in" / "bad.wav"
        same_records = _assert_equal
    (tmp_path / "in").mkdir()
    inputs = [str(shutil.copy(sample, tmp_path / "in" / Path(sample).name)) for sample in samples]
    bad.write_text("not media")
    inputs.append(str(bad))
    status, cli = _cli_lines(main, [command, *inputs, *json_flag], capsys)
    assert status == 1
    expected = {record["path"]: record for record in map(json.loads, cli.out.splitlines())}
    out = tmp_path / "out"
    status, run = _cli_lines(main, ["batch", str(tmp_path / "in"), "--output-dir", str(out), "--local",
                                    "--files-per-shard", "1"], capsys)
    assert status == 1
    same_records(load_results(out), expected)
    assert f"error: {expected[str(bad)]['error']}" in run.err.splitlines()
    assert f"{len(inputs)} of {len(inputs)} {'images' if task == 'ocr' else 'files'} processed" in run.err
    # Run again: nothing to do, the same results, no failure counted again.
    status, again = _cli_lines(main, ["batch", str(tmp_path / "in"), "--output-dir", str(out), "--local"], capsys)
    assert status == 0 and f"{len(inputs)} done before, skipped" in again.err
    same_records(load_results(out), expected)


def test_an_interrupted_batch_command_says_how_to_resume(monkeypatch, tmp_path, capsys):
    import common.scale
    from ocr.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(common.scale, "run_batch", interrupted)
    status = main(["batch", "ocr/samples", "--output-dir", str(tmp_path / "out"), "--local"])
    assert status == 130
    assert capsys.readouterr().err == (f"interrupted; the finished shards are kept in {tmp_path / 'out'}: run the "
                                       f"same command again to do the rest\n")
    with pytest.raises(SystemExit):
        main(["batch", "ocr/samples", "--output-dir", str(tmp_path / "out"), "--local", "--address", "auto",
              "--workers", "0"])
    assert "--workers" in capsys.readouterr().err
    assert main(["batch", "ocr/samples", "--output-dir", str(tmp_path / "out"), "--local", "--address", "auto"]) == 2
    assert "error: --local runs in this process, without a cluster" in capsys.readouterr().err


def test_parquet_shards_hold_the_same_records_as_jsonl(tmp_path):
    pytest.importorskip("pyarrow", reason="Parquet shards need pyarrow (the 'scale' extra)")
    paths = _files(tmp_path / "in", ["a.txt", "bad.txt", "c.txt"])
    for shard_format in ("jsonl", "parquet"):
        run_batch(paths, tmp_path / shard_format, task="toy", factory=toy_worker, options={}, local=True,
                  files_per_shard=2, shard_format=shard_format)
    assert sorted(p.suffix for p in (tmp_path / "parquet").glob("part-*")) == [".parquet", ".parquet"]
    assert load_results(tmp_path / "parquet") == load_results(tmp_path / "jsonl")
    # A folder may hold both (a resumed run that changed --shard-format): all of it is read.
    report = run_batch(paths + _files(tmp_path / "in", ["d.txt"]), tmp_path / "parquet", task="toy",
                       factory=toy_worker, options={}, local=True)
    assert (report.processed, report.skipped) == (1, 3)
    assert len(load_results(tmp_path / "parquet")) == 4


def test_parquet_without_pyarrow_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ConfigError, match=r"Parquet shards need pyarrow.*ctc-toolkit\[scale\].*--shard-format jsonl"):
        run_batch([], tmp_path, task="toy", factory=toy_worker, options={}, local=True, shard_format="parquet")


def test_a_relative_output_dir_is_where_the_driver_means_whatever_the_workers_folder(tmp_path, monkeypatch):
    paths = _files(tmp_path / "in", ["a.txt"])
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path)
    run_batch(paths, "out", task="toy", factory=toy_worker, options={"chdir": str(tmp_path / "elsewhere")},
              local=True)
    assert [p.name for p in (tmp_path / "out").glob("part-*")] == ["part-0001-000000.jsonl"]
    assert not (tmp_path / "elsewhere" / "out").exists()


def test_a_setting_that_fails_in_a_worker_comes_back_as_the_toolkits_error(tmp_path):
    """On Ray a worker's exception reaches the driver as a traceback: ShardWorker sends a ToolkitError back as data,
    and the driver raises it again, the command line printing its one line."""
    import numpy as np

    from common.errors import ModelFileError
    from common.scale import ShardWorker, _raise_fatal

    def bad_model(**options):
        raise ModelFileError("/x.keras: model file not found. Received: path='/x.keras'")

    worker = ShardWorker(bad_model, {}, tmp_path)
    rows = worker({"shard": np.array(["part-0001-000000"]), "paths": np.array(['["/a.png"]'])})
    assert rows["fatal"] == ["ModelFileError:/x.keras: model file not found. Received: path='/x.keras'"]
    assert not list(tmp_path.iterdir())
    with pytest.raises(ModelFileError, match=r"^/x.keras: model file not found"):
        _raise_fatal({"fatal": rows["fatal"][0]})
    _raise_fatal({"fatal": ""})  # a shard that went well
    with pytest.raises(ModelFileError, match="model file not found"):  # in this process: raised as it is
        run_batch(["/a.png"], tmp_path / "out", task="toy", factory=bad_model, options={}, local=True)
    with pytest.raises(ConfigError, match=r"`cpus_per_worker` \(--cpus-per-worker\), expected a number > 0"):
        run_batch(["/a.png"], tmp_path / "out", task="toy", factory=bad_model, options={}, cpus_per_worker=0)


def test_two_runs_into_one_folder_at_once_are_refused(tmp_path):
    from common.model_file import lock_folder

    paths = _files(tmp_path / "in", ["a.txt"])
    with lock_folder(tmp_path / "out", what="batch run", option="--output-dir"):
        with pytest.raises(ConfigError, match=r"out: another batch run \(PID \d+\) is writing into this folder"):
            run_batch(paths, tmp_path / "out", task="toy", factory=toy_worker, options={}, local=True)
    assert run_batch(paths, tmp_path / "out", task="toy", factory=toy_worker, options={}, local=True).processed == 1
    assert not (tmp_path / "out" / ".lock").exists()
