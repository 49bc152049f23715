"""Batch runs on Ray: files/s on a one-node and a two-node cluster, against the plain command line, same text.

    python benchmarks/scale_batch.py                        # 400 rendered lines, 200 audio files; results_scale.md
    python benchmarks/scale_batch.py --images 100 --audio 50 --files-per-shard 10

Needs the ``scale`` extra (Ray Data). For each task:

- plain: ``ocr read --json FILES`` / ``speech transcribe --format json FILES`` in one child process (start-up
  included), the reference text of every file;
- 1 node / 2 nodes: a real Ray cluster on this machine (:func:`common.scale.local_cluster`: ``ray start --head``,
  then ``ray start --address`` for the second node, each node 1 CPU, all on 127.0.0.1), then the batch run
  (:func:`common.scale.run_batch`, one worker per node, ``--files-per-shard``) into a fresh folder.

Reported: wall seconds of the run (connecting, starting the workers and loading one model per worker included)
and files/s over it; files/s of busy workers (the files over the busiest worker's time on its shards: reading,
the model, writing; start-up, model loads and Ray's scheduling left out); files per node; and how many files got
exactly the plain command line's text (and error). Cluster start-up (``ray start``)
is timed apart and not in the files/s.

Images: lines rendered by :func:`ocr.synth.synthesize_dataset` (seeded). Audio: the Asterisk prompts
(``/usr/share/asterisk/sounds/en_US_f_Allison``, Debian asterisk-core-sounds-en-wav) when installed, else slices of
``speech/samples/hello.wav``; or ``--audio-dir``.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, markdown_table, print_header  # noqa: E402

ASTERISK = Path("/usr/share/asterisk/sounds/en_US_f_Allison")


def make_images(folder, count, seed):
    from ocr.synth import synthesize_dataset

    synthesize_dataset(folder, count, seed=seed)
    return sorted(str(p) for p in Path(folder).rglob("*.png"))


def make_audio(folder, count, audio_dir):
    import numpy as np
    import soundfile

    source = Path(audio_dir) if audio_dir else ASTERISK
    if source.is_dir():
        found = sorted(p for p in source.rglob("*.wav"))[:count]
        if found:
            return [str(p) for p in found], f"{len(found)} WAV files from {source}"
    samples, rate = soundfile.read(ROOT / "speech/samples/hello.wav")
    Path(folder).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    paths = []
    for index in range(count):
        start = int(rng.uniform(0, 1.5) * rate)
        end = len(samples) - int(rng.uniform(0, 1.5) * rate)
        path = Path(folder) / f"hello{index:04d}.wav"
        soundfile.write(path, samples[start:end], rate)
        paths.append(str(path))
    return paths, f"{count} slices of speech/samples/hello.wav"


def plain_cli(task, files):
    """Run the plain command once over ``files``; returns ({path: record}, seconds)."""
    command = [sys.executable, "-m", task, "read" if task == "ocr" else "transcribe", *files,
               *(["--json"] if task == "ocr" else ["--format", "json"])]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode not in (0, 1) and not done.stdout:
        raise RuntimeError(f"{' '.join(command[:4])} ... failed: {done.stderr.strip().splitlines()[-1:]}")
    return {r["path"]: r for r in map(json.loads, done.stdout.splitlines())}, seconds


def batch_run(task, files, address, workers, files_per_shard, out):
    """One batch run on the cluster at ``address``; returns its figures."""
    from common.quiet import quiet_native_stderr
    from common.scale import load_results, run_batch

    if task == "ocr":
        from ocr.batch import reader_worker as factory
    else:
        from speech.batch import transcriber_worker as factory
    busy = {}  # node -> seconds its worker spent on shards (reading files, the model, writing the shard)

    def on_shard(summary, report, num_shards):
        busy[str(summary["node"])] = busy.get(str(summary["node"]), 0.0) + float(summary["seconds"])

    start = time.perf_counter()
    with quiet_native_stderr():
        report = run_batch(files, out, task=task, factory=factory, options={}, address=address,
                           num_workers=workers, files_per_shard=files_per_shard, on_shard=on_shard)
    wall = time.perf_counter() - start  # (run_batch disconnected from the cluster at its end)
    # The rate once the workers are up: files over the busiest worker's time on shards (start-up, model loads and
    # Ray's scheduling left out).
    steady = report.processed / max(busy.values()) if busy and max(busy.values()) > 0 else float("nan")
    return {"report": report, "wall": wall, "steady": steady, "results": load_results(out)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=400, help="rendered lines (default 400)")
    parser.add_argument("--audio", type=int, default=200, help="audio files (default 200)")
    parser.add_argument("--audio-dir", help="folder of WAV files (default: the Asterisk prompts when installed)")
    parser.add_argument("--files-per-shard", type=int, default=20)
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 2], help="cluster sizes (default 1 2)")
    parser.add_argument("--only", choices=("ocr", "speech"))
    parser.add_argument("--work", help="keep the data here (default: a temporary folder)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    import os
    import secrets

    from common.scale import import_ray, local_cluster

    # One token for every cluster this process starts and joins (Ray reads these when it is imported).
    os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(16))
    os.environ["RAY_AUTH_MODE"] = "token"
    import_ray()
    print_header("Batch runs on a Ray cluster: one node against two, the same text as the command line",
                 packages=("ray", "onnxruntime"))
    work = Path(args.work or tempfile.mkdtemp(prefix="scale-bench-"))
    tasks = [t for t in ("ocr", "speech") if args.only in (None, t)]
    data = {}
    if "ocr" in tasks:
        data["ocr"] = (make_images(work / "images", args.images, args.seed), f"{args.images} rendered lines")
    if "speech" in tasks:
        data["speech"] = make_audio(work / "audio", args.audio, args.audio_dir)
    rows, starts, reference = [], [], {}
    for task in tasks:
        files, description = data[task]
        reference[task], seconds = plain_cli(task, files)
        rows.append([task, "plain CLI (1 process)", len(files), f"{seconds:.1f}", f"{len(files) / seconds:.1f}",
                     "n/a", "-", f"{len(files)}/{len(files)}"])
        print(f"{task}: {description}; plain CLI {seconds:.1f} s", file=sys.stderr, flush=True)
    for nodes in args.nodes:
        start = time.perf_counter()
        with local_cluster(nodes, cpus_per_node=1, temp_dir=None) as address:
            starts.append((nodes, time.perf_counter() - start))
            for task in tasks:
                files, _ = data[task]
                out = work / f"out-{task}-{nodes}"
                figures = batch_run(task, files, address, nodes, args.files_per_shard, out)
                expected = reference[task]
                same = sum(1 for f in files if f in figures["results"] and f in expected
                           and figures["results"][f]["text"] == expected[f]["text"]
                           and figures["results"][f]["error"] == expected[f]["error"])
                nodes_used = figures["report"].nodes
                rows.append([task, f"Ray, {nodes} node(s), {nodes} worker(s)", len(files), f"{figures['wall']:.1f}",
                             f"{len(files) / figures['wall']:.1f}", f"{figures['steady']:.1f}",
                             " / ".join(str(v) for v in sorted(nodes_used.values(), reverse=True)),
                             f"{same}/{len(files)}"])
                print(f"{task}: {nodes} node(s) {figures['wall']:.1f} s", file=sys.stderr, flush=True)
    print(markdown_table(["task", "run", "files", "wall s", "files/s", "files/s of busy workers",
                          "files per node", "same text as CLI"], rows))
    print()
    print("Cluster start-up (`ray start` of every node, not in the figures above): "
          + ", ".join(f"{n} node(s) {s:.1f} s" for n, s in starts))
    print(f"\nData: " + "; ".join(f"{t}: {d[1]}" for t, d in data.items()) + f"; kept in {work}")


if __name__ == "__main__":
    sys.exit(main())
