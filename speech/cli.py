"""``speech``: transcribe audio files, train and evaluate models, synthesize training speech.

    speech transcribe FILES...|- [--model M] [--format txt|json|srt|vtt|tsv|all] [--output-dir DIR] [--beam N]
                      [--lm default|none|PATH] [--hotwords "Kubernetes,nginx:5"] [--words FILE]
    speech batch FOLDER|GLOB|MANIFEST... --output-dir DIR [--address auto|HOST:PORT] [--workers N] [--local]
                 [--files-per-shard N] [--shard-format jsonl|parquet] [--retry-failed] [transcribe's model options]
    speech lm build --text corpus.txt --order 4 --out my.lm
    speech train --data D [--val V] --out M [--from M0|default] [--max-minutes N] [--resume] ...
    speech eval --data D [--model M] [--report N]
    speech synth --out D -n N | --text FILE [--voice NAME]
    speech export --out PATH [--model M] [--format savedmodel|tflite|onnx] [--batch-size N]
    speech serve [--port 8000] [--with ocr] [--batch-window-ms 5] [--max-bytes N] ...  (the HTTP service)
"""

import argparse
import sys

from common.cli import (MAX_GENERATED, add_batch_arguments, add_decoding_arguments, add_lm_command,
                        add_output_arguments, add_report_argument, add_train_arguments, add_version, batch_size_arg,
                        beam_width_arg, command_options, model_size_args, plan_outputs, print_rates, read_text_lines,
                        report_failures, run_main, seed_arg, stdin_inputs, write_text)
from common.errors import ConfigError
from common.export import add_export_arguments
from common.limits import count_arg
from common.serving.options import add_serve_command
from speech import defaults

__all__ = ["main", "build_parser"]

LM_HELP = ("default (the shipped English 4-gram; greedy if it cannot be loaded), none (greedy), or an ARPA / KenLM "
           "binary file, e.g. from 'speech lm build'")
BEAM_HELP = "beam width (default: the LM's tuned width; without an LM, 1 = greedy)"

FORMATS = ("txt", "json", "srt", "vtt", "tsv")
"""Output formats of ``transcribe`` (``--format all`` writes each of them); as ``speech.formats.FORMATS``, repeated
here so that ``--help`` needs no import (tests/speech/test_speech_serve.py checks that they agree)."""
SUFFIXES = {name: f".{name}" for name in FORMATS}


def add_transcribing_arguments(parser):
    """The options of ``transcribe`` and ``batch`` that choose the model and how it transcribes."""
    parser.add_argument("--model", help="model file (default: the shipped model)")
    parser.add_argument("--beam", type=beam_width_arg, default=defaults.BEAM_WIDTH, help=BEAM_HELP)
    add_decoding_arguments(parser, lm_default=defaults.LM, lm_help=LM_HELP)
    parser.add_argument("--max-chunk-seconds", type=float, default=defaults.MAX_CHUNK_SECONDS,
                        help=f"longest piece of audio run at once; long files are split at silences "
                             f"(default {defaults.MAX_CHUNK_SECONDS:g})")
    parser.add_argument("--batch-size", type=batch_size_arg, default=defaults.BATCH_SIZE)
    parser.add_argument("--max-seconds", type=float, help="refuse files longer than this (default: no limit)")
    parser.add_argument("--max-batch-mb", type=float,
                        help="cap on one padded batch of features in MiB (chunks x frames x mels x 4 bytes); "
                             "batches are split to fit, a chunk that alone exceeds it is an error (default: 4)")
    return parser


def build_parser():
    units_arg, layers_arg = model_size_args()
    parser = argparse.ArgumentParser(prog="speech", description="Transcribe speech with a BiLSTM-CTC model.")
    add_version(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    options = command_options()

    transcribe = commands.add_parser("transcribe", help="transcribe audio files (WAV, FLAC, OGG, MP3)",
                                     parents=[options])
    transcribe.add_argument("files", nargs="+", help="audio files; '-' reads one from stdin")
    add_transcribing_arguments(transcribe)
    transcribe.add_argument("--format", choices=FORMATS + ("all",), default="txt",
                            help="txt: one line per file; json: one object per file with segments and words (and "
                                 "the error of a file that failed); srt / vtt: subtitles; tsv: start, end (ms) and "
                                 "text per segment; all: every format (needs --output-dir). Several files as "
                                 "srt, vtt or tsv need --output-dir (one file each)")
    add_output_arguments(transcribe, what="file")

    batch = commands.add_parser("batch", help="transcribe a large collection (folder, glob, manifest) on a Ray "
                                              "cluster into resumable JSONL/Parquet shards", parents=[options])
    batch.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="folders (their audio files, in subfolders too), glob patterns ('calls/**/*.wav'), "
                            "manifests (.tsv/.csv/.jsonl with an audio, path or file column) or audio files")
    add_transcribing_arguments(batch)
    add_batch_arguments(batch, what="file")

    train = commands.add_parser("train", help="train or fine-tune a model on audio + transcripts", parents=[options])
    add_train_arguments(train)
    train.add_argument("--units", type=units_arg, default=defaults.ENCODER["units"],
                       help=f"LSTM units per direction (new model; default {defaults.ENCODER['units']})")
    train.add_argument("--layers", type=layers_arg, default=defaults.ENCODER["num_layers"],
                       help=f"BiLSTM layers (new model; default {defaults.ENCODER['num_layers']})")

    evaluate = commands.add_parser("eval", help="WER and CER on a labelled data set", parents=[options])
    evaluate.add_argument("--data", required=True, help="LJSpeech / LibriSpeech folder, Common Voice TSV, manifest")
    evaluate.add_argument("--model", help="model file (default: the shipped model)")
    evaluate.add_argument("--beam", type=beam_width_arg, default=defaults.BEAM_WIDTH, help=BEAM_HELP)
    add_decoding_arguments(evaluate, lm_default=defaults.LM, lm_help=LM_HELP)
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_report_argument(evaluate)

    synth = commands.add_parser("synth", help="synthesize a training set with the TTS engines on this machine",
                                parents=[options])
    synth.add_argument("--out", required=True, help="output folder (LJSpeech layout)")
    synth.add_argument("-n", "--num-utterances", type=count_arg("num_utterances", maximum=MAX_GENERATED),
                       help="utterances to speak (required without --text; with it, default: one per line)")
    synth.add_argument("--voice", action="append", metavar="NAME",
                       help="speak with this voice: 'engine:name' (espeak-ng:en-us+f2, kokoro:jf_alpha+jm_kumo), a "
                            "name or a family (en-gb-scotland); repeat for several (default: every voice installed "
                            "but Kokoro's)")
    synth.add_argument("--text", metavar="FILE",
                       help="speak these sentences (one per line of a UTF-8 file) instead of generated text")
    synth.add_argument("--seed", type=seed_arg, default=0)

    add_lm_command(commands, task="speech", tokenize_help="Each line is normalized as transcripts are (lowercase, "
                   "numbers spelled out, punctuation removed).")

    export = commands.add_parser("export", help="write the model as SavedModel, TFLite or ONNX for deployment "
                                                "(the network only; 'transcribe --model' runs the result)",
                                 parents=[options])
    add_export_arguments(export)

    add_serve_command(commands, task="speech", parents=[options])
    return parser


def _render(result, format):
    """One transcript in one format (text ending in a newline): :func:`speech.formats.render`."""
    from speech.formats import render

    return render(result, format)


def _transcribe(args):
    from speech.transcriber import Transcriber

    formats = list(FORMATS) if args.format == "all" else [args.format]
    if args.output_dir is None and (args.format == "all" or (args.format in ("srt", "vtt", "tsv")
                                                              and len(args.files) > 1)):
        many = "several formats" if args.format == "all" else f"several files as {args.format}"
        raise ConfigError(f"{many} cannot share one stream (it would not be a valid file); pass --output-dir DIR "
                          f"for one file per input and format. Received: format={args.format!r}, "
                          f"files={len(args.files)}")
    plans = None
    if args.output_dir is not None:
        plans = plan_outputs(args.files, args.output_dir, [SUFFIXES[f] for f in formats], overwrite=args.overwrite)
    transcriber = Transcriber.load(args.model, batch_size=args.batch_size, max_chunk_seconds=args.max_chunk_seconds,
                                   max_seconds=args.max_seconds, max_batch_mb=args.max_batch_mb, lm=args.lm,
                                   hotwords=args.hotwords, words=args.words)
    with stdin_inputs(args.files, what="files") as (files, rename):
        results = [rename(r) for r in transcriber.transcribe(files, beam_width=args.beam,
                                                            progress=sys.stderr.isatty())]
    for index, result in enumerate(results):
        if plans is not None:
            if result.ok:
                for format, path in zip(formats, plans[index]):
                    write_text(path, _render(result, format))
            continue
        if args.format == "json":
            sys.stdout.write(_render(result, "json"))  # a failed file too, with its error
            continue
        if not result.ok:
            continue
        if args.with_names and args.format == "txt":
            print(f"==> {result.source} <==")
        sys.stdout.write(_render(result, args.format))
    return report_failures([r.error for r in results if not r.ok], total=len(results), what="files")


def _batch(args):
    from common.cli import absolute_path_options, run_batch_command
    from speech.batch import AUDIO_KEYS, AUDIO_SUFFIXES, transcriber_worker

    options = absolute_path_options(
        {"model": args.model, "beam_width": args.beam, "lm": args.lm, "hotwords": args.hotwords,
         "words": args.words, "max_chunk_seconds": args.max_chunk_seconds, "max_seconds": args.max_seconds,
         "max_batch_mb": args.max_batch_mb, "batch_size": args.batch_size}, ("model", "lm", "words"))
    settings = {key: value for key, value in options.items() if key != "batch_size"}  # batch size: same text
    return run_batch_command(args, task="speech", factory=transcriber_worker, options=options,
                             settings=settings, suffixes=AUDIO_SUFFIXES, source_keys=AUDIO_KEYS, what="file")


def _train(args):
    from common.cli import train_config_from_args
    from common.training import train
    from speech.task import SpeechTask
    from speech.transcriber import DEFAULT_MODEL

    config = train_config_from_args(args, model_settings={"units": args.units, "num_layers": args.layers},
                                    default_model=DEFAULT_MODEL)
    train(SpeechTask(), config)
    return 0


def _eval(args):
    from common.cli import evaluation_report
    from common.metrics import error_rates
    from speech.data import load_speech_dataset
    from speech.transcriber import Transcriber

    utterances = load_speech_dataset(args.data)
    transcriber = Transcriber.load(args.model, lm=args.lm, hotwords=args.hotwords, words=args.words)
    results = transcriber.transcribe([u.audio for u in utterances], beam_width=args.beam,
                                     progress=sys.stderr.isatty())
    kept = [(str(u.audio), transcriber.preprocessor.normalize_text(u.text), r.text)
            for u, r in zip(utterances, results) if r.ok]
    names, references, outputs = ([k[i] for k in kept] for i in range(3))
    report = evaluation_report(names, references, outputs, args.report) if args.report else None
    print_rates(error_rates(references, outputs), count=len(kept), as_json=args.json, report=report)
    return report_failures([r.error for r in results if not r.ok], total=len(results), what="files")


def _synth(args):
    from speech.synth import synthesize_dataset

    texts = read_text_lines(args.text) if args.text else None
    count = args.num_utterances or (len(texts) if texts else None)
    if count is None:
        raise ConfigError("speech synth needs -n N (utterances to speak), or --text FILE (one sentence each). "
                          "Received: num_utterances=None")
    print(synthesize_dataset(args.out, count, seed=args.seed, texts=texts, voices=args.voice))
    return 0


def _export(args):
    from common.export import run_export
    from speech.transcriber import DEFAULT_MODEL

    return run_export(args, default_model=DEFAULT_MODEL, task="speech", train_command="speech train")


def _serve(args):
    from common.serving.server import run_serve

    return run_serve(args, task="speech")


def _lm(args):
    from common.cli import run_lm_build
    from speech.text import normalize_transcript

    return run_lm_build(args, tokenize=lambda line: normalize_transcript(line).split())


COMMANDS = {"transcribe": _transcribe, "batch": _batch, "train": _train, "eval": _eval, "synth": _synth,
            "export": _export, "lm": _lm, "serve": _serve}


def main(argv=None):
    """Console entry point of ``speech``."""
    return run_main(build_parser, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
