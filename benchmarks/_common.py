"""Helpers shared by the benchmark scripts: timing, markdown tables, a description of the machine.

Importing this module is cheap (no TensorFlow), so that ``--help`` stays instant and so that the Tesseract worker
process of ``ocr_vs_tesseract.py`` never loads TensorFlow.
"""

import contextlib
import datetime
import functools
import json
import os
import platform
import shlex
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

__all__ = ["ROOT", "Stopwatch", "stopwatch", "run_json_worker", "markdown_table", "describe_machine", "print_header",
           "fold_text", "set_tf_threads", "package_version", "use_keras_kernels"]

ROOT = Path(__file__).resolve().parents[1]

_FOLD = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
                       "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"',
                       "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-"})


class Stopwatch:
    """Elapsed wall-clock seconds of a ``with stopwatch() as watch:`` block, in ``watch.seconds``."""

    seconds = 0.0


@contextlib.contextmanager
def stopwatch():
    watch = Stopwatch()
    start = time.perf_counter()
    try:
        yield watch
    finally:
        watch.seconds = time.perf_counter() - start


def markdown_table(headers, rows):
    """A GitHub markdown table: text columns left-aligned, numeric ones right-aligned."""
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def numeric(i):
        return bool(cells) and all(r[i].replace(".", "", 1).replace("%", "").replace("-", "").strip().isdigit()
                                   or r[i] in ("", "n/a") for r in cells)

    right = [numeric(i) for i in range(len(headers))]
    line = lambda row: "| " + " | ".join(c.rjust(w) if r else c.ljust(w)  # noqa: E731
                                          for c, w, r in zip(row, widths, right)) + " |"
    rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, right)) + "|"
    return "\n".join([line(headers), rule] + [line(r) for r in cells])


def _cpu_model():
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.lower().startswith("model name"):
                return text.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gib():
    try:
        for text in Path("/proc/meminfo").read_text().splitlines():
            if text.startswith("MemTotal:"):
                return f"{int(text.split()[1]) / 2**20:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def package_version(name):
    """The installed version of a distribution (``tensorflow`` also finds ``tensorflow-cpu``), or "not installed"."""
    from importlib import metadata

    for candidate in (name, f"{name}-cpu") if name == "tensorflow" else (name,):
        try:
            return metadata.version(candidate)
        except metadata.PackageNotFoundError:
            pass
    return "not installed"


def describe_machine():
    """One line: date (UTC), CPU model, usable cores, memory, OS, Python."""
    from common.cpus import usable_cpus

    cores = usable_cpus()  # affinity, capped by a container's CPU quota
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{date}; CPU: {_cpu_model()}, {cores} usable core(s) of {os.cpu_count()}; RAM {_memory_gib()}; "
            f"load average {load}; {platform.system()} {platform.release()}; Python {platform.python_version()}")


def print_header(title, packages=()):
    """Print the title, the exact command line, the machine and the versions of ``packages``."""
    print(f"# {title}\n")
    print("command: `" + " ".join(shlex.quote(a) for a in [Path(sys.executable).name] + sys.argv) + "`  ")
    print(f"machine: {describe_machine()}  ")
    if packages:
        print("packages: " + ", ".join(f"{p} {package_version(p)}" for p in packages) + "  ")
    print(flush=True)


def fold_text(text):
    """Compatibility form for scoring: NFKC (ligatures, ellipsis), typographic quotes and dashes to ASCII,
    runs of whitespace to one space, no leading or trailing space. Applied alike to references and outputs."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD)
    return " ".join(text.split())


def set_tf_threads(num_threads):
    """Limit TensorFlow to ``num_threads`` threads per op and one op at a time (None: TensorFlow's default).
    Must run before TensorFlow executes anything."""
    if num_threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(int(num_threads))
        tf.config.threading.set_inter_op_parallelism_threads(1)


def run_json_worker(script, paths, scratch, out_name, env):
    """Run ``python SCRIPT --tesseract-worker PATHS.json OUT.json`` in a child process (its own OpenMP settings in
    ``env``) and return what it wrote to ``scratch/out_name`` as JSON; its last stderr line on failure."""
    paths_file, out_file = Path(scratch) / "paths.json", Path(scratch) / out_name
    paths_file.write_text(json.dumps([str(p) for p in paths]))
    done = subprocess.run([sys.executable, str(script), "--tesseract-worker", str(paths_file), str(out_file)], env=env,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}")
    return json.loads(out_file.read_text())


def use_keras_kernels(model):
    """Make ``model`` train as before December 2: Keras' LSTM loop and batch normalization, ReLU before pooling."""
    import keras

    for layer in model.encoder.recurrent_layers:
        for lstm in (layer.forward_layer, layer.backward_layer):
            lstm.inner_loop = functools.partial(keras.layers.LSTM.inner_loop, lstm)
    for block in model.frontend.blocks:
        for layer in block:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.call = functools.partial(keras.layers.BatchNormalization.call, layer)
        kinds = [type(layer).__name__ for layer in block]
        if kinds[-2:] == ["MaxPooling2D", "ReLU"]:
            block[-2], block[-1] = block[-1], block[-2]
