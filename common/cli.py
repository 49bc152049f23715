"""Command-line pieces both ``ocr`` and ``speech`` use: training options, error reporting, evaluation output.

Heavy imports (TensorFlow, Keras) happen inside the commands, so ``--help`` answers at once.
"""

import json
import sys

from common.errors import ToolkitError
from common.limits import MAX_BEAM_WIDTH, count_arg

__all__ = ["add_train_arguments", "train_config_from_args", "run_main", "print_rates", "report_failures",
           "positive_int", "beam_width_arg", "batch_size_arg", "model_size_args", "seed_arg",
           "add_decoding_arguments", "add_lm_command", "run_lm_build"]

# Upper bounds of the size-like options: far above any sensible value, far below what exhausts a machine's memory
# (a BiLSTM of 10**6 units, a batch of 10**9 items or a beam of 10**6 would be killed by the kernel, not refused).
MAX_BATCH_SIZE = 65_536
MAX_UNITS = 8_192
MAX_LAYERS = 64

beam_width_arg = count_arg("beam_width", minimum=1, maximum=MAX_BEAM_WIDTH)
"""argparse type of ``--beam``: 1 (greedy) to :data:`common.limits.MAX_BEAM_WIDTH`."""
batch_size_arg = count_arg("batch_size", minimum=1, maximum=MAX_BATCH_SIZE)
"""argparse type of ``--batch-size``."""


def add_train_arguments(parser):
    """Add the options of :class:`common.training.TrainConfig` to an argparse parser."""
    parser.add_argument("--data", required=True, help="training data: a folder or a manifest file")
    parser.add_argument("--out", required=True, help="where to write the best model (.keras)")
    parser.add_argument("--val", help="validation data (default: hold out --val-fraction of --data)")
    parser.add_argument("--from", dest="from_model", metavar="MODEL",
                        help="continue from this model file, or 'default' for the shipped model (fine-tuning)")
    parser.add_argument("--epochs", type=positive_int, default=100, help="maximum epochs (default: 100)")
    parser.add_argument("--batch-size", type=batch_size_arg, default=32, help="items per batch (default: 32)")
    parser.add_argument("--lr", dest="learning_rate", type=float,
                        help="peak learning rate (default: 1e-3 new model, 3e-4 fine-tuning)")
    parser.add_argument("--warmup-steps", type=count_arg("warmup_steps", minimum=0),
                        help="linear warm-up steps (default: 0 new, 100 fine-tuning)")
    parser.add_argument("--max-minutes", type=float, help="stop after this many minutes; keep the best model")
    parser.add_argument("--patience", type=positive_int, default=10, help="epochs without improvement before stopping")
    parser.add_argument("--val-fraction", type=float, default=0.05, help="share held out when no --val (0.05)")
    parser.add_argument("--seed", type=seed_arg, default=0)
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
    parser.add_argument("--workers", type=positive_int, default=1,
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
    stderr and exit status 2 (interrupts: 130). Returns the exit status.

    Failures of the operating system (a full disk, a read-only folder, standard output on a full device or a closed
    pipe) are one line too: ``error: PATH: reason``, never a traceback.
    """
    try:
        args = build_parser().parse_args(argv)
        status = commands[args.command](args)
        sys.stdout.flush()  # a full device fails here, not later at exit with a traceback
        return status
    except ToolkitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, as other command-line tools do
        _discard_stdout()
        return 141
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        if error.filename is None:
            _discard_stdout()
            message = f"cannot write the results to standard output: {reason}"
        else:
            message = f"{error.filename}: {reason}"
        print(f"error: {message}. Received: errno={error.errno}", file=sys.stderr)
        return 2


def _discard_stdout():
    """Point standard output at /dev/null, so Python's final flush of what is still buffered cannot fail again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


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


positive_int = count_arg("value", minimum=1)
"""argparse type: an integer >= 1."""
seed_arg = count_arg("seed", minimum=0, maximum=2**32 - 1)
"""argparse type of ``--seed`` (NumPy's generators take 0 to 2**32 - 1)."""
MAX_GENERATED = 10_000_000
"""Most lines or utterances one ``synth`` command renders."""


def model_size_args():
    """argparse types of ``--units`` and ``--layers`` (a new model's size), bounded like the other sizes."""
    return count_arg("units", maximum=MAX_UNITS), count_arg("num_layers", maximum=MAX_LAYERS)


def add_decoding_arguments(parser, *, lm_default, lm_help):
    """Add ``--lm``, ``--hotwords`` and ``--words`` (decoding with word knowledge, :mod:`common.lm`)."""
    parser.add_argument("--lm", default=lm_default,
                        metavar="default|none|PATH" if lm_default == "default" else "none|PATH",
                        help=f"word language model for decoding: {lm_help}")
    parser.add_argument("--hotwords", metavar="WORDS",
                        help="words to favour, comma-separated, each with an optional weight: \"Kubernetes,nginx:5\" "
                             "(weight = log-score bonus, default 5)")
    parser.add_argument("--words", metavar="FILE",
                        help="closed vocabulary: a file of words (whitespace-separated); only these are written")
    return parser


def add_lm_command(commands, *, task, tokenize_help):
    """Add ``lm build --text FILE... --order N --out PATH`` to a task's subcommands."""
    from common.limits import count_arg

    lm = commands.add_parser("lm", help="build a word language model for decoding")
    actions = lm.add_subparsers(dest="lm_command", required=True)
    build = actions.add_parser(
        "build", help="estimate a modified Kneser-Ney n-gram LM (ARPA) from text files, one sentence per line",
        description=f"Build a word n-gram language model for `{task} --lm PATH`. {tokenize_help} Writes PATH and "
                    f"PATH.json (decoding settings: alpha, beta, beam width). Pure Python; for corpora beyond ~10M "
                    f"words build with KenLM's lmplz instead (see recipes/speech_lm.py).")
    build.add_argument("--text", required=True, nargs="+", help="UTF-8 text files, one sentence (or line) per line")
    build.add_argument("--order", type=count_arg("order", maximum=6), default=4, help="n-gram order (1-6, default 4)")
    build.add_argument("--out", required=True, help="the LM file to write (ARPA text)")
    return lm


def run_lm_build(args, *, tokenize):
    """Run ``lm build``: read ``args.text`` line by line, ``tokenize(line)`` -> words, write ``args.out``."""
    from pathlib import Path

    from common.errors import DataError
    from common.ngram import build_arpa

    def lines():
        for name in args.text:
            path = Path(name)
            number = 0
            try:
                with open(path, encoding="utf-8") as handle:
                    for number, line in enumerate(handle, start=1):
                        yield tokenize(line)
            except FileNotFoundError:
                raise DataError(f"{path}: no such text file. Received: --text {name}") from None
            except UnicodeDecodeError as error:
                raise DataError(f"{path}: not UTF-8 text (line {number + 1}: {error.reason})") from None
            except OSError as error:
                raise DataError(f"{path}: cannot read it ({error.strerror})") from None

    counts = build_arpa(lines(), args.out, order=args.order)
    print(f"wrote {args.out} ({', '.join(f'{n}-grams: {c:,}' for n, c in counts.items())}) and {args.out}.json")
    return 0
