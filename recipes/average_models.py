"""Average the weights of several models of one lineage into one model file (a "model soup").

    python recipes/average_models.py --model speech/models/default.keras --model runs/speech_s12/model.keras \
        --out runs/speech_s12/soup.keras

Speech stage 12 (MODELS.md) is stage 11 and its continued training averaged half and half: the validation WER of
the average was below both. Check the result on validation data before shipping it (``speech eval`` / ``ocr
eval``): models that do not share a starting point average into noise. ``--weight`` gives one weight per
``--model`` (default: equal). The first model's metadata (alphabet, preprocessing) is kept; the file is written
atomically (``common.model_file.save_model``).
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import ocr.preprocessor  # noqa: E402,F401  (registers each task's preprocessor for loading)
import speech.preprocessor  # noqa: E402,F401
from common.errors import ToolkitError  # noqa: E402
from common.fine_tuning import average_weights  # noqa: E402
from common.model_file import load_model, save_model  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", action="append", required=True, help=".keras model; give two or more")
    parser.add_argument("--weight", action="append", type=float, help="one per --model (default: equal)")
    parser.add_argument("--out", required=True, help="the averaged .keras file")
    args = parser.parse_args(argv)
    try:
        models = [load_model(path) for path in args.model]
        tasks = {m.task for m in models}
        if len(tasks) > 1:
            parser.error(f"--model: the models are of different tasks ({', '.join(sorted(tasks))})")
        save_model(average_weights(models, args.weight), args.out)
    except ToolkitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"averaged {len(models)} models into {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
