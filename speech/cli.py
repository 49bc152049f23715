"""``speech``: transcribe audio files, train and evaluate models, synthesize training speech.

    speech transcribe FILES... [--model M] [--format txt|json|srt|vtt] [--beam N]
    speech train --data D [--val V] --out M [--from M0|default] [--max-minutes N] [--resume] ...
    speech eval --data D [--model M]
    speech synth --out D -n N
    speech export --out PATH [--model M] [--format savedmodel|tflite|onnx] [--batch-size N]
"""

import argparse
import json
import sys

from common.cli import (MAX_GENERATED, add_train_arguments, batch_size_arg, beam_width_arg, model_size_args,
                        print_rates, report_failures, run_main, seed_arg)
from common.export import add_export_arguments
from common.limits import count_arg
from speech import defaults

__all__ = ["main", "build_parser"]

FORMATS = ("txt", "json", "srt", "vtt")


def build_parser():
    units_arg, layers_arg = model_size_args()
    parser = argparse.ArgumentParser(prog="speech", description="Transcribe speech with a BiLSTM-CTC model.")
    commands = parser.add_subparsers(dest="command", required=True)

    transcribe = commands.add_parser("transcribe", help="transcribe audio files (WAV, FLAC, OGG, MP3)")
    transcribe.add_argument("files", nargs="+")
    transcribe.add_argument("--model", help="model file (default: the shipped model)")
    transcribe.add_argument("--format", choices=FORMATS, default="txt",
                            help="txt: one line per file; json: one object per file with segments and words; "
                                 "srt / vtt: subtitles (several files are separated by a comment line)")
    transcribe.add_argument("--beam", type=beam_width_arg, default=defaults.BEAM_WIDTH,
                            help=f"beam width (1 = greedy; default {defaults.BEAM_WIDTH})")
    transcribe.add_argument("--max-chunk-seconds", type=float, default=defaults.MAX_CHUNK_SECONDS,
                            help=f"longest piece of audio run at once; long files are split at silences "
                                 f"(default {defaults.MAX_CHUNK_SECONDS:g})")
    transcribe.add_argument("--batch-size", type=batch_size_arg, default=defaults.BATCH_SIZE)
    transcribe.add_argument("--max-seconds", type=float, help="refuse files longer than this (default: no limit)")
    transcribe.add_argument("--max-batch-mb", type=float,
                            help="cap on one padded batch of features in MiB (chunks x frames x mels x 4 bytes); "
                                 "batches are split to fit, a chunk that alone exceeds it is an error (default: 4)")

    train = commands.add_parser("train", help="train or fine-tune a model on audio + transcripts")
    add_train_arguments(train)
    train.add_argument("--units", type=units_arg, default=defaults.ENCODER["units"],
                       help=f"LSTM units per direction (new model; default {defaults.ENCODER['units']})")
    train.add_argument("--layers", type=layers_arg, default=defaults.ENCODER["num_layers"],
                       help=f"BiLSTM layers (new model; default {defaults.ENCODER['num_layers']})")

    evaluate = commands.add_parser("eval", help="WER and CER on a labelled data set")
    evaluate.add_argument("--data", required=True, help="LJSpeech / LibriSpeech folder, Common Voice TSV, manifest")
    evaluate.add_argument("--model", help="model file (default: the shipped model)")
    evaluate.add_argument("--beam", type=beam_width_arg, default=defaults.BEAM_WIDTH)
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")

    synth = commands.add_parser("synth", help="synthesize a training set with the TTS engines on this machine")
    synth.add_argument("--out", required=True, help="output folder (LJSpeech layout)")
    synth.add_argument("-n", "--num-utterances", type=count_arg("num_utterances", maximum=MAX_GENERATED),
                       required=True)
    synth.add_argument("--seed", type=seed_arg, default=0)

    export = commands.add_parser("export", help="write the model as SavedModel, TFLite or ONNX for deployment "
                                                "(the network only; 'transcribe --model' runs the result)")
    add_export_arguments(export)
    return parser


def _transcribe(args):
    from speech.formats import to_srt, to_vtt
    from speech.transcriber import Transcriber

    transcriber = Transcriber.load(args.model, batch_size=args.batch_size, max_chunk_seconds=args.max_chunk_seconds,
                                  max_seconds=args.max_seconds, max_batch_mb=args.max_batch_mb)
    results = transcriber.transcribe(args.files, beam_width=args.beam, progress=sys.stderr.isatty())
    good = [r for r in results if r.ok]
    for result in good:
        if args.format == "txt":
            print(result.text)
        elif args.format == "json":
            print(json.dumps(result.to_dict(), ensure_ascii=False))
        else:
            if len(good) > 1:
                print(f"{'NOTE' if args.format == 'vtt' else '#'} {result.source}")
            print((to_srt if args.format == "srt" else to_vtt)(result.segments))
    return report_failures([r.error for r in results if not r.ok], total=len(results), what="files")


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
    from common.metrics import error_rates
    from speech.data import load_speech_dataset
    from speech.transcriber import Transcriber

    utterances = load_speech_dataset(args.data)
    transcriber = Transcriber.load(args.model)
    results = transcriber.transcribe([u.audio for u in utterances], beam_width=args.beam,
                                     progress=sys.stderr.isatty())
    pairs = [(transcriber.preprocessor.normalize_text(u.text), r.text) for u, r in zip(utterances, results) if r.ok]
    print_rates(error_rates([p[0] for p in pairs], [p[1] for p in pairs]), count=len(pairs), as_json=args.json)
    return report_failures([r.error for r in results if not r.ok], total=len(results), what="files")


def _synth(args):
    from speech.synth import synthesize_dataset

    print(synthesize_dataset(args.out, args.num_utterances, seed=args.seed))
    return 0


def _export(args):
    from common.export import run_export
    from speech.transcriber import DEFAULT_MODEL

    return run_export(args, default_model=DEFAULT_MODEL, task="speech", train_command="speech train")


COMMANDS = {"transcribe": _transcribe, "train": _train, "eval": _eval, "synth": _synth, "export": _export}


def main(argv=None):
    """Console entry point of ``speech``."""
    return run_main(build_parser, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
