"""``ocr``: read text from images, train and evaluate models, render training data.

    ocr read IMAGES... [--model M] [--json] [--beam N] [--layout line|page|auto] [--lm none|PATH]
             [--hotwords "Kubernetes,nginx:5"] [--words FILE]
             [--format text|json|hocr|alto|page|tsv|pdf] [--output-dir DIR] [--pages 1-3] [--dpi 300]
    ocr batch FOLDER|GLOB|MANIFEST... --output-dir DIR [--address auto|HOST:PORT] [--workers N] [--local]
              [--files-per-shard N] [--shard-format jsonl|parquet] [--retry-failed] [read's model options]
    ocr lm build --text corpus.txt --order 4 --out my.lm
    ocr train --data D [--val V] --out M [--from M0|default] [--max-minutes N] [--resume] ...
    ocr eval --data D [--model M] [--layout line|page|auto] [--report N]
    ocr synth --out D -n N | --text FILE [--font PATH|NAME]
    ocr export --out PATH [--model M] [--format savedmodel|tflite|onnx] [--batch-size N]
    ocr serve [--port 8000] [--with speech] [--batch-window-ms 5] [--max-bytes N] ...  (the HTTP service)
"""

import argparse
import json
import sys

from common.cli import (MAX_FAILURE_STATUS, MAX_GENERATED, add_batch_arguments, add_decoding_arguments,
                        add_lm_command, add_report_argument, add_train_arguments, add_version, batch_size_arg,
                        beam_width_arg, command_options, model_size_args, positive_int, print_rates, read_text_lines,
                        report_failures, run_main, seed_arg, stdin_inputs)
from common.errors import ConfigError
from common.export import add_export_arguments
from common.limits import count_arg
from common.serving.options import add_serve_command
from ocr import defaults

__all__ = ["main", "build_parser"]

LM_HELP = "none (default: plain CTC decoding) or an ARPA / KenLM binary file, e.g. from 'ocr lm build'"
BEAM_HELP = "beam width (default: 1 = greedy; with --lm, the LM's tuned width)"
# --format names -> file extensions (as ocr.document_formats.FORMATS; repeated here so that --help needs no import)
DOCUMENT_FORMATS = {"text": ".txt", "json": ".json", "hocr": ".hocr", "alto": ".alto.xml", "page": ".page.xml",
                    "tsv": ".tsv", "pdf": ".pdf"}


def add_reading_arguments(parser):
    """The options of ``read`` and ``batch`` that choose the model and how it reads."""
    parser.add_argument("--model", help="model file (default: the shipped model)")
    parser.add_argument("--beam", type=beam_width_arg, default=defaults.BEAM_WIDTH, help=BEAM_HELP)
    add_decoding_arguments(parser, lm_default=defaults.LM, lm_help=LM_HELP)
    parser.add_argument("--layout", choices=defaults.LAYOUTS, default=defaults.LAYOUT,
                        help=f"line: each image is one line; page: split into lines; auto: decide per image "
                             f"(default {defaults.LAYOUT})")
    parser.add_argument("--batch-size", type=batch_size_arg, default=defaults.BATCH_SIZE)
    parser.add_argument("--max-pixels", type=positive_int,
                        help="refuse larger images (decompression bombs; default: 89,478,485 as in Pillow)")
    parser.add_argument("--max-batch-mb", type=float,
                        help="cap on one padded batch of line strips in MiB (lines x width x height x 4 bytes); "
                             "batches are split to fit, a line that alone exceeds it is an error (default: 4)")
    return parser


def build_parser():
    units_arg, layers_arg = model_size_args()
    parser = argparse.ArgumentParser(prog="ocr", description="Read text from images with a BiLSTM-CTC model.")
    add_version(parser)
    commands = parser.add_subparsers(dest="command", required=True)
    options = command_options()

    read = commands.add_parser("read", help="read text from image files", parents=[options])
    read.add_argument("images", nargs="+", help="image files (PNG, JPEG, TIFF, BMP, WebP, GIF), PDF files and "
                                                "multi-page TIFF files (one result per page); '-' reads one image "
                                                "from stdin")
    add_reading_arguments(read)
    read.add_argument("--json", action="store_true",
                      help="one JSON object per image, with lines, words and characters and their boxes, and the "
                           "error of an image that failed")
    read.add_argument("--format", choices=tuple(DOCUMENT_FORMATS), default="text",
                      help="text (default), json (one object per image or page), hocr, alto (ALTO v4), page "
                           "(PAGE-XML 2019, one file per page), tsv (Tesseract's columns), pdf (the pages with an "
                           "invisible text layer; needs --output-dir)")
    read.add_argument("--output-dir", help="write one file per input here (NAME.txt, .json, .hocr, .alto.xml, "
                                           ".page.xml, .tsv, .pdf) instead of printing")
    read.add_argument("--pages", help="pages of PDF and multi-page TIFF inputs to read, e.g. 1-3,5 (default: all)")
    read.add_argument("--dpi", type=float, default=300.0, help="resolution PDF pages are rendered at (300)")
    read.add_argument("--with-names", action="store_true",
                      help="plain text on stdout: put a '==> NAME <==' line (as head does) before each text")

    batch = commands.add_parser("batch", help="read a large collection (folder, glob, manifest) on a Ray cluster "
                                              "into resumable JSONL/Parquet shards", parents=[options])
    batch.add_argument("inputs", nargs="+", metavar="INPUT",
                       help="folders (their images, in subfolders too), glob patterns ('scans/**/*.png'), manifests "
                            "(.tsv/.csv/.jsonl with an image, path or file column) or image files")
    add_reading_arguments(batch)
    add_batch_arguments(batch, what="image")

    train = commands.add_parser("train", help="train or fine-tune a model on line images + transcripts",
                                parents=[options])
    add_train_arguments(train)
    train.add_argument("--height", type=count_arg("height", maximum=1024),
                       help=f"strip height of a new model (px; default {defaults.HEIGHT}); with --from or --resume "
                            f"the model's own is used, and another one is refused")
    train.add_argument("--units", type=units_arg, default=defaults.ENCODER["units"],
                       help=f"LSTM units per direction (new model; default {defaults.ENCODER['units']})")
    train.add_argument("--layers", type=layers_arg, default=defaults.ENCODER["num_layers"],
                       help=f"BiLSTM layers (new model; default {defaults.ENCODER['num_layers']})")

    evaluate = commands.add_parser("eval", help="CER, WER and exact-line rate on a labelled data set",
                                   parents=[options])
    evaluate.add_argument("--data", required=True, help="folder of image + .gt.txt pairs, or a manifest")
    evaluate.add_argument("--model", help="model file (default: the shipped model)")
    evaluate.add_argument("--beam", type=beam_width_arg, default=defaults.BEAM_WIDTH, help=BEAM_HELP)
    add_decoding_arguments(evaluate, lm_default=defaults.LM, lm_help=LM_HELP)
    evaluate.add_argument("--layout", choices=defaults.LAYOUTS, default="line",
                          help="line (default): each image is one line; page: split into lines first, and compare "
                               "the texts with line breaks as spaces; auto: decide per image")
    evaluate.add_argument("--json", action="store_true", help="print the figures as JSON")
    add_report_argument(evaluate)

    synth = commands.add_parser("synth", help="render a synthetic training set (name.png + name.gt.txt)",
                                parents=[options])
    synth.add_argument("--out", required=True, help="output folder")
    synth.add_argument("-n", "--num-lines", type=count_arg("num_lines", maximum=MAX_GENERATED),
                       help="lines to render (required without --text; with it, default: one per line of the file)")
    synth.add_argument("--font", action="append", metavar="PATH|NAME",
                       help="render with this font file, or the installed fonts named like it (e.g. DejaVuSans); "
                            "repeat for several (default: every installed font that covers the text)")
    synth.add_argument("--text", metavar="FILE",
                       help="render these lines (one per line of a UTF-8 file) instead of generated text")
    synth.add_argument("--seed", type=seed_arg, default=0)
    synth.add_argument("--clean-fraction", type=float, default=0.3, help="share of undegraded lines (0.3)")
    synth.add_argument("--max-chars", type=count_arg("max_chars", maximum=1000), default=50)
    synth.add_argument("--rasteriser", action="append", metavar="NAME",
                       help="draw with pillow, pango (pango-view), imagemagick or ghostscript; repeat to mix them "
                            "(default: pillow)")

    add_lm_command(commands, task="ocr", tokenize_help="Tokens are split at spaces and looked up as the decoder "
                   "does (lowercase, surrounding punctuation removed; numbers and codes left out).")

    export = commands.add_parser("export", help="write the model as SavedModel, TFLite or ONNX for deployment "
                                                "(the network only; 'read --model' runs the result)",
                                 parents=[options])
    add_export_arguments(export)

    add_serve_command(commands, task="ocr", parents=[options])
    return parser


def _read(args):
    from ocr.reader import Reader

    fmt = "json" if args.json else args.format
    if fmt == "pdf" and not args.output_dir:
        raise ConfigError("--format pdf writes files: add --output-dir DIR. Received: output_dir=None")
    if args.pages is not None:
        from ocr.pages import parse_page_ranges

        parse_page_ranges(args.pages)  # a bad range is an error before the model loads
    reader = Reader.load(args.model, batch_size=args.batch_size, max_pixels=args.max_pixels,
                         max_batch_mb=args.max_batch_mb, lm=args.lm, hotwords=args.hotwords,
                         words=args.words)
    files = [path for path in args.images if path != "-"]
    if fmt not in ("text", "json") or args.output_dir or args.pages or _any_multipage(files):
        if len(files) < len(args.images):
            raise ConfigError("standard input ('-') is read as one image, in text or json on standard output; pass "
                              "a file for documents, pages or --output-dir. Received: images=['-', ...]")
        return _read_documents(reader, args, fmt)
    with stdin_inputs(args.images, what="images") as (images, rename):
        results = [rename(r) for r in reader.read(images, beam_width=args.beam, layout=args.layout,
                                                  progress=len(images) > 20 and sys.stderr.isatty())]
    for result in results:
        if args.json:
            text = json.dumps(result.to_dict(), ensure_ascii=False)  # a failed image too, with its error
        elif result.ok:
            text = result.text
        else:
            continue
        if args.with_names and not args.json:
            print(f"==> {result.source} <==")
        print(text)
    return report_failures([r.error for r in results if not r.ok], total=len(results), what="images")


def _any_multipage(paths):
    from ocr.pages import is_multipage

    return any(is_multipage(path) for path in paths)


def _read_documents(reader, args, fmt):
    """Read each input as a document (its pages) and print or write it in ``fmt``."""
    from pathlib import Path

    from common.model_file import atomic_write
    from ocr import document_formats

    failures, failed_inputs = [], 0
    stems = {}
    for path in args.images:
        read = reader.read_document(path, pages=args.pages, dpi=args.dpi, beam_width=args.beam, layout=args.layout,
                                    return_images=fmt == "pdf")  # only the PDF writer needs the page images
        results, images = read if fmt == "pdf" else (read, None)
        failures += [r.error for r in results if not r.ok]
        failed_inputs += any(not r.ok for r in results)
        documents = document_formats.render_document(results, fmt, images=images,
                                                     json_lines=not args.output_dir)
        for suffix, content in documents:
            if not args.output_dir:
                sys.stdout.write(content if content.endswith("\n") else content + "\n")
                continue
            stem = Path(path).name.rsplit(".", 1)[0] if "." in Path(path).name else Path(path).name
            stems[stem] = stems.get(stem, 0) + 1
            if stems[stem] > 1:  # two inputs with one name (a/x.png, b/x.png): keep both
                stem = f"{stem}-{stems[stem]}"
            target = Path(args.output_dir) / f"{stem}{suffix}{DOCUMENT_FORMATS[fmt]}"
            data = content if isinstance(content, bytes) else content.encode("utf-8")
            atomic_write(target, lambda tmp, data=data: Path(tmp).write_bytes(data))
            print(target)
    for message in failures:
        print(f"error: {message}", file=sys.stderr)
    if failures:
        print(f"{failed_inputs} of {len(args.images)} images failed", file=sys.stderr)
    return min(failed_inputs, MAX_FAILURE_STATUS) if failures else 0


def _batch(args):
    from common.cli import absolute_path_options, run_batch_command
    from ocr.batch import IMAGE_COLUMNS, IMAGE_SUFFIXES, reader_worker

    options = absolute_path_options(
        {"model": args.model, "beam_width": args.beam, "layout": args.layout, "lm": args.lm,
         "hotwords": args.hotwords, "words": args.words, "max_pixels": args.max_pixels,
         "max_batch_mb": args.max_batch_mb, "batch_size": args.batch_size}, ("model", "lm", "words"))
    settings = {key: value for key, value in options.items() if key != "batch_size"}  # batch size: same text
    return run_batch_command(args, task="ocr", factory=reader_worker, options=options, settings=settings,
                             suffixes=IMAGE_SUFFIXES, source_keys=IMAGE_COLUMNS, what="image")


def _train(args):
    from common.training import train
    from ocr.reader import DEFAULT_MODEL
    from ocr.task import OcrTask
    from common.cli import train_config_from_args

    config = train_config_from_args(
        args, model_settings={"units": args.units, "num_layers": args.layers}, default_model=DEFAULT_MODEL)
    train(OcrTask(height=args.height), config)
    return 0


def _eval(args):
    from common.cli import evaluation_report
    from common.metrics import error_rates
    from ocr.data import load_line_dataset
    from ocr.reader import Reader

    examples = load_line_dataset(args.data)
    reader = Reader.load(args.model, lm=args.lm, hotwords=args.hotwords, words=args.words)
    # References are normalized as in training (the model's rule); with page layouts, line breaks count as spaces.
    results = reader.read([e.image for e in examples], beam_width=args.beam, layout=args.layout,
                          progress=sys.stderr.isatty())
    flat = (lambda text: text) if args.layout == "line" else (lambda text: " ".join(text.split()))
    kept = [(str(e.image), flat(reader.preprocessor.normalize_text(e.text)), flat(r.text))
            for e, r in zip(examples, results) if r.ok]
    names, references, outputs = ([k[i] for k in kept] for i in range(3))
    report = evaluation_report(names, references, outputs, args.report) if args.report else None
    print_rates(error_rates(references, outputs), count=len(kept), as_json=args.json, report=report)
    return report_failures([r.error for r in results if not r.ok], total=len(results), what="images")


def _synth(args):
    from ocr.synth import resolve_fonts, synthesize_dataset

    texts = read_text_lines(args.text) if args.text else None
    num_lines = args.num_lines or (len(texts) if texts else None)
    if num_lines is None:
        raise ConfigError("ocr synth needs -n N (lines to render), or --text FILE (one line each). Received: "
                          "num_lines=None")
    fonts = resolve_fonts(args.font) if args.font else None
    path = synthesize_dataset(args.out, num_lines, seed=args.seed, degrade_fraction=1.0 - args.clean_fraction,
                              max_chars=args.max_chars, fonts=fonts, texts=texts,
                              rasterisers=args.rasteriser or ("pillow",))
    print(path)
    return 0


def _export(args):
    from common.export import run_export
    from ocr.reader import DEFAULT_MODEL

    return run_export(args, default_model=DEFAULT_MODEL, task="ocr", train_command="ocr train")


def _serve(args):
    from common.serving.server import run_serve

    return run_serve(args, task="ocr")


def _lm(args):
    from common.cli import run_lm_build
    from ocr.reader import word_key

    return run_lm_build(args, tokenize=lambda line: [w for w in map(word_key, line.split()) if w])


COMMANDS = {"read": _read, "batch": _batch, "train": _train, "eval": _eval, "synth": _synth, "export": _export,
            "lm": _lm, "serve": _serve}


def main(argv=None):
    """Console entry point of ``ocr``."""
    return run_main(build_parser, COMMANDS, argv)


if __name__ == "__main__":
    sys.exit(main())
