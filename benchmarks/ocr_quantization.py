"""Speed study of OCR inference: int8 ONNX and narrower networks against the fp32 ONNX twin and Tesseract 5.

    OMP_THREAD_LIMIT=1 python benchmarks/ocr_quantization.py --lines 50 --rounds 5

- Lines: the held-out slices of ``benchmarks/ocr_vs_tesseract.py`` (``--lines`` per slice, 12 slices).
- Variants of the shipped model's ONNX twin (``ocr/models/default.onnx``), made by ONNX Runtime's quantizer
  (``common.export.quantize_onnx``): ``int8 dynamic`` (weights int8, activations quantized per call; Conv and
  MatMul, inside the LSTM loops too), ``int8 dynamic, MatMul only`` (the convolutions stay fp32), ``int8 static``
  (QDQ with activation ranges calibrated on ``--calibration-lines`` lines rendered in training fonts).
- Narrower networks (``--narrow``): new, untrained models of other encoder widths, exported to ONNX: their speed
  only (an untrained network runs as fast as a trained one); with their parameter counts and multiply-adds.
- Speed is measured in interleaved rounds, so that a machine whose load changes treats every system alike: each
  round reads ``--batch-lines`` lines in one call (batch) and ``--single-lines`` lines one per call with every
  system, Tesseract (tesserocr in this process, one OpenMP thread, one line per call) included. Median over rounds.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # before tesserocr is imported: Tesseract with one thread
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT, fold_text, markdown_table, print_header, stopwatch  # noqa: E402


def multiply_adds_per_column(frontend, encoder, num_classes, height):
    """Multiply-adds of the network per input pixel column (3x3 convolutions, projection, BiLSTM, head)."""
    macs, rows, channels, per_frame = 0.0, height, 1, 1.0
    for filters, t, f in zip(frontend["filters"], frontend["time_strides"], frontend["feature_strides"]):
        macs += 9 * channels * filters * rows / per_frame
        channels, rows, per_frame = filters, rows // f, per_frame * t
    features = channels * rows
    if frontend.get("projection_units"):
        macs += features * frontend["projection_units"] / per_frame
        features = frontend["projection_units"]
    units = encoder["units"]
    for _ in range(encoder["num_layers"]):
        macs += 2 * 4 * units * (features + units) / per_frame
        features = 2 * units
    return macs + features * num_classes / per_frame


def calibration_features(model, num_lines, seed):
    """``[(features, lengths)]`` one line each, rendered in training fonts (not the held-out ones)."""
    sys.path.insert(0, str(ROOT / "recipes"))
    import numpy as np
    from common.corpus import PRINTABLE_ASCII
    from ocr.data import load_line_dataset
    from ocr.synth import synthesize_dataset
    from ocr_broad import split_fonts

    folder = Path(tempfile.mkdtemp(prefix="ocr-calibration-"))
    try:
        synthesize_dataset(folder / "set", num_lines, fonts=split_fonts()[0][::5], seed=seed, charset=PRINTABLE_ASCII,
                           progress=False)
        items = []
        for example in load_line_dataset(folder / "set"):
            strip = model.preprocessor(str(example.image))
            items.append((strip[None].astype(np.float32), np.array([strip.shape[0]], np.int32)))
        return items
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def narrow_models(work, widths):
    """``{label: (onnx path, parameters, front end config, encoder config)}`` of new, untrained OCR models."""
    import numpy as np
    from common.alphabet import Alphabet
    from common.corpus import PRINTABLE_ASCII
    from common.export import export_model
    from ocr.task import build_ocr_model

    out = {}
    for units, filters in widths:
        model = build_ocr_model(Alphabet(PRINTABLE_ASCII), units=units, filters=filters)
        model({"features": np.zeros((1, 64, 32), np.float32), "lengths": np.array([64], np.int32)})  # builds it
        path = export_model(model, work / f"narrow_{units}_{'-'.join(map(str, filters))}.onnx", overwrite=True)
        out[f"untrained, filters {'-'.join(map(str, filters))}, BiLSTM 2 x {units}"] = (
            path, model.count_params(), model.frontend.get_config(), {"units": units, "num_layers": 2})
    return out


def tesseract_reader():
    import glob

    import tesserocr
    from PIL import Image

    kwargs = {}
    if "eng" not in tesserocr.get_languages()[1]:
        found = [d for p in ("/usr/share/tesseract-ocr/*/tessdata", "/usr/share/tessdata") for d in glob.glob(p)]
        kwargs["path"] = sorted(found)[-1]
    api = tesserocr.PyTessBaseAPI(lang="eng", psm=tesserocr.PSM.SINGLE_LINE, oem=tesserocr.OEM.LSTM_ONLY, **kwargs)
    api.SetVariable("debug_file", "/dev/null")

    def read(paths):
        texts = []
        for path in paths:
            with Image.open(path) as image:
                api.SetImage(image)
                texts.append(api.GetUTF8Text())
        return texts

    return read, tesserocr.tesseract_version().split()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=50, help="lines per held-out slice, for CER (12 slices)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved timing rounds")
    parser.add_argument("--batch-lines", type=int, default=192, help="lines read in one call per round")
    parser.add_argument("--single-lines", type=int, default=32, help="lines read one per call per round")
    parser.add_argument("--calibration-lines", type=int, default=200)
    parser.add_argument("--narrow", action="store_true", help="also time untrained narrower networks")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    print_header("OCR inference speed: int8 ONNX, narrower networks, Tesseract", ("onnxruntime", "tesserocr"))
    import numpy as np
    from benchmarks.ocr_vs_tesseract import held_out_fonts, render_slices
    from common.export import QUANTIZATIONS, quantize_onnx
    from common.metrics import cer
    from ocr import Reader

    twin = ROOT / "ocr" / "models" / "default.onnx"
    work = Path(tempfile.mkdtemp(prefix="ocr-int8-"))
    try:
        slices = render_slices(work / "lines", args.lines, held_out_fonts(), args.seed, 50)
        keys = list(slices)
        paths = [p for k in keys for p in slices[k][0]]
        refs = [fold_text(t) for k in keys for t in slices[k][1]]
        fp32 = Reader.load(twin)
        calibration = calibration_features(fp32.model, args.calibration_lines, args.seed + 7)
        variants = {"fp32 ONNX twin (shipped)": twin}
        for mode in QUANTIZATIONS:
            variants[f"int8 {mode}"] = quantize_onnx(twin, work / f"{mode}.onnx", mode=mode,
                                                     calibration=calibration if mode == "static" else None)
        readers = {name: Reader.load(path) for name, path in variants.items()}
        sizes = {name: Path(path).stat().st_size / 2**20 for name, path in variants.items()}
        info = {}
        if args.narrow:
            for name, (path, params, frontend, encoder) in narrow_models(work, [(128, (16, 32, 64)),
                                                                                (96, (16, 32, 64)),
                                                                                (64, (16, 32, 64)),
                                                                                (96, (16, 24, 48))]).items():
                readers[name] = Reader.load(path)
                sizes[name] = Path(path).stat().st_size / 2**20
                info[name] = (params, multiply_adds_per_column(frontend, encoder, 96, 32))

        # accuracy (batch reads), per group of slices
        texts = {name: [fold_text(r.text) for r in reader.read(paths, layout="line")]
                 for name, reader in readers.items() if not name.startswith("untrained")}
        tesseract, version = tesseract_reader()
        texts[f"Tesseract {version}"] = [fold_text(t) for t in tesseract(paths)]
        groups = {"all": lambda k: True, "clean": lambda k: k[2] == "clean", "degraded": lambda k: k[2] == "degraded",
                  "Ghostscript": lambda k: k[1] == "ghostscript", "technical": lambda k: k[0] == "technical",
                  "numbers": lambda k: k[0] == "numbers"}
        index = {g: [i for i, k in enumerate(k for k in keys for _ in range(args.lines)) if member(k)]
                 for g, member in groups.items()}
        rows = []
        base = texts["fp32 ONNX twin (shipped)"]
        for name, hyp in texts.items():
            rows.append([name] + [f"{cer([refs[i] for i in idx], [hyp[i] for i in idx]):.2%}" for idx in index.values()]
                        + [str(sum(a != b for a, b in zip(hyp, base)))])
        print(f"CER on {len(paths)} held-out lines ({args.lines} per slice; batch reads):\n")
        print(markdown_table(["system"] + [f"CER {g}" for g in groups] + ["lines read unlike fp32"], rows))

        # speed: interleaved rounds
        rng = np.random.default_rng(args.seed)
        systems = list(readers) + ["Tesseract"]
        batch_rates, single_rates = {s: [] for s in systems}, {s: [] for s in systems}
        for reader in readers.values():
            reader.read(paths[:64], layout="line")  # warm-up
        for _ in range(args.rounds):
            chosen = [paths[int(i)] for i in rng.choice(len(paths), args.batch_lines, replace=False)]
            for system in systems:
                if system == "Tesseract":
                    with stopwatch() as watch:
                        tesseract(chosen[:args.single_lines])
                    single_rates[system].append(args.single_lines / watch.seconds)
                    continue
                with stopwatch() as watch:
                    readers[system].read(chosen, layout="line")
                batch_rates[system].append(len(chosen) / watch.seconds)
                with stopwatch() as watch:
                    for path in chosen[:args.single_lines]:
                        readers[system].read([path], layout="line")
                single_rates[system].append(args.single_lines / watch.seconds)
        tesseract_rate = statistics.median(single_rates["Tesseract"])
        rows = []
        for system in systems:
            batch = statistics.median(batch_rates[system]) if batch_rates[system] else None
            single = statistics.median(single_rates[system])
            params, macs = info.get(system, ("", None))
            rows.append([system, f"{sizes[system]:.2f}" if system in sizes else "",
                         str(params), f"{macs / 1e3:.0f}k" if macs else "",
                         f"{batch:.0f}" if batch else "", f"{batch / tesseract_rate:.2f}x" if batch else "",
                         f"{single:.0f}", f"{single / tesseract_rate:.2f}x"])
        print(f"\nSpeed, median of {args.rounds} interleaved rounds ({args.batch_lines} lines in one call, "
              f"{args.single_lines} lines one per call, per round; ratio to Tesseract's one-thread lines/s):\n")
        print(markdown_table(["system", "MB", "parameters", "multiply-adds per pixel column", "lines/s batch",
                              "batch / Tesseract", "lines/s 1 line/call", "1 line/call / Tesseract"], rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
