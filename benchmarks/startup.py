"""Time to the first result of one-shot commands: ``ocr read one.png``, ``speech transcribe one.wav``, ``--help``.

Each command runs ``--runs`` times as a fresh process (what a user at the prompt waits for); the table gives the
median wall-clock time and the median CPU time (user + system) of the process and its children. On a loaded
machine the wall time grows and the CPU time does not, so both are printed. ``--root DIR`` runs the commands in
another checkout of this repository (e.g. an older commit, for a before/after comparison); ``--python`` picks the
interpreter. Tesseract's command line on the same image is timed as a reference when it is installed.

    .venv/bin/python benchmarks/startup.py                      # this checkout
    .venv/bin/python benchmarks/startup.py --root ../old --runs 5
"""

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, markdown_table, print_header  # noqa: E402


def commands(python):
    line, hello = "ocr/samples/line.png", "speech/samples/hello.wav"
    rows = [
        ("ocr --help", [python, "-m", "ocr", "--help"]),
        ("ocr read line.png", [python, "-m", "ocr", "read", line]),
        ("from ocr import Reader; Reader.load()", [python, "-c", "from ocr import Reader; Reader.load()"]),
        ("speech --help", [python, "-m", "speech", "--help"]),
        ("speech transcribe hello.wav (4.4 s)", [python, "-m", "speech", "transcribe", hello]),
        ("from speech import Transcriber; Transcriber.load()",
         [python, "-c", "from speech import Transcriber; Transcriber.load()"]),
    ]
    if shutil.which("tesseract"):
        rows.append(("tesseract line.png - (reference)", ["tesseract", line, "-"]))
    return rows


def time_command(argv, cwd, runs):
    """Median wall and CPU seconds of ``runs`` fresh runs that succeeded, the last one's output, and the number of
    runs that failed (they are run again, up to ``runs`` extra times, and reported)."""
    walls, cpus, output, failures = [], [], "", 0
    env = dict(os.environ, OMP_THREAD_LIMIT="1")  # Tesseract: one thread was 3x faster on 2 cores (FACTS.md)
    while len(walls) < runs and failures <= runs:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            failures += 1
            print(f"{' '.join(argv)} failed in {cwd}:\n{done.stderr.strip().splitlines()[-1]}", file=sys.stderr)
            continue
        walls.append(wall)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
        output = done.stdout.strip().splitlines()[0] if done.stdout.strip() else ""
    if not walls:
        raise SystemExit(f"{' '.join(argv)} failed {failures} times in {cwd}")
    return statistics.median(walls), statistics.median(cpus), output, failures


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(ROOT), help="checkout to run the commands in (default: this one)")
    parser.add_argument("--python", default=sys.executable, help="interpreter (default: this one)")
    parser.add_argument("--runs", type=int, default=5, help="runs per command; the median is printed (5)")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    print_header("Start-up: time to the first result of one-shot commands", packages=("onnxruntime", "tensorflow"))
    commit = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h %s"], capture_output=True, text=True)
    print(f"checkout: {root} at {commit.stdout.strip() or 'unknown commit'}; {args.runs} runs per command\n")
    rows = []
    for name, command in commands(args.python):
        wall, cpu, output, failures = time_command(command, root, args.runs)
        rows.append((name, f"{wall:.2f}", f"{cpu:.2f}", failures, output[:48]))
        print(f"  {name}: {wall:.2f} s", file=sys.stderr, flush=True)
    print(markdown_table(["command", "wall s (median)", "CPU s (median)", "failed runs", "first line of output"],
                         rows))


if __name__ == "__main__":
    main()
