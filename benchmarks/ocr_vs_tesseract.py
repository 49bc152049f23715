"""Our OCR Reader against Tesseract 5 (LSTM engine, through tesserocr) on held-out printed text lines, per slice.

    OMP_THREAD_LIMIT=1 python benchmarks/ocr_vs_tesseract.py                  # 100 lines per slice, shipped model
    python benchmarks/ocr_vs_tesseract.py --lines 20 --model runs/ocr_broad/model.keras
    python benchmarks/ocr_vs_tesseract.py --model ocr/models/default.onnx --model runs/ocr_s5/model.onnx  # 2 models

Everything is held out from training (``recipes/ocr_broad.py``, which also holds out what the shipped model never
saw):

- **fonts**: the held-out families of ``recipes/ocr_broad.split_fonts`` (drawn family first, then a font of it);
- **rasteriser**: every slice is drawn by Pillow/FreeType (what the shipped model trained on) and by Ghostscript
  (``ocr_broad.HELD_OUT_RASTERISER``, PostScript Type 1 twins where installed);
- **text** of three kinds: ``prose``: Moby-Dick chapters 61-135 (no training text or LM of this project reads
  Moby-Dick, and the recipes validate on chapters 1-60); ``technical``: lines of Debian changelogs (the first 400
  ``/usr/share/doc/*/changelog.Debian.gz`` in path order, so the lines depend on the installed packages: compare
  systems and models within one run; versions, e-mail addresses, dates, bug numbers, file names, code) and Perl's
  ``perldiag.pod`` (messages with ``%s``, ``$var``, ``->``, ``{}``): sources that training text must never come
  from, so evaluation only; ``numbers``: numbers, prices, dates, phone numbers and table rows of
  ``common.corpus.TextPool`` with this benchmark's own seed (generated: digits have no "source");
- **condition**: clean, or degraded by ``ocr.synth.degrade_line`` (random :data:`ocr.synth.DEGRADATIONS`).

That is 12 slices of ``--lines`` lines; both systems (and each ``--model``, when several are given) read the same
PNG files. Our Reader reads all lines in one call (batch) and one line per call; Tesseract runs in-process
(tesserocr, ``PSM.SINGLE_LINE``, ``OEM.LSTM_ONLY``) in a child process with one thread (``OMP_THREAD_LIMIT=1``),
one line per call (its only mode). Speeds are over all lines (after a warm-up) and include reading the PNG file.
Texts are compared after ``fold_text`` (NFKC, typographic quotes and dashes to ASCII, whitespace collapsed) on both
sides; references are printable ASCII.
"""

import argparse
import gzip
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (ROOT, fold_text, markdown_table, print_header, run_json_worker,  # noqa: E402
                               set_tf_threads, stopwatch)

TEXTS = ("prose", "technical", "numbers")
RASTERISERS = ("pillow", "ghostscript")
CONDITIONS = ("clean", "degraded")
NUMBER_KINDS = ("number", "price", "date", "phone", "table")
INSTALL_TESSERACT = ("apt-get install tesseract-ocr tesseract-ocr-eng libtesseract-dev libleptonica-dev pkg-config "
                     "&& pip install --no-binary tesserocr tesserocr")
TESSDATA_GLOBS = ("/usr/share/tesseract-ocr/*/tessdata", "/usr/share/tessdata", "/usr/local/share/tessdata")
PERLDIAG_GLOB = "/usr/share/perl/*/pod/perldiag.pod"
_TECHNICAL_MARK = re.compile(r"[()\[\]{}<>_=/\\@#$%&*|~`]|\d")


# --- held-out text ------------------------------------------------------------------------------------------------

def _window(words, rng, max_chars):
    """A run of whole words of at most ``max_chars`` characters starting at a random word."""
    start = int(rng.integers(len(words)))
    out = []
    for word in words[start:]:
        if len(" ".join(out + [word])) > max_chars:
            break
        out.append(word)
    return " ".join(out)


def _printable(line):
    from common.corpus import PRINTABLE_ASCII

    return line and all(c in PRINTABLE_ASCII for c in line)


def prose_lines(num_lines, rng, max_chars):
    """Lines of Moby-Dick chapters 61-135 (word windows of its sentences, printable ASCII)."""
    sys.path.insert(0, str(ROOT / "recipes"))
    from english_text import documents, split_sentences

    sentences = [s for chapter in documents("moby_dick")[60:] for s in split_sentences(chapter)
                 if len(s.split()) >= 4]
    lines = []
    while len(lines) < num_lines:
        line = _window(sentences[int(rng.integers(len(sentences)))].split(), rng, max_chars)
        if _printable(line) and len(line) >= 8:
            lines.append(line)
    return lines


def technical_lines(num_lines, rng, max_chars):
    """Lines of Debian changelogs and perldiag.pod that hold code-like characters (evaluation-only sources)."""
    import glob

    candidates = []
    for path in sorted(glob.glob("/usr/share/doc/*/changelog.Debian.gz"))[:400]:
        try:
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as changelog:
                candidates += [line.strip().lstrip("*+- ").strip() for line in changelog.read().splitlines()[:60]]
        except (OSError, EOFError):
            continue
    for path in sorted(glob.glob(PERLDIAG_GLOB))[:1]:
        candidates += [line.strip() for line in Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
                       if not line.startswith("=") or line.startswith("=item ")]
        candidates = [line[6:] if line.startswith("=item ") else line for line in candidates]
    candidates = sorted({" ".join(c.split()) for c in candidates
                         if _printable(" ".join(c.split())) and _TECHNICAL_MARK.search(c) and len(c.split()) >= 2})
    if not candidates:
        raise RuntimeError("no Debian changelogs or perldiag.pod on this machine to take technical lines from")
    lines = []
    while len(lines) < num_lines:
        words = candidates[int(rng.integers(len(candidates)))].split()
        line = " ".join(words) if len(" ".join(words)) <= max_chars else _window(words, rng, max_chars)
        if len(line) >= 6:
            lines.append(line)
    return lines


def number_lines(num_lines, rng, max_chars, seed):
    from common.corpus import PRINTABLE_ASCII, TextPool

    pool = TextPool(seed)
    return [pool.line(rng, min_chars=4, max_chars=max_chars, charset=PRINTABLE_ASCII,
                      kind=NUMBER_KINDS[i % len(NUMBER_KINDS)]) for i in range(num_lines)]


# --- rendering ----------------------------------------------------------------------------------------------------

def held_out_fonts():
    """The held-out fonts of ``recipes/ocr_broad.py``, grouped by family (file-name prefix)."""
    sys.path.insert(0, str(ROOT / "recipes"))
    from ocr_broad import NEW_HELD_OUT, SHIPPED_HELD_OUT, split_fonts

    fonts = split_fonts()[1]
    families = {}
    for font in fonts:
        prefix = next(p for p in SHIPPED_HELD_OUT + NEW_HELD_OUT if Path(font).name.startswith(p))
        families.setdefault(prefix, []).append(font)
    return families


def render_slices(out_dir, num_lines, families, seed, max_chars):
    """Write ``TEXT-RASTERISER-CONDITION/NNNN.png`` (+ ``.gt.txt``); returns {slice: (paths, texts)}."""
    import cv2
    from ocr.synth import can_render, degrade_line, render_line

    slices = {}
    for t, text_kind in enumerate(TEXTS):
        rng = np.random.default_rng([seed, t])
        if text_kind == "prose":
            texts = prose_lines(num_lines, rng, max_chars)
        elif text_kind == "technical":
            texts = technical_lines(num_lines, rng, max_chars)
        else:
            texts = number_lines(num_lines, rng, max_chars, seed)
        for r, rasteriser in enumerate(RASTERISERS):
            usable = {name: [f for f in fonts if can_render(rasteriser, f)] for name, fonts in families.items()}
            usable = {name: fonts for name, fonts in usable.items() if fonts}
            names = sorted(usable)
            for index, text in enumerate(texts):
                line_rng = np.random.default_rng([seed, t, r, index])
                family = usable[names[int(line_rng.integers(len(names)))]]
                font = family[int(line_rng.integers(len(family)))]
                dpi = int(line_rng.choice([150, 200, 300]))
                size = int(line_rng.integers(18, 49))
                clean = render_line(text, font, size=size, rng=line_rng, degrade=False, rasteriser=rasteriser,
                                    dpi=dpi)
                for condition, image in (("clean", clean), ("degraded", degrade_line(clean, rng=line_rng, size=size))):
                    folder = out_dir / f"{text_kind}-{rasteriser}-{condition}"
                    folder.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(folder / f"{index:04d}.png"), image)
                    (folder / f"{index:04d}.gt.txt").write_text(text, encoding="utf-8")
                    paths, refs = slices.setdefault((text_kind, rasteriser, condition), ([], []))
                    paths.append(str(folder / f"{index:04d}.png"))
                    refs.append(text)
    return slices


# --- the two systems ----------------------------------------------------------------------------------------------

def run_ours(reader, paths, beam_width):
    """Returns {mode: (texts, seconds)} for one call over all paths (batch) and one call per path (single)."""
    reader.read(paths[:64], beam_width=beam_width, layout="line")  # warm-up: first calls of the network, decoder
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


def run_tesseract(paths, scratch):
    """Run :func:`tesseract_worker` in a child process with one OpenMP thread."""
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    result = run_json_worker(__file__, paths, scratch, "tesseract-1.json", env)
    return result["texts"], result["seconds"], result["version"]


# --- report -------------------------------------------------------------------------------------------------------

def _scores(refs, hyps):
    """``(CER, exact-line rate, lines above 50% CER)`` of one system's lines, after ``fold_text``."""
    edits, chars = _line_errors(refs, hyps).T
    total = int(chars.sum())
    rate = edits.sum() / total if total else float(edits.sum() > 0)
    exact = float(np.mean(edits == 0)) if len(edits) else 0.0
    return rate, exact, int(np.sum(edits > 0.5 * chars))  # an empty reference: any character is over 50%


def report(slices, outputs, systems):
    """Markdown tables: per slice, per group of slices, and the worst lines of each system."""
    headers = ["text", "rasteriser", "condition", "lines"] + [f"{s} CER" for s in systems] + \
        [f"{s} exact" for s in systems] + [f"{s} lines >50% CER" for s in systems]
    rows = []
    for key, (paths, refs) in slices.items():
        scored = [_scores(refs, outputs[s][key]) for s in systems]
        rows.append(list(key) + [str(len(refs))] + [f"{c:.2%}" for c, _, _ in scored] +
                    [f"{e:.1%}" for _, e, _ in scored] + [str(b) for _, _, b in scored])
    text = [markdown_table(headers, rows)]
    groups = {"all clean": lambda k: k[2] == "clean", "all degraded": lambda k: k[2] == "degraded",
              "Pillow (trained rasteriser)": lambda k: k[1] == "pillow",
              "Ghostscript (held-out rasteriser)": lambda k: k[1] == "ghostscript"}
    groups.update({f"{t} (both rasterisers, both conditions)": (lambda t: lambda k: k[0] == t)(t) for t in TEXTS})
    groups["everything"] = lambda k: True
    rows = []
    for name, member in groups.items():
        keys = [k for k in slices if member(k)]
        refs = [r for k in keys for r in slices[k][1]]
        row = [name, str(len(refs))]
        for system in systems:
            hyps = [h for k in keys for h in outputs[system][k]]
            row.append(f"{_scores(refs, hyps)[0]:.2%}")
        rows.append(row)
    text.append("\nGroups of slices (CER):\n\n" + markdown_table(["slices", "lines"] + list(systems), rows))
    reference = next((s for s in systems if s.startswith("Tesseract")), None)
    if reference is not None:
        text.append(paired_table(slices, outputs, [s for s in systems if s != reference], reference))
    return "\n".join(text)


def _line_errors(refs, hyps):
    """Per line: (character edits, reference characters), after ``fold_text``."""
    from common.metrics import edit_distance

    pairs = [(fold_text(r), fold_text(h)) for r, h in zip(refs, hyps)]
    return np.array([[edit_distance(r, h), len(r)] for r, h in pairs], dtype=np.int64).reshape(-1, 2)


def paired_table(slices, outputs, systems, reference, *, resamples=2000, seed=0):
    """Per slice: each system's and ``reference``'s character errors (counts), and a paired bootstrap 95% interval
    of the CER difference (system minus reference; lines resampled with replacement, the same lines for both).

    With 100 lines of ~40 characters a slice holds ~4,000 characters: one character is ~0.025 points of CER, so a
    difference of a few characters is within what another draw of lines gives; the interval says how far.
    """
    rng = np.random.default_rng(seed)
    headers = ["text", "rasteriser", "condition"] + [f"{s} errors" for s in systems] + [f"{reference} errors"] + \
        [f"{s} minus {reference.split()[0]}, CER points (95% interval)" for s in systems]
    rows = []
    for key, (_, refs) in slices.items():
        base = _line_errors(refs, outputs[reference][key])
        picks = rng.integers(0, len(refs), size=(resamples, len(refs)))
        chars = base[:, 1][picks].sum(axis=1).clip(min=1)
        row, spans = list(key), []
        for system in systems:
            ours = _line_errors(refs, outputs[system][key])
            row.append(str(int(ours[:, 0].sum())))
            diff = (ours[:, 0] - base[:, 0])[picks].sum(axis=1) / chars * 100
            total = (ours[:, 0].sum() - base[:, 0].sum()) / max(1, base[:, 1].sum()) * 100
            low, high = np.percentile(diff, [2.5, 97.5])
            spans.append(f"{total:+.2f} ({low:+.2f} to {high:+.2f})")
        rows.append(row + [str(int(base[:, 0].sum()))] + spans)
    return (f"\nPaired per slice: character errors, and the CER difference to {reference} with a bootstrap 95% "
            f"interval over lines ({resamples} resamples; an interval that spans 0 is no measured "
            f"difference):\n\n" + markdown_table(headers, rows))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", help="OCR model file: .keras or exported .onnx (default: the "
                        "shipped model); repeat to compare several models on the same lines in one run")
    parser.add_argument("--lines", type=int, default=100, help="lines per slice (12 slices)")
    parser.add_argument("--max-chars", type=int, default=50, help="longest line, in characters")
    parser.add_argument("--seed", type=int, default=0, help="seed of the texts, fonts, sizes and degradations")
    parser.add_argument("--beam-width", type=int, default=1, help="our decoder: 1 greedy, more for beam search")
    parser.add_argument("--tf-threads", type=int, help="TensorFlow threads for our model (default: TF's own)")
    parser.add_argument("--work", help="keep the rendered lines here (default: a temporary folder, deleted)")
    parser.add_argument("--skip-tesseract", action="store_true", help="our rows only")
    parser.add_argument("--read-once", action="store_true",
                        help="also each model read without the second, stretched reading of dense lines "
                             "(Reader(dense_stretch=None)): what that reading changes")
    parser.add_argument("--tesseract-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tesseract_worker:
        return tesseract_worker(*args.tesseract_worker)
    if args.lines < 1:
        parser.error(f"--lines must be a positive integer. Received: --lines={args.lines}")

    print_header("OCR: our Reader vs Tesseract 5, per held-out slice", ("tensorflow", "keras", "onnxruntime",
                                                                        "tesserocr"))
    from ocr.synth import rasteriser_problem

    for rasteriser in RASTERISERS:
        if rasteriser_problem(rasteriser):
            parser.error(f"rasteriser {rasteriser}: {rasteriser_problem(rasteriser)}")
    families = held_out_fonts()
    print(f"{args.lines} lines x {len(TEXTS) * len(RASTERISERS) * len(CONDITIONS)} slices; "
          f"{sum(map(len, families.values()))} held-out fonts in {len(families)} families "
          f"({', '.join(sorted(families))}); seed {args.seed}; model {', '.join(args.model or ['shipped default'])}\n",
          flush=True)

    set_tf_threads(args.tf_threads)
    from ocr import Reader

    models = args.model or [None]
    names = {m: "ours" if len(models) == 1 else f"ours {Path(m).parent.name}/{Path(m).name}" if m else
             "ours (shipped)" for m in models}
    if len(set(names.values())) < len(models):
        parser.error(f"--model: give different files. Received: {models}")
    readers = {names[m]: Reader.load(m) for m in models}
    if args.read_once:
        readers.update({f"{names[m]}, read once": Reader.load(m, dense_stretch=None) for m in models})
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="ocr-bench-"))
    try:
        slices = render_slices(work, args.lines, families, args.seed, args.max_chars)
        keys = list(slices)
        paths = [p for k in keys for p in slices[k][0]]
        split = lambda texts: {k: texts[i * args.lines:(i + 1) * args.lines] for i, k in enumerate(keys)}  # noqa: E731
        outputs, speeds = {}, []
        for name, reader in readers.items():
            for mode, (texts, seconds) in run_ours(reader, paths, args.beam_width).items():
                outputs[f"{name} ({mode})"] = split(texts)
                speeds.append([f"{name} ({mode})", f"{len(paths) / seconds:.1f}"])
        tesseract_problem = "--skip-tesseract" if args.skip_tesseract else (
            None if importlib.util.find_spec("tesserocr") else "tesserocr is not installed")
        if tesseract_problem is None:
            try:
                texts, seconds, version = run_tesseract(paths, work)
                outputs[f"Tesseract {version}"] = split(texts)
                speeds.append([f"Tesseract {version} LSTM, 1 thread (1 line/call)", f"{len(paths) / seconds:.1f}"])
            except RuntimeError as error:
                tesseract_problem = f"Tesseract failed: {error}"
        if tesseract_problem and not args.skip_tesseract:
            print(f"No Tesseract rows ({tesseract_problem}). Install it with:\n    {INSTALL_TESSERACT}\n")
        systems = [s for s in outputs if not s.endswith(" (1 line/call)")]
        print(report(slices, outputs, systems))
        print(f"\nSpeed over all {len(paths)} lines (lines/s, reading the PNG files included):\n")
        print(markdown_table(["system", "lines/s"], speeds))
        for name in readers:
            differ = sum(a != b for k in keys
                         for a, b in zip(outputs[f"{name} (batch)"][k], outputs[f"{name} (1 line/call)"][k]))
            print(f"\n{name}: batch and one-line-per-call texts differ on {differ} of {len(paths)} lines.")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
