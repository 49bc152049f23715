"""Batch runs over large collections: a folder, glob or manifest -> shards of results, resumable, on Ray Data.

The machinery here knows no task. A task supplies a *worker factory*: a module-level function that loads its model
once and returns ``process(paths) -> [record, ...]``, one JSON-able record per path in order, each holding at least
``"path"`` and ``"error"`` (``None`` when the input was processed). The Reader's and the Transcriber's
``result.to_dict()`` are such records: the very objects ``ocr read --json`` and ``speech transcribe --format json``
print, bad inputs included (their one-line error, from :func:`common.inference.guard_input`).

A run::

    inputs (folder / glob / manifest) --collect_inputs--> sorted absolute paths
        --minus what the output folder already holds (resume)--> plan_shards: [(part-RRRR-NNNNNN, [paths])]
        --Ray Data: from_items -> map_batches(ShardWorker, ActorPoolStrategy) (one model load per actor)-->
        each actor writes its shard atomically (JSONL or Parquet) and returns a summary row to the driver

A stopped run (Ctrl-C, a lost node) is resumed by running the same command again: files recorded in a finished
shard are skipped; a shard is written whole or not at all (a temporary file, then a rename), so nothing is half
done. ``batch.json`` in the output folder keeps the task and its settings, and a resume with other settings is
refused (one folder, one consistent set of results); a second run into a folder while one runs is refused too.
A setting that fails in a worker (a missing model file) comes back to the driver as the toolkit's own error.

Ray is imported only inside :func:`run_on_ray` (and :func:`local_cluster`, which starts a real multi-node cluster on
this machine for tests and benchmarks); ``--local`` runs the same shards in this process without Ray.
"""

import contextlib
import dataclasses
import glob
import json
import math
import os
import re
import sys
import time
from pathlib import Path

from common.errors import ConfigError, DataError, ToolkitError
from common.limits import check_count

__all__ = ["SCALE_INSTALL_HINT", "SHARD_FORMATS", "SETTINGS_FILE", "collect_inputs", "check_run_settings",
           "read_records", "load_results", "plan_shards", "write_shard", "ShardWorker", "BatchReport",
           "run_batch", "run_locally", "run_on_ray", "import_ray", "local_cluster"]

SCALE_INSTALL_HINT = "pip install 'ctc-toolkit[scale]'"
SHARD_FORMATS = ("jsonl", "parquet")
SETTINGS_FILE = "batch.json"
_SHARD_NAME = re.compile(r"^part-(\d{4,})-(\d{6,})\.(jsonl|parquet)$")
_GLOB_CHARS = set("*?[")
_MANIFEST_SUFFIXES = (".tsv", ".csv", ".jsonl", ".json", ".ndjson")
ACTOR_START_TIMEOUT_S = 600
"""How long a Ray run waits for its workers to start and load their model before it gives up."""


# --- inputs -------------------------------------------------------------------------------------------------------

def _manifest_paths(path, source_keys, what):
    """The input files a manifest names (its text column, if any, is ignored). Rows naming missing files are kept:
    each becomes that file's error in the results, as on the command line; malformed rows stop the run."""
    from common.manifest import read_manifest

    # A batch manifest may list only files: its source column doubles as the (unused) text column.
    rows, problems = read_manifest(path, source_keys=source_keys, text_keys=("text",) + tuple(source_keys),
                                   allow_empty_text=True, source_name=what)
    missing = [(line, Path(written).expanduser()) for line, written in problems.missing]
    problems.missing = []
    problems.raise_if_any()
    paths = {row.line: row.source for row in rows}
    paths.update({line: p if p.is_absolute() else Path(path).parent / p for line, p in missing})
    return [paths[line] for line in sorted(paths)]


def collect_inputs(specs, *, suffixes, source_keys=("path", "file"), what="input"):
    """The input files of a batch run, as sorted-within-each-spec absolute paths without repeats.

    Args:
        specs: folders (searched recursively for files ending in ``suffixes``), glob patterns (``"scans/**/*.png"``,
            every file they match), manifests (``.tsv``, ``.csv``, ``.jsonl``: the files of their ``source_keys``
            column) and files. A file that does not exist is kept: the run records its error, as the CLI does.
        suffixes: file suffixes of the task's inputs (lower case, with the dot), for folders.
        source_keys: names of a manifest's file column, in order of preference.
        what: what an input is, in messages (``"image"``, ``"audio"``).

    Raises:
        ConfigError: nothing to do (no spec, an empty folder, a glob that matches no file).
        DataError: a manifest that cannot be read or has malformed rows.
    """
    if isinstance(specs, (str, os.PathLike)):
        specs = [specs]
    specs = [os.fspath(spec) for spec in specs]
    if not specs:
        raise ConfigError(f"Expected at least one folder, glob or manifest of {what} files. Received: inputs=[]")
    suffixes = tuple(s.lower() for s in suffixes)
    found = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_dir():
            files = sorted(Path(root) / name for root, _, names in os.walk(path) for name in names
                           if Path(name).suffix.lower() in suffixes and not name.startswith("."))
            if not files:
                raise ConfigError(f"{spec}: the folder holds no {what} files (searched for "
                                  f"{', '.join(suffixes)}, in subfolders too). Received: input={spec!r}")
            found += files
        elif not path.exists() and _GLOB_CHARS & set(spec):
            files = sorted(Path(p) for p in glob.glob(os.path.expanduser(spec), recursive=True) if Path(p).is_file())
            if not files:
                raise ConfigError(f"{spec}: the pattern matches no file; check it (quote it, so that the shell "
                                  f"does not expand it). Received: input={spec!r}")
            found += files
        elif path.is_file() and path.suffix.lower() in _MANIFEST_SUFFIXES and path.suffix.lower() not in suffixes:
            found += _manifest_paths(path, source_keys, what)
        else:
            found.append(path)
    seen, paths = set(), []
    for path in found:
        absolute = os.path.abspath(path)
        if absolute not in seen:
            seen.add(absolute)
            paths.append(absolute)
    return paths


# --- the output folder ----------------------------------------------------------------------------------------------

def check_run_settings(output_dir, *, task, settings):
    """Record ``{"task", "settings"}`` in ``output_dir/batch.json`` for a new run, or check that a resumed run has
    the same: results made with another model or other decoding options must not be mixed in one folder.

    Raises:
        ConfigError: ``output_dir`` is a file, or holds a run of another task or with other settings.
    """
    from common.model_file import atomic_write

    folder = Path(output_dir)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder}: --output-dir must be a folder, and this is a file. "
                          f"Received: output_dir={str(folder)!r}")
    wanted = {"task": task, "settings": settings}
    record = folder / SETTINGS_FILE
    if record.is_file() and _shards(folder):  # (a run that wrote no shard yet binds nothing: its settings go)
        try:
            stored = json.loads(record.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ConfigError(f"{record}: cannot read the settings of the run in this folder ({error}); choose "
                              f"another --output-dir. Received: output_dir={str(folder)!r}") from None
        if stored != wanted:
            stored_settings = stored.get("settings", {}) if isinstance(stored, dict) else {}
            differ = sorted(k for k in set(stored_settings) | set(settings)
                            if stored_settings.get(k) != settings.get(k))
            what = (f"a {stored.get('task')!r} run" if isinstance(stored, dict) and stored.get("task") != task
                    else f"a run with other settings ({', '.join(differ)})")
            raise ConfigError(f"{folder}: holds {what}; resume it with the same command, or choose another "
                              f"--output-dir. Received: {', '.join(f'{k}={settings.get(k)!r}' for k in differ)}")
        return
    if _shards(folder) and not record.is_file():
        raise ConfigError(f"{folder}: holds result shards but no {SETTINGS_FILE}; choose another --output-dir. "
                          f"Received: output_dir={str(folder)!r}")
    text = json.dumps(wanted, indent=2, sort_keys=True) + "\n"
    atomic_write(record, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def _shards(output_dir):
    """``(run, index, path)`` of every finished shard in ``output_dir``, in the order they were planned."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _SHARD_NAME.match(path.name)
        if match:
            found.append((int(match.group(1)), int(match.group(2)), path))
    return sorted(found)


def _parquet():
    try:
        import pyarrow
        import pyarrow.parquet
    except ModuleNotFoundError:
        raise ConfigError(f"Parquet shards need pyarrow, which is not installed; install it with "
                          f"{SCALE_INSTALL_HINT}, or use --shard-format jsonl. Received: shard_format='parquet'") \
            from None
    return pyarrow, pyarrow.parquet


def read_records(output_dir):
    """Every record of every finished shard in ``output_dir``, shard by shard in the order they were planned.

    Raises:
        DataError: a shard cannot be read (edited or damaged by hand: shards are written whole or not at all).
    """
    for _, _, path in _shards(output_dir):
        try:
            if path.suffix == ".parquet":
                _, parquet = _parquet()
                for row in parquet.read_table(path).to_pylist():
                    yield json.loads(row["record"])
            else:
                with open(path, encoding="utf-8") as handle:
                    for line in handle:
                        if line.strip():
                            yield json.loads(line)
        except (OSError, ValueError) as error:  # json.JSONDecodeError and pyarrow's ArrowInvalid are ValueErrors
            raise DataError(f"{path}: cannot read this result shard ({error}); delete it, and the next run redoes "
                            f"its files. Received: shard={path.name!r}") from None


def load_results(output_dir):
    """The results of a batch run: ``{path: record}``, the latest record of each input (a file that failed and was
    retried with ``--retry-failed`` has its newer record)."""
    return {record["path"]: record for record in read_records(output_dir)}


def _next_run(output_dir):
    return max((run for run, _, _ in _shards(output_dir)), default=0) + 1


def plan_shards(paths, *, done=(), files_per_shard, run=1):
    """Split the inputs not in ``done`` into shards: ``[(name, [path, ...]), ...]``, in input order.

    Names are ``part-RRRR-NNNNNN`` (run number, shard number), so that a resumed run adds new shards beside the
    old ones and never overwrites them.
    """
    files_per_shard = check_count("files_per_shard", files_per_shard, flag="--files-per-shard")
    done = set(done)
    todo = [path for path in paths if path not in done]
    return [(f"part-{run:04d}-{index:06d}", todo[first:first + files_per_shard])
            for index, first in enumerate(range(0, len(todo), files_per_shard))]


def write_shard(output_dir, name, records, *, shard_format="jsonl"):
    """Write one shard atomically (a temporary file beside it, then a rename); returns its path.

    JSONL: one record per line. Parquet: columns ``path``, ``text``, ``error`` and ``record`` (the whole record as
    JSON, since the tasks' records nest differently).
    """
    from common.model_file import atomic_write

    if shard_format not in SHARD_FORMATS:
        raise ConfigError(f"shard_format must be one of {SHARD_FORMATS}. Received: shard_format={shard_format!r}")
    path = Path(output_dir) / f"{name}.{shard_format}"
    if shard_format == "jsonl":
        text = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
        return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8")) or path
    pyarrow, parquet = _parquet()
    table = pyarrow.table({
        "path": [r["path"] for r in records],
        "text": [r.get("text", "") for r in records],
        "error": [r.get("error") for r in records],
        "record": [json.dumps(r, ensure_ascii=False) for r in records],
    }, schema=pyarrow.schema([("path", pyarrow.string()), ("text", pyarrow.string()), ("error", pyarrow.string()),
                              ("record", pyarrow.string())]))
    return atomic_write(path, lambda tmp: parquet.write_table(table, str(tmp))) or path


# --- the workers ----------------------------------------------------------------------------------------------------

def _node_id():
    """The Ray node this runs on, or ``"local"`` outside Ray."""
    ray = sys.modules.get("ray")  # imported by Ray's worker processes; never imported here
    if ray is not None and ray.is_initialized():
        return ray.get_runtime_context().get_node_id()
    return "local"


class ShardWorker:
    """Loads a task's model once (``factory(**options)``) and turns shards of paths into shard files.

    Ray Data runs one per actor (:meth:`__call__` takes a batch of shards); :func:`run_locally` one in this
    process.
    """

    def __init__(self, factory, options, output_dir, shard_format="jsonl"):
        self.output_dir = str(output_dir)
        self.shard_format = shard_format
        self.node = _node_id()
        self.fatal = None
        try:
            self.process = factory(**options)
        except ToolkitError as error:  # a setting of the whole run (a missing model...): the driver reports it
            self.fatal = error

    def run(self, name, paths):
        """Process one shard and write it; returns its summary (``shard``, ``files``, ``failed``, ``errors`` as a
        JSON list, ``node``, ``seconds``)."""
        if self.fatal is not None:
            raise self.fatal
        start = time.perf_counter()
        records = list(self.process(list(paths)))
        if len(records) != len(paths) or any(r.get("path") != p for r, p in zip(records, paths)):
            raise RuntimeError(f"the worker returned {len(records)} records for {len(paths)} files, or not in their "
                               f"order; each record must carry its input's 'path'")
        write_shard(self.output_dir, name, records, shard_format=self.shard_format)
        errors = [r["error"] for r in records if r.get("error")]
        return {"shard": name, "files": len(records), "failed": len(errors), "errors": json.dumps(errors),
                "node": self.node, "seconds": time.perf_counter() - start, "fatal": ""}

    def __call__(self, batch):
        rows = []
        for name, paths in zip(batch["shard"], batch["paths"]):
            try:
                rows.append(self.run(str(name), json.loads(paths)))
            except ToolkitError as error:  # sent back as data: Ray would hand the driver a traceback instead
                rows.append({"shard": str(name), "files": 0, "failed": 0, "errors": "[]", "node": self.node,
                             "seconds": 0.0, "fatal": f"{type(error).__name__}:{error}"})
        return {key: [row[key] for row in rows] for key in rows[0]} if rows else {}


def _raise_fatal(summary):
    """Raise the error a worker sent back (``"TypeName:message"``) as the toolkit's error of that type."""
    import common.errors

    kind, _, message = str(summary.get("fatal") or "").partition(":")
    if kind:
        error_type = getattr(common.errors, kind, None)
        raise (error_type if isinstance(error_type, type) and issubclass(error_type, ToolkitError)
               else ToolkitError)(message)


@dataclasses.dataclass
class BatchReport:
    """What a run did: inputs in all, ``skipped`` (done by an earlier run), ``processed`` and ``failed`` now,
    the ``errors`` (one line each), the ``shards`` written, the Ray ``nodes`` that wrote them, wall ``seconds``."""

    total: int = 0
    skipped: int = 0
    processed: int = 0
    failed: int = 0
    errors: list = dataclasses.field(default_factory=list)
    shards: list = dataclasses.field(default_factory=list)
    nodes: dict = dataclasses.field(default_factory=dict)
    seconds: float = 0.0

    def add(self, summary):
        self.processed += int(summary["files"])
        self.failed += int(summary["failed"])
        self.errors += json.loads(summary["errors"])
        self.shards.append(str(summary["shard"]))
        node = str(summary["node"])
        self.nodes[node] = self.nodes.get(node, 0) + int(summary["files"])


def run_locally(shards, *, factory, options, output_dir, shard_format="jsonl", on_shard=None):
    """Run ``shards`` in this process with one model load (no Ray); yields each shard's summary."""
    worker = ShardWorker(factory, options, output_dir, shard_format)
    for name, paths in shards:
        summary = worker.run(name, paths)
        if on_shard is not None:
            on_shard(summary)
        yield summary


def import_ray():
    """``ray`` and ``ray.data``, or a :class:`~common.errors.ConfigError` naming the extra to install."""
    try:
        import ray
        import ray.data
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in ("ray", "pyarrow", "pandas"):
            raise
        raise ConfigError(f"batch runs on Ray Data, which is not installed (no module {error.name!r}); install it "
                          f"with {SCALE_INSTALL_HINT}, or pass --local to run in this process without Ray. "
                          f"Received: local=False") from None
    return ray, ray.data


def _package_root():
    """The folder the toolkit's packages are imported from, when it is a source checkout (not site-packages): Ray's
    workers get it on their path, so that they run the same code as the driver."""
    root = Path(__file__).resolve().parent.parent
    return None if root.name in ("site-packages", "dist-packages") else str(root)


def run_on_ray(shards, *, factory, options, output_dir, shard_format="jsonl", address=None, num_workers=None,
               cpus_per_worker=1.0, gpus_per_worker=None, verbose=False):
    """Run ``shards`` on a Ray cluster through Ray Data (an actor pool: one model load per actor); yields each
    shard's summary as it finishes.

    Args:
        address: the cluster (``"auto"``: the one started on this machine with ``ray start``; ``HOST:PORT``);
            ``None``: ``RAY_ADDRESS`` if set, else a Ray instance started in this process for this run.
        num_workers: actors in the pool (``None``: the cluster's CPUs / ``cpus_per_worker``, or its GPUs /
            ``gpus_per_worker``), at most one per shard.
        cpus_per_worker: CPUs Ray reserves for each actor.
        gpus_per_worker: GPUs per actor (``None``: 1 when the cluster has GPUs, else 0).
    """
    import logging

    ray, data = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        init = {"address": address, "logging_level": logging.INFO if verbose else logging.ERROR,
                "log_to_driver": verbose}
        root = _package_root()
        if root is not None:
            path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
            init["runtime_env"] = {"env_vars": {"PYTHONPATH": path}}
        if address is None and not os.environ.get("RAY_ADDRESS"):
            init["include_dashboard"] = False
        ray.init(**init)
    try:
        context = data.DataContext.get_current()
        context.enable_progress_bars = verbose
        # Start every worker (its model loaded) before the first shard goes out, so that the work spreads over all
        # of them from the start instead of going to whichever came up first.
        context.wait_for_min_actors_s = ACTOR_START_TIMEOUT_S
        logging.getLogger("ray.data").setLevel(logging.INFO if verbose else logging.ERROR)
        resources = ray.cluster_resources()
        if gpus_per_worker is None:
            gpus_per_worker = 1.0 if resources.get("GPU", 0) >= 1 else 0.0
        if num_workers is None:
            num_workers = (int(resources.get("GPU", 0) // gpus_per_worker) if gpus_per_worker
                           else int(resources.get("CPU", 1) // cpus_per_worker))
        num_workers = max(1, min(int(num_workers), len(shards)))
        for kind, each in (("CPU", cpus_per_worker), ("GPU", gpus_per_worker)):
            if each and num_workers * each > resources.get(kind, 0) + 1e-9:
                raise ConfigError(f"{num_workers} workers need {num_workers * each:g} {kind}s and the cluster has "
                                  f"{resources.get(kind, 0):g}; lower --workers or --{kind.lower()}s-per-worker, or "
                                  f"add nodes. Received: workers={num_workers}")
        items = [{"shard": name, "paths": json.dumps(paths)} for name, paths in shards]
        dataset = data.from_items(items, override_num_blocks=len(items))
        results = dataset.map_batches(
            ShardWorker, batch_size=1, compute=data.ActorPoolStrategy(size=num_workers),
            fn_constructor_kwargs={"factory": factory, "options": options, "output_dir": str(output_dir),
                                   "shard_format": shard_format},
            num_cpus=cpus_per_worker, num_gpus=gpus_per_worker or None)
        yield from results.iter_rows()
    finally:
        if started_here:
            ray.shutdown()


def run_batch(inputs, output_dir, *, task, factory, options, settings=None, address=None, local=False,
              num_workers=None, files_per_shard=100, shard_format="jsonl", retry_failed=False, cpus_per_worker=1.0,
              gpus_per_worker=None, verbose=False, on_shard=None):
    """Process ``inputs`` (absolute paths, e.g. from :func:`collect_inputs`) into shards in ``output_dir``,
    skipping those an earlier run of the same settings finished; returns a :class:`BatchReport`.

    Args:
        task: the task's name (recorded in ``batch.json``; another task's folder is refused).
        factory, options: the worker factory (a module-level function, so that Ray can send it) and its keyword
            arguments; ``factory(**options)`` loads the model once per worker.
        settings: what the results depend on (model, decoding options), recorded and checked on resume
            (default: ``options``).
        local: run in this process without Ray; else see :func:`run_on_ray` for ``address``, ``num_workers``,
            ``cpus_per_worker`` and ``gpus_per_worker``.
        files_per_shard: inputs per shard (the unit of work, of writing and of resuming).
        shard_format: ``"jsonl"`` or ``"parquet"``.
        retry_failed: process again the inputs that failed in an earlier run (their newer record wins in
            :func:`load_results`).
        on_shard: called with each shard's summary as it finishes (progress).
    """
    if shard_format not in SHARD_FORMATS:
        raise ConfigError(f"shard_format must be one of {SHARD_FORMATS}. Received: shard_format={shard_format!r}")
    if shard_format == "parquet":
        _parquet()
    files_per_shard = check_count("files_per_shard", files_per_shard, flag="--files-per-shard")
    for name, value, least in (("cpus_per_worker", cpus_per_worker, "> 0"),
                               ("gpus_per_worker", gpus_per_worker, ">= 0")):
        if value is not None and not (0 < value < math.inf if least == "> 0" else 0 <= value < math.inf):
            raise ConfigError(f"Received an invalid value for `{name}` (--{name.replace('_', '-')}), expected a "
                              f"number {least}. Received: {name}={value!r}")
    from common.model_file import lock_folder

    output_dir = os.path.abspath(output_dir)  # Ray's workers do not run in this folder
    if os.path.exists(output_dir) and not os.path.isdir(output_dir):
        raise ConfigError(f"{output_dir}: --output-dir must be a folder, and this is a file. "
                          f"Received: output_dir={output_dir!r}")
    start = time.perf_counter()
    # One run per folder at a time: two would plan the same shard names and do the same files twice.
    with lock_folder(output_dir, what="batch run", option="--output-dir"):
        check_run_settings(output_dir, task=task, settings=options if settings is None else settings)
        done = {path for path, record in load_results(output_dir).items()
                if not (retry_failed and record.get("error"))}
        shards = plan_shards(inputs, done=done, files_per_shard=files_per_shard, run=_next_run(output_dir))
        report = BatchReport(total=len(inputs), skipped=sum(1 for path in inputs if path in done))
        if shards:
            if local:
                summaries = run_locally(shards, factory=factory, options=options, output_dir=output_dir,
                                        shard_format=shard_format)
            else:
                summaries = run_on_ray(shards, factory=factory, options=options, output_dir=output_dir,
                                       shard_format=shard_format, address=address, num_workers=num_workers,
                                       cpus_per_worker=cpus_per_worker, gpus_per_worker=gpus_per_worker,
                                       verbose=verbose)
            for summary in summaries:
                _raise_fatal(summary)
                report.add(summary)
                if on_shard is not None:
                    on_shard(summary, report, len(shards))
    report.seconds = time.perf_counter() - start
    return report


def _ray_command():
    """The ``ray`` command of the Ray installed beside this Python (a venv's ``bin/ray``), else the one on PATH."""
    import shutil

    beside = Path(sys.executable).parent / "ray"
    found = str(beside) if beside.is_file() else shutil.which("ray")
    if found is None:
        import_ray()  # the one-line message naming the extra, when Ray is missing altogether
        raise ConfigError(f"the 'ray' command is not on PATH (Ray is importable, its scripts are not installed); "
                          f"reinstall it with {SCALE_INSTALL_HINT}. Received: ray=None")
    return found


def _free_port():
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def local_cluster(num_nodes=2, *, cpus_per_node=1, temp_dir=None, timeout=180):
    """Start a real Ray cluster of ``num_nodes`` nodes on this machine (``ray start --head``, then ``ray start
    --address`` for each other node, all on 127.0.0.1), yield its address, and ``ray stop`` it afterwards, even on
    failure. For tests, benchmarks and trying a cluster out; on real machines run the same two commands on each.

    Each node has ``cpus_per_node`` CPUs and its own custom resource ``node_<i>`` (1). The cluster uses token
    authentication: ``RAY_AUTH_TOKEN`` when set, else a fresh token, set in this process's environment (with
    ``RAY_AUTH_MODE=token``) for the length of the block, so that drivers started here or by child processes can
    connect. Ray reads both when it is imported: a process that imports Ray itself (rather than leaving the work
    to child processes) must set ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN`` before that.

    ``ray stop`` stops every Ray process of this machine's user: do not use it beside another Ray cluster.
    """
    import secrets
    import subprocess
    import tempfile

    ray = _ray_command()
    saved = {key: os.environ.get(key) for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_USAGE_STATS_ENABLED",
                                                  "RAY_ADDRESS")}
    # Ray reads the token when it is imported: a process that did so keeps talking with the token it set then.
    token = os.environ.get("RAY_AUTH_TOKEN") or secrets.token_hex(16)
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token, RAY_USAGE_STATS_ENABLED="0")
    os.environ.pop("RAY_ADDRESS", None)
    folder = tempfile.mkdtemp(prefix="ctc-ray-") if temp_dir is None else str(temp_dir)
    port = _free_port()
    address = f"127.0.0.1:{port}"

    def start(arguments, node):
        command = [ray, "start", "--node-ip-address", "127.0.0.1", "--num-cpus", str(cpus_per_node),
                   "--resources", json.dumps({f"node_{node}": 1}), "--disable-usage-stats", *arguments]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
            raise RuntimeError(f"'ray start' of node {node} failed with status {done.returncode}: {tail}")

    try:
        start(["--head", "--port", str(port), "--temp-dir", folder, "--include-dashboard", "false"], 0)
        for node in range(1, num_nodes):
            start(["--address", address], node)
        yield address
    finally:
        subprocess.run([ray, "stop"], capture_output=True, timeout=timeout)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if temp_dir is None:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
