"""Recipe of the shipped default OCR model (``ocr/models/default.keras``). Re-runnable on CPU or GPU.

    python recipes/ocr_default.py --work runs/ocr_default --lines 30000 --max-minutes 90

1. Lists the fonts on this machine that cover printable ASCII (install more with the Debian font packages named
   in MODELS.md), and holds out every ``--holdout-every``-th font family for validation: validation lines are
   rendered only in fonts the model never trains on.
2. Renders ``--lines`` training lines and ``--val-lines`` validation lines with ``ocr.synth`` (70% degraded).
3. Trains with ``ocr train`` (the same code path users run) into ``--work``, then copies the best model to
   ``--ship``.
"""

import argparse
import json
import shutil
import string
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "recipes"))

from _train_and_ship import train_and_ship  # noqa: E402
from ocr.synth import find_fonts, synthesize_dataset  # noqa: E402

PRINTABLE = string.digits + string.ascii_letters + string.punctuation + " "


def family(path):
    """A font family key: the file name without style words, so Bold/Italic of one family stay together."""
    stem = Path(path).stem.lower()
    for word in ("bolditalic", "boldoblique", "italic", "oblique", "bold", "regular", "light", "medium",
                 "semibold", "condensed", "book", "roman", "-", "_"):
        stem = stem.replace(word, "")
    return stem


def split_fonts(fonts, every):
    families = sorted({family(f) for f in fonts})
    held = set(families[::every])
    return [f for f in fonts if family(f) not in held], [f for f in fonts if family(f) in held]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default="runs/ocr_default")
    parser.add_argument("--ship", default=str(ROOT / "ocr" / "models" / "default.keras"),
                        help="where the finished model is copied (the package's default model)")
    parser.add_argument("--lines", type=int, default=30000)
    parser.add_argument("--val-lines", type=int, default=600)
    parser.add_argument("--holdout-every", type=int, default=7)
    parser.add_argument("--max-minutes", type=float, default=90)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--resume", action="store_true", help="resume training (skips rendering)")
    args = parser.parse_args()

    work = Path(args.work)
    train_dir, val_dir = work / "train", work / "val"
    if not args.resume:
        # Hairline weights are unreadable at line heights of ~32 px; everything else is fair game.
        fonts = [f for f in find_fonts(charset=PRINTABLE) if "hairline" not in Path(f).stem.lower()]
        train_fonts, val_fonts = split_fonts(fonts, args.holdout_every)
        work.mkdir(parents=True, exist_ok=True)
        (work / "fonts.json").write_text(json.dumps(
            {"train": [str(f) for f in train_fonts], "validation": [str(f) for f in val_fonts]}, indent=2))
        print(f"{len(train_fonts)} training fonts, {len(val_fonts)} held-out validation fonts", flush=True)
        synthesize_dataset(train_dir, args.lines, fonts=train_fonts, seed=1, charset=PRINTABLE)
        synthesize_dataset(val_dir, args.val_lines, fonts=val_fonts, seed=2, charset=PRINTABLE)
    options = ["--data", str(train_dir), "--val", str(val_dir),
               "--epochs", str(args.epochs), "--max-minutes", str(args.max_minutes),
               "--batch-size", "32", "--patience", "8", "--quiet"]
    return train_and_ship("ocr", work, args.ship, options, resume=args.resume)


if __name__ == "__main__":
    sys.exit(main())
