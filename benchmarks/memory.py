"""Memory of long runs with the shipped models: does resident memory stay flat over many inputs, and what does a
one-hour recording cost?

    python benchmarks/memory.py                                  # 10,000 lines, 500 files, a one-hour file
    python benchmarks/memory.py --lines 2000 --files 100 --hours 0.25
    python benchmarks/memory.py --only hour

Three parts, each in a fresh child process (so that one part's peak is not another's), with the shipped default
models (``--ocr-model`` / ``--speech-model`` choose others):

- OCR: ``--ocr-distinct`` lines rendered with ``ocr.synth.render_line`` (DejaVu Sans and other installed fonts,
  degraded) and saved as PNG, read ``--lines`` times in all, ``--every`` files per ``Reader.read`` call (one call
  is what ``ocr read`` does with that many files), the results dropped after each call.
- Speech: ``--speech-distinct`` WAV files cut from ``speech/samples/hello.wav`` (1 to 4.4 s, varied gain, some
  with leading silence), transcribed ``--files`` times in all, ``--every-files`` per ``Transcriber.transcribe``
  call.
- One long file: ``hello.wav`` repeated with 0.3-1.5 s silences between the copies, ``--hours`` long, written to a
  temporary 16-bit WAV in blocks; one ``Transcriber.transcribe`` call on it. The child reports its peak resident
  memory (``ru_maxrss``), its resident memory after loading the model, and the wall time.

Resident memory (``VmRSS`` from ``/proc/self/status``) is sampled after every call. The slope is a least-squares
line through the samples after the warm-up (the first ``--warmup-fraction`` of the items), in MB per 1,000 items:
flat memory means a slope near 0. Timings depend on what else runs on the machine.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, markdown_table, print_header  # noqa: E402

HELLO = ROOT / "speech" / "samples" / "hello.wav"
TEXTS = ["The quick brown fox jumps over the lazy dog.", "Invoice #2291 due 14 March 2025", "hello world",
         "Pack my box with five dozen liquor jugs!", "(212) 555-0199 ext. 42", "naive approaches fail; 3/4 pass",
         "Sphinx of black quartz, judge my vow.", "A", "total: $1,204.50", "e-mail: someone@example.org",
         "ROBUSTNESS SUITE", "line 7 of 10,000", "The End."]


def rss_mb():
    """Resident memory of this process now (MB), from /proc/self/status."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_rss_mb():
    """Peak resident memory of this process so far (MB); Linux reports ru_maxrss in KiB. (It is counted a little
    differently from VmRSS, so callers also take the largest sample.)"""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def slope_per_1000(samples, warmup_fraction):
    """Least-squares slope of RSS (MB) over items, per 1,000 items, using samples after the warm-up."""
    import numpy as np

    total = samples[-1][0]
    kept = [(n, mb) for n, _, mb in samples if n >= warmup_fraction * total]
    if len(kept) < 2:
        return float("nan")
    items, memory = np.array(kept, dtype=np.float64).T
    return float(np.polyfit(items, memory, 1)[0] * 1000.0)


def emit(record):
    print("RESULT " + json.dumps(record), flush=True)


# --- the parts, each run in a child process ----------------------------------------------------------------------


def run_and_sample(part, process, paths, *, total, every, start_rss):
    """Call ``process`` on ``total`` items cycling through ``paths``, ``every`` at a time, sampling RSS after each
    call; emit the part's record."""
    samples, done, failed = [], 0, 0
    started = time.perf_counter()
    while done < total:
        count = min(every, total - done)
        results = process([paths[(done + i) % len(paths)] for i in range(count)])
        failed += sum(not r.ok for r in results)
        del results
        done += count
        samples.append((done, time.perf_counter() - started, rss_mb()))
    emit({"part": part, "items": done, "failed": failed, "samples": samples, "start_rss": start_rss,
          "peak_rss": max(peak_rss_mb(), max(mb for _, _, mb in samples))})


def part_ocr(args, work):
    import numpy as np
    from PIL import Image

    from ocr.reader import Reader
    from ocr.synth import find_fonts, render_line

    rng = np.random.default_rng(args.seed)
    fonts = find_fonts()[:8] or [Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")]
    paths = []
    for index in range(args.ocr_distinct):
        text = TEXTS[index % len(TEXTS)]
        image = render_line(text, fonts[index % len(fonts)], size=int(rng.integers(20, 40)), rng=rng)
        path = work / f"line{index:03d}.png"
        Image.fromarray(image).save(path)
        paths.append(str(path))
    reader = Reader.load(args.ocr_model)
    start_rss = rss_mb()
    reader.read(paths[:64])  # warm-up: traces the model
    run_and_sample("ocr", lambda batch: reader.read(batch, layout="line"), paths, total=args.lines,
                   every=args.every, start_rss=start_rss)


def part_speech(args, work):
    import numpy as np
    import soundfile

    from speech.audio import SAMPLE_RATE, load_audio
    from speech.transcriber import Transcriber

    rng = np.random.default_rng(args.seed)
    hello = load_audio(HELLO)
    paths = []
    for index in range(args.speech_distinct):
        length = int(rng.uniform(1.0, hello.shape[0] / SAMPLE_RATE) * SAMPLE_RATE)
        start = int(rng.integers(0, hello.shape[0] - length + 1))
        clip = hello[start:start + length] * np.float32(rng.uniform(0.3, 1.0))
        if index % 3 == 0:
            clip = np.concatenate([np.zeros(int(rng.uniform(0.1, 1.0) * SAMPLE_RATE), np.float32), clip])
        path = work / f"clip{index:03d}.wav"
        soundfile.write(str(path), clip, SAMPLE_RATE, subtype="PCM_16")
        paths.append(str(path))
    transcriber = Transcriber.load(args.speech_model)
    start_rss = rss_mb()
    transcriber.transcribe(paths[:16])  # warm-up: traces the model
    run_and_sample("speech", transcriber.transcribe, paths, total=args.files, every=args.every_files,
                   start_rss=start_rss)


def write_long_file(path, hours, seed):
    """hello.wav, repeated with 0.3-1.5 s of silence between copies, ``hours`` long, written in blocks."""
    import numpy as np
    import soundfile

    from speech.audio import SAMPLE_RATE, load_audio

    rng = np.random.default_rng(seed)
    hello = np.round(load_audio(HELLO) * 32767).astype(np.int16)
    total, written = int(hours * 3600 * SAMPLE_RATE), 0
    with soundfile.SoundFile(str(path), "w", samplerate=SAMPLE_RATE, channels=1, subtype="PCM_16") as out:
        while written < total:
            silence = np.zeros(int(rng.uniform(0.3, 1.5) * SAMPLE_RATE), np.int16)
            block = np.concatenate([hello, silence])[: total - written]
            out.write(block)
            written += block.shape[0]
    return written / SAMPLE_RATE


def part_hour(args, work):
    from speech.transcriber import Transcriber

    path = Path(args.long_file)
    before_model = rss_mb()
    transcriber = Transcriber.load(args.speech_model)
    transcriber.transcribe([str(HELLO)])  # warm-up: traces the model
    after_model = rss_mb()
    started = time.perf_counter()
    [result] = transcriber.transcribe([str(path)])
    seconds = time.perf_counter() - started
    emit({"part": "hour", "ok": result.ok, "error": result.error, "duration": result.duration,
          "segments": len(result.segments), "words": len(result.words), "wall": seconds,
          "rss_before_model": before_model, "rss_after_model": after_model, "rss_after": rss_mb(),
          "peak_rss": peak_rss_mb(), "file_mb": path.stat().st_size / 2**20})


PARTS = {"ocr": part_ocr, "speech": part_speech, "hour": part_hour}


# --- the parent: runs the parts and prints the tables ------------------------------------------------------------


def run_child(args, part, extra=()):
    command = [sys.executable, str(Path(__file__).resolve()), "--part", part, *extra] + [
        f"--{name.replace('_', '-')}={getattr(args, name)}"
        for name in ("lines", "files", "every", "every_files", "ocr_distinct", "speech_distinct", "seed",
                     "ocr_model", "speech_model", "hours") if getattr(args, name) is not None]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    completed = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    records = [json.loads(line[7:]) for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    if completed.returncode != 0 or not records:
        raise SystemExit(f"the {part} part failed (exit status {completed.returncode})")
    return records[-1]


def print_samples(record, unit, warmup_fraction):
    samples = record["samples"]
    step = max(1, len(samples) // 20)
    shown = samples[step - 1::step] if len(samples) > 20 else samples
    rows = [[f"{n:,}", f"{t:.1f}", f"{mb:.1f}", f"{mb - samples[0][2]:+.1f}"] for n, t, mb in shown]
    print(markdown_table([unit, "seconds", "RSS MB", "vs first sample"], rows))
    slope = slope_per_1000(samples, warmup_fraction)
    rate = samples[-1][0] / samples[-1][1]
    print(f"\nslope after the first {warmup_fraction:.0%} of the {unit}: **{slope:+.2f} MB per 1,000 {unit}**; "
          f"RSS after loading the model {record['start_rss']:.0f} MB, at the end {samples[-1][2]:.0f} MB, peak "
          f"{record['peak_rss']:.0f} MB; {rate:.1f} {unit}/s; {record['failed']} failed.\n", flush=True)
    return slope


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=10_000, help="line images read in all (10,000)")
    parser.add_argument("--every", type=int, default=500, help="files per Reader.read call = per sample (500)")
    parser.add_argument("--ocr-distinct", type=int, default=40, help="distinct rendered lines on disk (40)")
    parser.add_argument("--files", type=int, default=500, help="short audio files transcribed in all (500)")
    parser.add_argument("--every-files", type=int, default=25, help="files per transcribe call = per sample (25)")
    parser.add_argument("--speech-distinct", type=int, default=25, help="distinct short WAV files on disk (25)")
    parser.add_argument("--hours", type=float, default=1.0, help="length of the long file (1 hour)")
    parser.add_argument("--warmup-fraction", type=float, default=0.2, help="share of items left out of the fit")
    parser.add_argument("--ocr-model", help="OCR model (default: the shipped one)")
    parser.add_argument("--speech-model", help="speech model (default: the shipped one)")
    parser.add_argument("--only", choices=sorted(PARTS), action="append", help="run only this part (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--part", choices=sorted(PARTS), help=argparse.SUPPRESS)
    parser.add_argument("--long-file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.part:
        with tempfile.TemporaryDirectory(prefix="memory_bench_") as folder:
            PARTS[args.part](args, Path(folder))
        return 0

    print_header("Memory over long runs", packages=("tensorflow", "keras", "numpy", "pillow", "soundfile"))
    parts = args.only or ["ocr", "speech", "hour"]
    summary = []
    if "ocr" in parts:
        print(f"## OCR: {args.lines:,} line images, {args.every} per Reader.read call\n")
        record = run_child(args, "ocr")
        slope = print_samples(record, "lines", args.warmup_fraction)
        summary.append(["OCR read", f"{record['items']:,} lines", f"{record['start_rss']:.0f}",
                        f"{record['samples'][-1][2]:.0f}", f"{record['peak_rss']:.0f}", f"{slope:+.2f}"])
    if "speech" in parts:
        print(f"## Speech: {args.files:,} short files, {args.every_files} per Transcriber.transcribe call\n")
        record = run_child(args, "speech")
        slope = print_samples(record, "files", args.warmup_fraction)
        summary.append(["speech transcribe", f"{record['items']:,} files", f"{record['start_rss']:.0f}",
                        f"{record['samples'][-1][2]:.0f}", f"{record['peak_rss']:.0f}", f"{slope:+.2f}"])
    if "hour" in parts:
        with tempfile.TemporaryDirectory(prefix="memory_bench_") as folder:
            long_file = Path(folder) / "long.wav"
            seconds = write_long_file(long_file, args.hours, args.seed)
            print(f"## One long file: {seconds / 60:.0f} minutes ({long_file.stat().st_size / 2**20:.0f} MB of "
                  f"16-bit WAV)\n")
            record = run_child(args, "hour", ["--long-file", str(long_file)])
        rows = [["audio length (s)", f"{record['duration']:.0f}"],
                ["wall time (s)", f"{record['wall']:.1f}"],
                ["real-time factor", f"{record['wall'] / max(record['duration'], 1e-9):.4f}"],
                ["segments / words", f"{record['segments']} / {record['words']}"],
                ["RSS before loading the model (MB)", f"{record['rss_before_model']:.0f}"],
                ["RSS after loading + warm-up (MB)", f"{record['rss_after_model']:.0f}"],
                ["RSS after the call (MB)", f"{record['rss_after']:.0f}"],
                ["peak RSS, ru_maxrss (MB)", f"{record['peak_rss']:.0f}"],
                ["peak above the loaded model (MB)", f"{record['peak_rss'] - record['rss_after_model']:.0f}"]]
        print(markdown_table(["one long file", "value"], rows))
        print("" if record["ok"] else f"\nerror: {record['error']}")
        summary.append([f"one {args.hours:g}-hour file", f"{record['duration'] / 60:.0f} min",
                        f"{record['rss_after_model']:.0f}", f"{record['rss_after']:.0f}", f"{record['peak_rss']:.0f}",
                        "n/a"])
    print("\n## Summary\n")
    print(markdown_table(["run", "size", "RSS after model (MB)", "RSS at end (MB)", "peak RSS (MB)",
                          "slope (MB / 1,000 items)"], summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
