"""OCR stages 2-5 (MODELS.md): continue the shipped model on broad text, four rasterisers and scan and photo
degradations, through the one trainer (``python -m ocr train --from ...``).

    python recipes/ocr_broad.py --work runs/ocr_broad --lines 50000 --val-lines 800 --max-minutes 70 --workers 1
    python recipes/ocr_broad.py --work runs/ocr_s5 --lines 40000 --seed 5000 --prose sotu,fortunes,gcide \
        --extra-train runs/ocr_broad/train ...   # stage 5: new lines and fonts, trained with stage 2's lines

1. Fonts: every installed font that covers printable ASCII (``ocr.synth.find_fonts``; install the Debian packages
   named in MODELS.md first), without hairline weights and IBM Plex's script variants (Arabic, Thai, ... : the same
   Latin letters 60 times). **Held out** (validation and ``benchmarks/ocr_vs_tesseract.py`` only): the families the
   shipped model never saw (:data:`SHIPPED_HELD_OUT`) and four new ones (:data:`NEW_HELD_OUT`), and the
   rasteriser :data:`HELD_OUT_RASTERISER`. ``WORK/fonts.json`` lists the split.
2. Text (``common.corpus.TextPool``): 30% prose, three lines in four of it real English (State of the Union and
   fortunes, ``recipes/english_text.py``; ``--prose`` adds GCIDE definitions), 24% technical text, table rows,
   numbers, codes, ... (:data:`KIND_WEIGHTS`).
   Never license texts, Debian package descriptions or changelogs, Perl documentation or docstrings: the held-out
   evaluation text comes from there. Validation prose: Moby-Dick chapters 1-60 (chapters 61-135 are the benchmark's).
3. Rendering: training lines by Pillow (half), Pango/Cairo and ImageMagick; validation lines by all four including
   Ghostscript; 70% degraded (``ocr.synth.DEGRADATIONS``); ``--workers`` processes render shards in parallel.
   Each shard's ``manifest.tsv`` records every line's font, rasteriser, dpi, size and degradations.
4. Trains from ``--from`` (default: the shipped model), or a new model of ``--units`` per direction, with
   ``python -m ocr train`` and copies the best model and its ONNX twin to ``--ship``
   (``recipes/_train_and_ship.py``). ``--resume`` continues a stopped run (``--lines`` etc. are then ignored).
   ``--extra-train`` folders (earlier stages' lines) join ``WORK/train`` through one manifest,
   ``WORK/train_all.jsonl``.
"""

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "recipes"))

from _train_and_ship import train_and_ship  # noqa: E402
from common.corpus import PRINTABLE_ASCII  # noqa: E402

SHIPPED_HELD_OUT = ("C059", "DejaVuSerif", "LiberationSerif", "NimbusSans-", "URWGothic", "Lato-Black",
                    "LinLibertine_RB.", "OpenSans-Cond")
"""File-name prefixes of the font families the shipped model (stage 1) was validated on and never trained on
(MODELS.md; its recipe's family key kept Nimbus Sans Narrow and Linux Libertine RBI in training)."""

NEW_HELD_OUT = ("Gentium", "Cantarell", "Hack-", "IBMPlexSerif")
"""Prefixes of newly installed families held out as well: a serif, a humanist sans, a monospace, a slab-ish serif."""

HELD_OUT_RASTERISER = "ghostscript"
TRAIN_RASTERISERS = ("pillow", "pillow", "pango", "imagemagick")
VAL_RASTERISERS = ("pillow", "pango", "imagemagick", "ghostscript")

KIND_WEIGHTS = {"prose": 30, "words": 5, "name": 5, "address": 5, "number": 7, "price": 4, "date": 6, "code": 6,
                "web": 6, "phone": 3, "punctuation": 8, "technical": 24, "table": 6}

_SCRIPT_VARIANTS = ("Arabic", "Devanagari", "Hebrew", "Thai", "KR", "JP", "TC", "SC")


def split_fonts():
    """``(train_fonts, held_out_fonts)``: lists of paths (str) of the installed fonts, split by family."""
    from ocr.synth import find_fonts

    fonts = [f for f in find_fonts(charset=PRINTABLE_ASCII) if "hairline" not in f.stem.lower()
             and not (f.stem.startswith("IBMPlex") and any(v in f.stem for v in _SCRIPT_VARIANTS))]
    held = [str(f) for f in fonts if f.name.startswith(SHIPPED_HELD_OUT + NEW_HELD_OUT)]
    return [str(f) for f in fonts if str(f) not in held], held


TRAINING_PROSE = ("sotu", "fortunes")
"""Default training prose sources (``recipes/english_text.py``); stage 5 added ``gcide``. Never ``moby_dick``."""


def training_prose(sources=TRAINING_PROSE):
    """Sentences (str) of the ``sources`` named in ``recipes/english_text.py``, in order."""
    from english_text import sentences

    if "moby_dick" in sources:
        raise ValueError("moby_dick is the held-out prose source (validation and benchmark); do not train on it")
    return [s for source in sources for s in sentences(source)]


def validation_prose():
    """Moby-Dick chapters 1-60 (the held-out source; the benchmark reads chapters 61-135)."""
    from english_text import documents, split_sentences

    return [s for chapter in documents("moby_dick")[:60] for s in split_sentences(chapter) if len(s.split()) >= 3]


def render_shard(job):
    """Render one shard: ``job = (folder, lines, seed, fonts, rasterisers, prose)``."""
    from common.corpus import TextPool
    from ocr.synth import synthesize_dataset

    folder, lines, seed, fonts, rasterisers, prose = job
    pool = TextPool(seed, prose=prose, kind_weights=KIND_WEIGHTS)
    synthesize_dataset(folder, lines, fonts=fonts, seed=seed, charset=PRINTABLE_ASCII, rasterisers=rasterisers,
                       pool=pool, degrade_fraction=0.7, progress=False)
    return folder


def render(work, args):
    train_fonts, held_fonts = split_fonts()
    work.mkdir(parents=True, exist_ok=True)
    (work / "fonts.json").write_text(json.dumps({"train": train_fonts, "validation": held_fonts,
                                                 "held_out_rasteriser": HELD_OUT_RASTERISER}, indent=2))
    print(f"{len(train_fonts)} training fonts, {len(held_fonts)} held-out fonts; rasteriser {HELD_OUT_RASTERISER} "
          "held out", flush=True)
    prose = training_prose(args.prose)
    shards = max(1, args.workers * 4)
    sizes = [args.lines // shards + (i < args.lines % shards) for i in range(shards)]
    jobs = [(str(work / "train" / f"shard{i:02d}"), n, args.seed + i, train_fonts, TRAIN_RASTERISERS, prose)
            for i, n in enumerate(sizes) if n]
    jobs.append((str(work / "val"), args.val_lines, 2, held_fonts, VAL_RASTERISERS, validation_prose()))
    with ProcessPoolExecutor(max_workers=args.workers) as executor:
        for done, folder in enumerate(executor.map(render_shard, jobs), start=1):
            print(f"rendered {folder} ({done}/{len(jobs)})", flush=True)


def write_training_manifest(folders, out):
    """Write the line images and texts of every folder in ``folders`` as one ``.jsonl`` manifest ``out`` (absolute
    image paths); returns the number of lines."""
    from ocr.data import load_line_dataset

    rows = [json.dumps({"image": str(example.image.resolve()), "text": example.text}, ensure_ascii=False)
            for folder in folders for example in load_line_dataset(folder)]
    partial = Path(f"{out}.partial")
    partial.write_text("\n".join(rows) + "\n", encoding="utf-8")
    partial.replace(out)
    return len(rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="runs/ocr_broad")
    parser.add_argument("--from", dest="base", default=str(ROOT / "ocr" / "models" / "default.keras"),
                        help="model to continue from (default: the shipped one)")
    parser.add_argument("--ship", default=str(ROOT / "ocr" / "models" / "default.keras"),
                        help="where the finished model is copied (default: the package's model)")
    parser.add_argument("--lines", type=int, default=60000)
    parser.add_argument("--val-lines", type=int, default=800)
    parser.add_argument("--workers", type=int, default=1, help="rendering processes")
    parser.add_argument("--seed", type=int, default=1000, help="training shard i is drawn with seed SEED + i (stage "
                        "2: 1000; another seed renders new lines; validation always uses seed 2)")
    parser.add_argument("--prose", type=lambda v: tuple(v.split(",")), default=TRAINING_PROSE,
                        help="comma-separated training prose sources of recipes/english_text.py (default: "
                        f"{','.join(TRAINING_PROSE)})")
    parser.add_argument("--extra-train", nargs="+", default=[], metavar="FOLDER",
                        help="earlier stages' training folders, trained on together with WORK/train")
    parser.add_argument("--data-only", action="store_true", help="render the lines, do not train")
    parser.add_argument("--max-minutes", type=float, default=120)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--lr", type=float, help="peak learning rate (default: 5e-4 from --from, 1e-3 new)")
    parser.add_argument("--units", type=int, help="train a new model with this many LSTM units per direction "
                        "instead of continuing --from (a narrower encoder reads faster: results_ocr_vs_tesseract.md)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--resume", action="store_true", help="resume training (skips rendering)")
    args = parser.parse_args()
    for name in ("lines", "val_lines", "workers", "epochs", "batch_size", "units"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer. Received: {getattr(args, name)}")

    work = Path(args.work)
    if not args.resume:
        render(work, args)
    train = work / "train"
    if args.extra_train:
        train = work / "train_all.jsonl"
        lines = write_training_manifest([work / "train", *args.extra_train], train)
        print(f"{lines} training lines in {train}", flush=True)
    if args.data_only:
        return 0
    start = ["--units", str(args.units)] if args.units else ["--from", args.base]
    lr = args.lr or (1e-3 if args.units else 5e-4)
    options = start + ["--data", str(train), "--val", str(work / "val"), "--epochs", str(args.epochs),
                       "--max-minutes", str(args.max_minutes), "--lr", str(lr), "--warmup-steps", "200",
                       "--batch-size", str(args.batch_size), "--patience", "100", "--quiet"]
    return train_and_ship("ocr", work, args.ship, options, resume=args.resume)


if __name__ == "__main__":
    sys.exit(main())
