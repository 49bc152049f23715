"""Command-line pieces both ``ocr`` and ``speech`` use: training options, error reporting, evaluation output.

Heavy imports (TensorFlow, Keras) happen inside the commands, so ``--help`` answers at once.
"""

import argparse
import json
import sys

from common.errors import ToolkitError

__all__ = ["add_train_arguments", "train_config_from_args", "run_main", "print_rates", "report_failures"]


def add_train_arguments(parser):
    """Add the options of :class:`common.training.TrainConfig` to an argparse parser."""
    parser.add_argument("--data", required=True, help="training data: a folder or a manifest file")
    parser.add_argument("--out", required=True, help="where to write the best model (.keras)")
    parser.add_argument("--val", help="validation data (default: hold out --val-fraction of --data)")
    parser.add_argument("--from", dest="from_model", metavar="MODEL",
                        help="continue from this model file, or 'default' for the shipped model (fine-tuning)")
    parser.add_argument("--epochs", type=int, default=100, help="maximum epochs (default: 100)")
    parser.add_argument("--batch-size", type=int, default=32, help="items per batch (default: 32)")
    parser.add_argument("--lr", dest="learning_rate", type=float,
                        help="peak learning rate (default: 1e-3 new model, 3e-4 fine-tuning)")
    parser.add_argument("--warmup-steps", type=int, help="linear warm-up steps (default: 0 new, 100 fine-tuning)")
    parser.add_argument("--max-minutes", type=float, help="stop after this many minutes; keep the best model")
    parser.add_argument("--patience", type=int, default=10, help="epochs without improvement before stopping")
    parser.add_argument("--val-fraction", type=float, default=0.05, help="share held out when no --val (0.05)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    parser.add_argument("--alphabet", default="union", choices=("union", "new", "keep"),
                        help="with --from: add new characters (union), new output layer (new), or refuse (keep)")
    parser.add_argument("--freeze", default="none", choices=("none", "frontend", "encoder"),
                        help="train only what comes after the front end, or after the encoder")
    parser.add_argument("--no-augment", dest="augment", action="store_false", help="no on-the-fly augmentation")
    parser.add_argument("--max-items", type=positive_int, help="use at most this many training items (default: all)")
    parser.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "mixed"),
                        help="mixed: float16 compute with a float32 head and loss (GPUs); auto (default): mixed when "
                             "a GPU is visible, else float32. Saved models are float32 either way")
    parser.add_argument("--strategy", default="none", choices=("none", "mirrored", "multiworker"),
                        help="mirrored: one replica per GPU; multiworker: every machine in TF_CONFIG "
                             "(--batch-size is then the global batch, split across replicas)")
    parser.add_argument("--workers", type=int, default=1,
                        help="threads that prepare the next batches while one trains (default: 1; more for a GPU)")
    return parser


def train_config_from_args(args, *, model_settings=None, default_model=None):
    """Map parsed options onto a :class:`common.training.TrainConfig` (``--from default`` -> ``default_model``)."""
    from common.training import TrainConfig

    from_model = args.from_model
    if from_model == "default":
        from_model = str(default_model)
    return TrainConfig(
        data=args.data, out=args.out, val=args.val, from_model=from_model, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, warmup_steps=args.warmup_steps,
        max_minutes=args.max_minutes, patience=args.patience, val_fraction=args.val_fraction, seed=args.seed,
        resume=args.resume, alphabet=args.alphabet, freeze=args.freeze, augment=args.augment,
        model=dict(model_settings or {}), max_items=args.max_items, verbose=2 if args.quiet else 1,
        precision=args.precision, strategy=args.strategy, workers=args.workers,
    )


def run_main(build_parser, commands, argv=None):
    """Parse ``argv``, run the chosen command from ``commands``, and turn the toolkit's own errors into one line on
    stderr and exit status 2 (interrupts: 130). Returns the exit status."""
    try:
        args = build_parser().parse_args(argv)
        return commands[args.command](args)
    except ToolkitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def report_failures(failures, *, total, what):
    """Print one line per failed input to stderr; returns the exit status (0 all good, 1 some failed)."""
    for message in failures:
        print(f"error: {message}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} of {total} {what} failed", file=sys.stderr)
        return 1
    return 0


def print_rates(rates, *, count, as_json=False):
    """Print evaluation figures (``cer``, ``wer``, ``exact``) as a small table or JSON."""
    if as_json:
        print(json.dumps(dict(rates, count=count)))
        return
    print(f"items  {count}")
    print(f"CER    {rates['cer'] * 100:.2f}%")
    print(f"WER    {rates['wer'] * 100:.2f}%")
    print(f"exact  {rates['exact'] * 100:.2f}%")


def positive_int(text):
    """argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return value
