"""Our OCR Reader against Tesseract 5 (LSTM engine, through tesserocr) on printed text lines.

    python benchmarks/ocr_vs_tesseract.py                      # 300 lines, shipped model, held-out fonts
    python benchmarks/ocr_vs_tesseract.py --lines 20 --model runs/ocr_default/model.keras

Renders ``--lines`` lines (text from ``common.corpus.TextPool``, cycling through its kinds of text: prose, names,
numbers, prices, dates, codes, ...; sizes 18-48 px like the training data) in the fonts the default model's recipe
held out (``runs/ocr_default/fonts.json``, "validation"), each twice: clean, and degraded with
``ocr.synth.degrade_line``. Both systems read the same PNG files. Our Reader reads all lines in one call (batch)
and one line per call; Tesseract runs in-process (tesserocr, ``PSM.SINGLE_LINE``, ``OEM.LSTM_ONLY``) in a
child process with one thread (``OMP_THREAD_LIMIT=1``) and in another with OpenMP's default thread count.
Speeds are steady-state (after one warm-up line) and include reading the PNG file. Texts are compared after
``fold_text`` (NFKC, typographic quotes and dashes to ASCII, whitespace collapsed) on both sides.
"""

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (ROOT, fold_text, markdown_table, print_header, run_json_worker,  # noqa: E402
                               set_tf_threads, stopwatch)

KIND_GROUPS = {  # rows of the per-kind table: groups of common.corpus.KINDS
    "prose, words": ("prose", "words"),
    "names, addresses": ("name", "address"),
    "numbers, prices, dates, phones": ("number", "price", "date", "phone"),
    "codes, web, punctuation": ("code", "web", "punctuation"),
}
INSTALL_TESSERACT = ("apt-get install tesseract-ocr tesseract-ocr-eng libtesseract-dev libleptonica-dev pkg-config "
                     "&& pip install --no-binary tesserocr tesserocr")
TESSDATA_GLOBS = ("/usr/share/tesseract-ocr/*/tessdata", "/usr/share/tessdata", "/usr/local/share/tessdata")


def held_out_fonts(fonts_json):
    """The validation fonts of the default OCR model's recipe (recomputed the recipe's way if the file is missing)."""
    if Path(fonts_json).is_file():
        return json.loads(Path(fonts_json).read_text())["validation"], f"held out in {fonts_json}"
    from ocr.synth import find_fonts
    from recipes.ocr_default import PRINTABLE, split_fonts

    fonts = [f for f in find_fonts(charset=PRINTABLE) if "hairline" not in Path(f).stem.lower()]
    return [str(f) for f in split_fonts(fonts, 7)[1]], "held out the recipe's way (every 7th family)"


def render_set(out_dir, num_lines, fonts, seed, max_chars):
    """Write ``clean/NNNN.png`` and ``degraded/NNNN.png`` (+ ``.gt.txt``); returns (texts, kinds)."""
    import cv2
    import numpy as np
    from common.corpus import KINDS, PRINTABLE_ASCII, TextPool
    from ocr.synth import degrade_line, render_line

    pool, texts, kinds = TextPool(seed), [], []
    for index in range(num_lines):
        rng = np.random.default_rng([seed, index])
        kind = KINDS[index % len(KINDS)]
        text = pool.line(rng, max_chars=max_chars, charset=PRINTABLE_ASCII, kind=kind)
        font, size = fonts[int(rng.integers(len(fonts)))], int(rng.integers(18, 49))
        clean = render_line(text, font, size=size, rng=rng, degrade=False)
        for name, image in (("clean", clean), ("degraded", degrade_line(clean, rng=rng, size=size))):
            (out_dir / name).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out_dir / name / f"{index:04d}.png"), image)
            (out_dir / name / f"{index:04d}.gt.txt").write_text(text, encoding="utf-8")
        texts.append(text)
        kinds.append(kind)
    return texts, kinds


def run_ours(reader, paths, beam_width):
    """Returns {mode: (texts, seconds)} for one call over all paths (batch) and one call per path (single)."""
    reader.read(paths[:64], beam_width=beam_width)  # warm-up: traces the network, first calls of the decoder
    with stopwatch() as batch:
        batch_texts = [r.text for r in reader.read(paths, beam_width=beam_width, layout="line")]
    single_texts = []
    with stopwatch() as single:
        for path in paths:
            single_texts.append(reader.read([path], beam_width=beam_width, layout="line")[0].text)
    return {"batch": (batch_texts, batch.seconds), "1 line/call": (single_texts, single.seconds)}


def tesseract_worker(paths_file, out_file):
    """Child process: read each PNG with Tesseract; writes {"texts", "seconds", "version"} as JSON."""
    import glob

    import tesserocr
    from PIL import Image

    paths = json.loads(Path(paths_file).read_text())
    kwargs = {}
    if "eng" not in tesserocr.get_languages()[1]:  # e.g. a binary wheel whose built-in tessdata path is empty
        found = [d for pattern in TESSDATA_GLOBS for d in sorted(glob.glob(pattern))
                 if Path(d, "eng.traineddata").is_file()]
        if not found:
            sys.exit(f"Tesseract has no English model (eng.traineddata); {INSTALL_TESSERACT}")
        kwargs["path"] = found[-1]
    with tesserocr.PyTessBaseAPI(lang="eng", psm=tesserocr.PSM.SINGLE_LINE, oem=tesserocr.OEM.LSTM_ONLY,
                                 **kwargs) as api:
        api.SetVariable("debug_file", "/dev/null")  # no "Invalid resolution 0 dpi" lines

        def read(path):
            with Image.open(path) as image:
                api.SetImage(image)
                return api.GetUTF8Text()

        read(paths[0])  # warm-up
        with stopwatch() as watch:
            texts = [read(p) for p in paths]
    version = tesserocr.tesseract_version().split()[1]
    Path(out_file).write_text(json.dumps({"texts": texts, "seconds": watch.seconds, "version": version}))


def run_tesseract(paths, threads, scratch):
    """Run :func:`tesseract_worker` in a child process; ``threads`` None = OpenMP's default."""
    env = dict(os.environ)
    env.pop("OMP_THREAD_LIMIT", None)
    if threads:
        env["OMP_THREAD_LIMIT"] = str(threads)
    result = run_json_worker(__file__, paths, scratch, f"tesseract-{threads or 'default'}.json", env)
    return result["texts"], result["seconds"], result["version"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="OCR model file (default: the shipped ocr/models/default.keras)")
    parser.add_argument("--lines", type=int, default=300, help="lines to render (each clean and degraded)")
    parser.add_argument("--max-chars", type=int, default=50, help="longest line, in characters")
    parser.add_argument("--fonts", nargs="+", help="font files to render with (default: the held-out fonts)")
    parser.add_argument("--fonts-json", default=str(ROOT / "runs" / "ocr_default" / "fonts.json"),
                        help="the recipe's font split, read when --fonts is not given")
    parser.add_argument("--seed", type=int, default=0, help="seed of the texts, fonts, sizes and degradations")
    parser.add_argument("--beam-width", type=int, default=1, help="our decoder: 1 greedy, more for beam search")
    parser.add_argument("--tf-threads", type=int, help="TensorFlow threads for our model (default: TF's own)")
    parser.add_argument("--work", help="keep the rendered lines here (default: a temporary folder, deleted)")
    parser.add_argument("--skip-tesseract", action="store_true", help="our rows only")
    parser.add_argument("--tesseract-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tesseract_worker:
        return tesseract_worker(*args.tesseract_worker)
    if args.lines < 1:
        parser.error(f"--lines must be a positive integer. Received: --lines={args.lines}")

    print_header("OCR: our Reader vs Tesseract 5", ("tensorflow", "keras", "tesserocr"))
    fonts, where = (args.fonts, "given with --fonts") if args.fonts else held_out_fonts(args.fonts_json)
    if not fonts:
        parser.error("no font to render with: pass --fonts FILE ... (e.g. /usr/share/fonts/truetype/dejavu/*.ttf)")
    print(f"{args.lines} lines x 2 sets, {len(fonts)} font(s) {where}; seed {args.seed}\n", flush=True)

    set_tf_threads(args.tf_threads)
    from common.metrics import cer, exact_rate
    from ocr import Reader

    reader = Reader.load(args.model)
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="ocr-bench-"))
    try:
        texts, kinds = render_set(work, args.lines, fonts, args.seed, args.max_chars)
        refs = [fold_text(t) for t in texts]
        outputs = {}  # (system, set) -> (texts, seconds)
        tesseract_problem = "--skip-tesseract" if args.skip_tesseract else (
            None if importlib.util.find_spec("tesserocr") else "tesserocr is not installed")
        for name in ("clean", "degraded"):
            paths = sorted((work / name).glob("*.png"))
            for mode, result in run_ours(reader, [str(p) for p in paths], args.beam_width).items():
                outputs[(f"ours ({mode})", name)] = result
            for threads in (1, None) if tesseract_problem is None else ():
                try:
                    hyp, seconds, version = run_tesseract(paths, threads, work)
                except RuntimeError as error:
                    tesseract_problem = f"Tesseract failed: {error}"
                    break
                label = f"Tesseract {version} LSTM ({'1 thread' if threads else 'default threads'})"
                outputs[(label, name)] = (hyp, seconds)
        if tesseract_problem and not args.skip_tesseract:
            print(f"No Tesseract rows ({tesseract_problem}). Install it with:\n    {INSTALL_TESSERACT}\n"
                  "(--no-binary builds against the system's Tesseract; PyPI's binary wheel bundles its own)\n")
        outputs = {key: value for key, value in outputs.items() if tesseract_problem is None or "ours" in key[0]}

        rows = []
        for (system, name), (hyp, seconds) in outputs.items():
            hyp = [fold_text(h) for h in hyp]
            rows.append([system, name, f"{cer(refs, hyp):.2%}", f"{exact_rate(refs, hyp):.1%}",
                         f"{len(hyp) / seconds:.1f}"])
        print(markdown_table(["system", "set", "CER", "exact lines", "lines/s"], rows))

        systems = [s for s, n in outputs if n == "clean" and "line/call" not in s and "default threads" not in s]
        headers = ["kind of text", "lines"] + [f"{s.split(' (')[0]} CER {n}" for n in ("clean", "degraded")
                                               for s in systems]
        rows = []
        for group, members in KIND_GROUPS.items():
            index = [i for i, k in enumerate(kinds) if k in members]
            if not index:
                continue
            row = [group, str(len(index))]
            for name in ("clean", "degraded"):
                for system in systems:
                    hyp = outputs[(system, name)][0]
                    row.append(f"{cer([refs[i] for i in index], [fold_text(hyp[i]) for i in index]):.2%}")
            rows.append(row)
        print("\nPer kind of text (batch / one-thread rows):\n")
        print(markdown_table(headers, rows))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
