"""Command-line pieces both ``ocr`` and ``speech`` use: training options, error reporting, evaluation output.

Heavy imports (TensorFlow, Keras) happen inside the commands, so ``--help`` answers at once.
"""

import argparse
import contextlib
import dataclasses
import json
import sys
from pathlib import Path

from common.errors import ConfigError, ToolkitError
from common.limits import MAX_BEAM_WIDTH, count_arg

__all__ = ["add_train_arguments", "train_config_from_args", "run_main", "print_rates", "report_failures",
           "positive_int", "beam_width_arg", "batch_size_arg", "model_size_args", "seed_arg",
           "command_options", "add_version", "add_output_arguments", "stdin_inputs", "plan_outputs",
           "write_text", "STDIN", "add_report_argument", "evaluation_report", "read_text_lines",
           "add_decoding_arguments", "add_lm_command", "run_lm_build", "add_batch_arguments",
           "absolute_path_options", "run_batch_command"]

STDIN = "-"
"""The input name that means standard input (one image or audio file's bytes)."""

TRAIN_INSTALL_HINT = "pip install 'ctc-toolkit[train]'"
_NEEDS_TENSORFLOW = ("tensorflow", "keras", "tensorboard", "tf2onnx", "onnx")


def command_options():
    """A parent parser with the options every command takes (``--verbose``)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--verbose", action="store_true",
                        help="show TensorFlow's own log lines on stderr (hidden by default)")
    return parent


def add_version(parser):
    """``--version``: print the toolkit's version and exit."""
    from common import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


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
    parser.add_argument("--val-fraction", type=float,
                        help="share held out when no --val (default: 5%%, but at least 50 examples or a fifth of a "
                             "smaller data set)")
    parser.add_argument("--seed", type=seed_arg, default=0)
    parser.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    parser.add_argument("--alphabet", default="union", choices=("union", "new", "keep"),
                        help="with --from: add new characters (union), new output layer (new), or refuse (keep)")
    parser.add_argument("--freeze", default="none", choices=("none", "frontend", "encoder"),
                        help="train only what comes after the front end, or after the encoder")
    parser.add_argument("--widen", type=count_arg("widen", maximum=MAX_UNITS), metavar="UNITS",
                        help="with --from: grow the encoder to UNITS LSTM units per direction; the grown model starts "
                             "out computing what the old one did")
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
        resume=args.resume, alphabet=args.alphabet, freeze=args.freeze, widen=args.widen, augment=args.augment,
        model=dict(model_settings or {}), max_items=args.max_items, verbose=2 if args.quiet else 1,
        precision=args.precision, strategy=args.strategy, workers=args.workers,
    )


def run_main(build_parser, commands, argv=None):
    """Parse ``argv``, run the chosen command from ``commands``, and turn the toolkit's own errors into one line on
    stderr and exit status 2 (interrupts: 130). Returns the exit status.

    Failures of the operating system (a full disk, a read-only folder, standard output on a full device or a closed
    pipe) are one line too: ``error: PATH: reason``, never a traceback. TensorFlow's native log lines are kept off
    stderr unless ``--verbose`` (see :mod:`common.quiet`).
    """
    from common.quiet import quiet_native_stderr

    args = None
    try:
        args = build_parser().parse_args(argv)
        with quiet_native_stderr(enabled=not getattr(args, "verbose", False)):
            status = commands[args.command](args)
            sys.stdout.flush()  # a full device fails here, not later at exit with a traceback
        return status
    except ToolkitError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in _NEEDS_TENSORFLOW:
            raise
        print(f"error: this needs the package {error.name!r}, which is not installed: training, .keras model files, "
              f"beam search and export need TensorFlow; install them with: {TRAIN_INSTALL_HINT}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if getattr(args, "command", None) == "train" and getattr(args, "out", None):
            print(f"interrupted; the run's last finished epoch is kept: add --resume to the same command to "
                  f"continue it (the best model so far is {args.out})", file=sys.stderr)
        elif getattr(args, "command", None) == "batch" and getattr(args, "output_dir", None):
            print(f"interrupted; the finished shards are kept in {args.output_dir}: run the same command again to "
                  f"do the rest", file=sys.stderr)
        else:
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


MAX_FAILURE_STATUS = 100
"""The exit status is the number of failed inputs, at most this."""


def report_failures(failures, *, total, what):
    """Print one line per failed input to stderr; returns the exit status: 0 when every input succeeded, else the
    number of failed inputs (at most :data:`MAX_FAILURE_STATUS`)."""
    for message in failures:
        print(f"error: {message}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} of {total} {what} failed", file=sys.stderr)
        return min(len(failures), MAX_FAILURE_STATUS)
    return 0


def add_output_arguments(parser, *, what):
    """``--output-dir``, ``--overwrite`` and ``--with-names`` of ``ocr read`` and ``speech transcribe``."""
    parser.add_argument("--output-dir", metavar="DIR",
                        help=f"write one file per {what} into DIR, named after the input (a.png -> DIR/a.txt); "
                             f"existing files are kept unless --overwrite")
    parser.add_argument("--overwrite", action="store_true", help="with --output-dir: replace existing files")
    parser.add_argument("--with-names", action="store_true",
                        help="plain text on stdout: put a '==> NAME <==' line (as head does) before each text")
    return parser


@contextlib.contextmanager
def stdin_inputs(inputs, *, what):
    """Yield ``(inputs, rename)``: ``-`` in ``inputs`` replaced by a temporary file holding standard input's bytes,
    and ``rename(result)``, which gives a result of that file back the name ``-``.

    Standard input can be read once: ``-`` may appear at most once.
    """
    inputs = list(inputs)
    if STDIN not in inputs:
        yield inputs, lambda result: result
        return
    if inputs.count(STDIN) > 1:
        raise ConfigError(f"standard input ('-') can be read once; pass it at most once. Received: {what}={inputs}")
    import tempfile

    data = sys.stdin.buffer.read()
    with tempfile.TemporaryDirectory(prefix="ctc-stdin-") as folder:
        path = Path(folder) / "stdin"
        path.write_bytes(data)

        def rename(result):
            if result.source != str(path):
                return result
            changes = {"source": STDIN}
            if getattr(result, "error", None):
                changes["error"] = result.error.replace(str(path), "<stdin>")
            return dataclasses.replace(result, **changes)

        yield [str(path) if item == STDIN else item for item in inputs], rename


def plan_outputs(inputs, output_dir, suffixes, *, overwrite=False):
    """The files ``--output-dir`` writes: for each input, ``output_dir/STEM+suffix`` for each suffix.

    Names come from the inputs' file names without their extension (``-``: ``stdin``); two inputs with the same name
    get ``-2``, ``-3``... Checked before any work is done: an existing file is an error unless ``overwrite``.

    Returns:
        one list of :class:`~pathlib.Path` per input (in ``suffixes`` order).

    Raises:
        ConfigError: a file exists already and ``overwrite`` is false, or ``output_dir`` is a file.
    """
    folder = Path(output_dir)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder}: --output-dir must be a folder, and this is a file. "
                          f"Received: output_dir={str(folder)!r}")
    used, plans = set(), []
    for source in inputs:
        stem = "stdin" if source == STDIN else (Path(str(source)).stem or "output")
        name, number = stem, 2
        while name in used:
            name, number = f"{stem}-{number}", number + 1
        used.add(name)
        plans.append([folder / f"{name}{suffix}" for suffix in suffixes])
    existing = [path for paths in plans for path in paths if path.exists()]
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise ConfigError(f"{existing[0]}: exists already{more}; pass --overwrite to replace, or choose another "
                          f"--output-dir. Received: output_dir={str(folder)!r}")
    return plans


def read_text_lines(path):
    """The non-empty lines of a UTF-8 text file (``--text FILE`` of both ``synth`` commands)."""
    from common.errors import InputError

    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise InputError("No such file; check the path.", str(path)) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read it as UTF-8 text: {error}", str(path)) from None
    lines = [line.strip() for line in lines if line.strip()]
    if not lines:
        raise InputError("the file holds no text (only empty lines)", str(path))
    return lines


def write_text(path, text):
    """Write ``text`` (UTF-8) to ``path`` atomically (a temporary file beside it, then a rename)."""
    from common.model_file import atomic_write

    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def print_rates(rates, *, count, as_json=False, report=None):
    """Print evaluation figures (``cer``, ``wer``, ``exact``) as a small table or JSON, and the ``report`` of
    :func:`evaluation_report` when given."""
    if as_json:
        print(json.dumps(dict(rates, count=count, **(report or {})), ensure_ascii=False))
        return
    print(f"items  {count}")
    print(f"CER    {rates['cer'] * 100:.2f}%")
    print(f"WER    {rates['wer'] * 100:.2f}%")
    print(f"exact  {rates['exact'] * 100:.2f}%")
    if report:
        print(f"\nthe {len(report['worst'])} worst items (CER, reference -> output):")
        for item in report["worst"]:
            print(f"  {item['cer'] * 100:6.1f}%  {item['path']}\n          {item['reference']!r}\n"
                  f"       -> {item['output']!r}")
        print(f"\nmost common character errors (expected -> got, count; '' is nothing):")
        for item in report["confusions"]:
            print(f"  {item['expected']!r} -> {item['got']!r}  {item['count']}")


def add_report_argument(parser):
    """``--report N`` of both ``eval`` commands."""
    parser.add_argument("--report", type=positive_int, metavar="N",
                        help="also list the N worst items and the N most common character errors")
    return parser


def evaluation_report(names, references, hypotheses, top):
    """The ``top`` worst items and most common character confusions, as plain data (for text or JSON)."""
    from common.metrics import confusions, worst_items

    return {
        "worst": [{"path": names[i], "reference": references[i], "output": hypotheses[i], "cer": round(rate, 4)}
                  for i, rate in worst_items(references, hypotheses, top=top)],
        "confusions": [{"expected": a, "got": b, "count": n}
                       for (a, b), n in confusions(references, hypotheses, top=top)],
    }


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


def add_batch_arguments(parser, *, what):
    """The options of ``ocr batch`` and ``speech batch`` (:mod:`common.scale`) besides the task's own."""
    from common.scale import SHARD_FORMATS

    parser.add_argument("--output-dir", required=True, metavar="DIR",
                        help=f"where the result shards go (part-RRRR-NNNNNN.jsonl, one JSON object per {what} as "
                             f"with --json, errors included); run the same command again to resume a stopped run")
    parser.add_argument("--address", metavar="auto|HOST:PORT",
                        help="the Ray cluster: auto (the one 'ray start' started on this machine) or the head's "
                             "HOST:PORT (default: RAY_ADDRESS if set, else a Ray instance started for this run)")
    parser.add_argument("--local", action="store_true",
                        help="run in this process without Ray (same shards, same resume)")
    parser.add_argument("--workers", type=count_arg("workers", maximum=MAX_BATCH_SIZE),
                        help="model copies (Ray actors) working at once (default: the cluster's CPUs, or its GPUs)")
    parser.add_argument("--cpus-per-worker", type=float, default=1.0,
                        help="CPUs Ray reserves for each worker (default 1)")
    parser.add_argument("--gpus-per-worker", type=float,
                        help="GPUs per worker (default: 1 when the cluster has GPUs, else 0)")
    parser.add_argument("--files-per-shard", type=count_arg("files_per_shard", maximum=10**6), default=100,
                        help=f"{what}s per shard: the unit of work, of writing and of resuming (default 100)")
    parser.add_argument("--shard-format", choices=SHARD_FORMATS, default="jsonl",
                        help="jsonl (default) or parquet (columns path, text, error, record)")
    parser.add_argument("--retry-failed", action="store_true",
                        help=f"on resume, process again the {what}s that failed before")
    return parser


def absolute_path_options(options, names, *, keep=("none", "default")):
    """``options`` with the values of ``names`` that name existing files made absolute (Ray's workers do not run
    in this folder); other values (``none``, ``default``, hotword lists) unchanged."""
    import os

    result = dict(options)
    for name in names:
        value = result.get(name)
        if isinstance(value, str) and value not in keep and os.path.exists(value):
            result[name] = os.path.abspath(value)
    return result


def run_batch_command(args, *, task, factory, options, settings, suffixes, source_keys, what):
    """Run ``ocr batch`` / ``speech batch`` (see :func:`common.scale.run_batch`): one line per finished shard on
    stderr, then each failed input's error and a summary. Returns the exit status (as :func:`report_failures`)."""
    from common.scale import collect_inputs, run_batch

    if args.local and args.address:
        raise ConfigError(f"--local runs in this process, without a cluster: drop --address or --local. "
                          f"Received: address={args.address!r}")
    inputs = collect_inputs(args.inputs, suffixes=suffixes, source_keys=source_keys, what=what)

    def progress(summary, report, num_shards):
        failed = f", {summary['failed']} failed" if summary["failed"] else ""
        files = f"{summary['files']} {what}" + ("s" if summary["files"] != 1 else "")
        print(f"[{len(report.shards)}/{num_shards}] {summary['shard']}: {files}{failed} in "
              f"{summary['seconds']:.1f} s on node {str(summary['node'])[:8]}", file=sys.stderr, flush=True)

    report = run_batch(inputs, args.output_dir, task=task, factory=factory, options=options, settings=settings,
                       address=args.address, local=args.local, num_workers=args.workers,
                       files_per_shard=args.files_per_shard, shard_format=args.shard_format,
                       retry_failed=args.retry_failed, cpus_per_worker=args.cpus_per_worker,
                       gpus_per_worker=args.gpus_per_worker, verbose=args.verbose, on_shard=progress)
    skipped = f"; {report.skipped} done before, skipped" if report.skipped else ""
    nodes = f" on {len(report.nodes)} node(s)" if report.nodes and not args.local else ""
    rate = f" ({report.processed / report.seconds:.1f} {what}s/s)" if report.processed and report.seconds else ""
    print(f"{report.processed} of {report.total} {what}s processed in {report.seconds:.1f} s{rate}{nodes}{skipped}; "
          f"results in {args.output_dir}", file=sys.stderr)
    return report_failures(report.errors, total=report.processed, what=f"{what}s")
