"""Exporting a :class:`~common.recognizer.Recognizer` for deployment, and running an exported file.

:func:`export_model` writes a model as a TensorFlow SavedModel (a folder), a TFLite / LiteRT flat buffer
(``.tflite``) or an ONNX graph (``.onnx``) through Keras' own ``Model.export``. Every format has the same
contract, the network only; CTC decoding stays in Python (:mod:`common.ctc`), since decode ops do not convert:

- inputs ``features`` float32 ``(batch, time, num_features)`` and ``feature_lengths`` int32 ``(batch,)``;
- outputs ``logits`` float32 ``(batch, frames, num_classes)`` (blank = 0) and ``lengths`` int32 ``(batch,)``, the
  valid frames of each row.

The input lengths are not called ``lengths`` because ONNX gives inputs and outputs one namespace. Time is dynamic
in every format; the batch is dynamic in SavedModel and ONNX, but fixed in TFLite (1 unless told otherwise): the
masked LSTM loops over a TensorList whose element shape ``(batch, units)`` must be static for the converter to lower
it to TFLite builtin ops, and the alternative (select TF ops) needs the Flex delegate, which neither the
``ai-edge-litert`` interpreter nor TensorFlow's own ``tf.lite.Interpreter`` has. :class:`ExportedModel` splits and
pads batches to that size.

Each exported file carries the model's metadata (task, alphabet, preprocessing) as JSON under the key
``ctc_toolkit``: in the ONNX ``metadata_props``, in the TFLite model's ``metadata`` list, and as
``assets.extra/ctc_toolkit.json`` in a SavedModel folder. So :class:`ExportedModel` is self-contained like a
``.keras`` file, and ``ocr.Reader`` / ``speech.Transcriber`` run one in place of the Keras model
(``Reader.load("model.onnx")``) with the same text out.

Outputs are written atomically (a temporary file or folder beside the target, then a rename), and an existing
output is only replaced when ``overwrite=True``. TensorFlow, Keras and the converters are imported only when needed,
so the command lines can import :func:`add_export_arguments` and still answer ``--help`` at once.

:func:`quantize_onnx` writes an int8 copy of an ONNX export (the ``export`` command's ``--quantize``). The shipped
OCR twin is one (``dynamic_recurrent``: int8 LSTM and matrix-product weights, float convolutions): on one quiet core
it reads 1.2x as many lines/s at batch and 1.5x one line per call, with the same CER
(benchmarks/results_ocr_vs_tesseract.md), but activations are quantized per batch, so a line's confidences (rarely its
text) depend on the lines read with it. A float32 export reads exactly as the ``.keras`` model does.
"""

import json
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path

import common  # noqa: F401  (pins the Keras backend)
import numpy as np

from common.errors import ConfigError, ModelFileError

__all__ = [
    "FORMATS",
    "EXPORT_VERSION",
    "INPUT_NAMES",
    "OUTPUT_NAMES",
    "export_model",
    "ExportedModel",
    "format_of",
    "is_exported_path",
    "add_export_arguments",
    "run_export",
    "QUANTIZATIONS",
    "DYNAMIC_QUANTIZATIONS",
    "quantize_onnx",
]

FORMATS = ("savedmodel", "tflite", "onnx")
EXPORT_VERSION = 1
INPUT_NAMES = ("features", "feature_lengths")
OUTPUT_NAMES = ("logits", "lengths")
METADATA_KEY = "ctc_toolkit"
ONNX_OPSET = 17
SUFFIXES = {"onnx": ".onnx", "tflite": ".tflite"}
QUANTIZATIONS = ("dynamic", "dynamic_matmul", "dynamic_recurrent", "static")
"""int8 variants :func:`quantize_onnx` makes: ``dynamic`` (int8 weights of the convolutions, the LSTMs and the
matrix products, activations quantized per call), ``dynamic_matmul`` (matrix products only), ``dynamic_recurrent``
(the fused ``LSTM`` operators and the matrix products; the convolutions stay float: ONNX Runtime's ``ConvInteger``
is slower than its float convolution on CPUs), ``static`` (QDQ, activation ranges calibrated on given inputs)."""
DYNAMIC_QUANTIZATIONS = ("dynamic", "dynamic_matmul", "dynamic_recurrent")
"""The variants that need no calibration inputs (the ``export`` command's ``--quantize``)."""
_DYNAMIC_OPERATORS = {"dynamic": None, "dynamic_matmul": ["MatMul"], "dynamic_recurrent": ["LSTM", "MatMul"]}
"""ONNX operators each dynamic variant quantizes (``None``: every kind ONNX Runtime's quantizer can)."""
SAVED_MODEL_METADATA = Path("assets.extra") / f"{METADATA_KEY}.json"
INSTALL_HINT = "pip install 'ctc-toolkit[export]'"
ONNX_SPINNING_VARIABLE = "CTC_TOOLKIT_ONNX_SPINNING"
"""Environment variable: ``0`` stops ONNX Runtime's worker threads from spin-waiting for work between runs (unset or
``1``: ONNX Runtime's default, they spin). ``ocr serve`` / ``speech serve`` set 0: a server runs many small
batches beside its HTTP loop, and on 2 shared cores the spinning cost 17.8 CPU ms per line at batches of 16 against
12.1 ms without it (benchmarks/results_serve.md)."""
ONNX_THREADS_VARIABLE = "CTC_TOOLKIT_ONNX_THREADS"
"""Environment variable: threads of each ONNX Runtime / LiteRT forward pass when ``num_threads`` is not given (unset:
ONNX Runtime gets one per core this process may use, :func:`common.cpus.usable_cpus`; LiteRT its own default).
``ocr serve`` / ``speech serve --threads`` and the batch workers set it: one forward pass per core beside the
request threads costs less than one pass split over every core, whose threads wait for each other at every LSTM
step."""


def onnx_threads_from_environment():
    """The thread count :data:`ONNX_THREADS_VARIABLE` asks for, or ``None`` (unset or empty: the runtime decides)."""
    value = os.environ.get(ONNX_THREADS_VARIABLE, "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"{ONNX_THREADS_VARIABLE} must be a positive whole number of threads (or unset: every "
                          f"usable core). Received: {ONNX_THREADS_VARIABLE}={value!r}")
    return int(value)


def format_of(path):
    """The export format a path names: ``.onnx`` -> ``"onnx"``, ``.tflite`` -> ``"tflite"``, else ``"savedmodel"``."""
    suffix = Path(path).suffix.lower()
    for name, expected in SUFFIXES.items():
        if suffix == expected:
            return name
    return "savedmodel"


def is_exported_path(path):
    """Whether ``path`` names an exported model (an ``.onnx`` or ``.tflite`` file, or a folder) and not a ``.keras``
    file."""
    path = Path(path)
    return path.suffix.lower() in SUFFIXES.values() or path.is_dir()


def _check_format(format, path):
    if format is None:
        format = format_of(path)
    elif format not in FORMATS:
        raise ConfigError(f"Unknown export format; expected one of {', '.join(FORMATS)}. Received: format={format!r}")
    named = format_of(path)
    if named != format:
        hint = f"a path ending in {SUFFIXES[format]}" if format in SUFFIXES else "a folder path without .onnx/.tflite"
        raise ConfigError(f"{path}: a {format} export needs {hint}. Received: format={format!r}, path={str(path)!r}")
    suffix = Path(path).suffix
    if format == "savedmodel" and suffix and not Path(path).is_dir():
        # A SavedModel is a folder: "out.txt" or "model.keras" would be a folder with a file's name.
        raise ConfigError(
            f"{path}: a SavedModel export is a folder, so its path takes no file suffix; name an .onnx or .tflite "
            f"file for those formats, or a folder such as {str(Path(path).with_suffix(''))!r}. "
            f"Received: suffix={suffix!r}")
    return format


def _check_batch_size(batch_size, format):
    if batch_size is None:
        return 1 if format == "tflite" else None
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ConfigError(f"Received an invalid value for `batch_size`, expected a positive integer or None. "
                          f"Received: batch_size={batch_size!r}")
    return int(batch_size)


def _export_info(model, batch_size, source_sha256=None):
    info = {
        "export_version": EXPORT_VERSION,
        "metadata": dict(model.metadata),
        "num_features": int(model.num_features),
        "num_classes": int(model.num_classes),
        "time_downsampling": int(model.frontend.time_downsampling),
        "batch_size": batch_size,
        "inputs": list(INPUT_NAMES),
        "outputs": list(OUTPUT_NAMES),
    }
    if source_sha256 is not None:
        info["source_sha256"] = source_sha256
    return info


def _input_signature(model, batch_size):
    import tensorflow as tf

    # One positional argument, the dict the Recognizer takes; the spec names become the exported input names.
    return [{
        "features": tf.TensorSpec([batch_size, None, model.num_features], tf.float32, name=INPUT_NAMES[0]),
        "lengths": tf.TensorSpec([batch_size], tf.int32, name=INPUT_NAMES[1]),
    }]


def _refuse_existing(path, overwrite):
    """A :class:`ConfigError` when the output ``path`` exists and ``overwrite`` is false."""
    if path.exists() and not overwrite:
        raise ConfigError(f"{path}: the output exists already; pass overwrite=True (--overwrite) to replace it. "
                          f"Received: path={str(path)!r}")


def export_model(model, path, *, format=None, batch_size=None, overwrite=False, source_file=None):
    """Export a Recognizer's network (no decoding) to SavedModel, TFLite or ONNX.

    Args:
        model: a :class:`~common.recognizer.Recognizer`.
        path: the output: a folder for ``"savedmodel"``, a ``.tflite`` or ``.onnx`` file.
        format: ``"savedmodel"``, ``"tflite"`` or ``"onnx"``; ``None`` picks it from the path's suffix.
        batch_size: fix the batch dimension to this size. ``None``: dynamic for SavedModel and ONNX, 1 for TFLite
            (whose LSTM kernels need a static batch; see the module docstring).
        overwrite: replace an existing output; without it an existing path is an error.
        source_file: the ``.keras`` file ``model`` was loaded from; its SHA-256 is stored in the export
            (``ExportedModel.source_sha256``), so that a shipped ONNX twin can be checked against its ``.keras``.

    Returns:
        the output path, a :class:`~pathlib.Path`.

    Raises:
        ConfigError: an unknown format, a path that does not fit it, an existing output, or a missing converter
            package (ONNX needs ``tf2onnx`` and ``onnx``).
        ModelFileError: the converter failed.
    """
    from common.model_file import atomic_write
    from common.recognizer import Recognizer

    if not isinstance(model, Recognizer):
        raise TypeError(f"export_model needs a Recognizer (a loaded .keras model). "
                        f"Received: model={type(model).__name__}")
    path = Path(path)
    format = _check_format(format, path)
    batch_size = _check_batch_size(batch_size, format)
    _refuse_existing(path, overwrite)
    if format == "onnx":
        _require("tf2onnx", "onnx", what="ONNX export")
    from common.model_file import file_sha256

    info = _export_info(model, batch_size, None if source_file is None else file_sha256(source_file))
    signature = _input_signature(model, batch_size)
    write = {"savedmodel": _write_saved_model, "tflite": _write_tflite, "onnx": _write_onnx}[format]
    try:
        if format == "savedmodel":
            return _atomic_folder(path, lambda tmp: write(model, tmp, signature, info), overwrite=overwrite)
        return atomic_write(path, lambda tmp: write(model, tmp, signature, info))
    except (ConfigError, ModelFileError):
        raise
    except Exception as error:  # noqa: BLE001 - converters raise many types; the user needs one message
        raise ModelFileError(f"{path}: exporting the model to {format} failed: {error}") from error


def _require(*modules, what):
    import importlib.util

    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(f"{what} needs the packages {', '.join(missing)}, which are not installed; install them "
                          f"with: {INSTALL_HINT}. Received: missing={missing}")


def _atomic_folder(path, write, *, overwrite):
    """Call ``write(tmp_folder)`` and rename the folder to ``path``; an existing ``path`` is replaced only with
    ``overwrite`` (moved aside first, deleted after the rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    old = path.with_name(f".{path.name}.old-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write(tmp)
        if path.exists():
            if not overwrite:
                raise ConfigError(f"{path}: the output appeared while exporting; not replacing it. "
                                  f"Received: path={str(path)!r}")
            os.replace(path, old)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.is_dir():
            shutil.rmtree(old)
        elif old.exists():
            old.unlink()
    return path


def _write_saved_model(model, tmp, signature, info):
    model.export(str(tmp), format="tf_saved_model", input_signature=signature, verbose=False)
    (tmp / SAVED_MODEL_METADATA).parent.mkdir(exist_ok=True)
    (tmp / SAVED_MODEL_METADATA).write_text(json.dumps(info, ensure_ascii=False), encoding="utf-8")


def _write_tflite(model, tmp, signature, info):
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    # Builtin ops only: the result runs on the plain LiteRT interpreter (no Flex delegate needed).
    model.export(str(tmp), format="litert", input_signature=signature, verbose=False,
                 target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS]})
    flat = flatbuffer_utils.read_model(str(tmp))
    buffer = schema.BufferT()
    buffer.data = np.frombuffer(json.dumps(info, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    flat.buffers.append(buffer)
    entry = schema.MetadataT()
    entry.name = METADATA_KEY
    entry.buffer = len(flat.buffers) - 1
    flat.metadata = list(flat.metadata or []) + [entry]
    flatbuffer_utils.write_model(flat, str(tmp))


def _write_onnx(model, tmp, signature, info):
    """The front end through tf2onnx, then the encoder and the head as ONNX's fused ``LSTM`` operators
    (:mod:`common.onnx_lstm`: tf2onnx would write each masked LSTM as a slow ``Loop`` over time steps)."""
    import logging

    import onnx

    from common.onnx_lstm import append_encoder_and_head, front_end_model

    tf2onnx_logger = logging.getLogger("tf2onnx")
    level = tf2onnx_logger.level
    tf2onnx_logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # Keras' NumPy 2 patch of tf2onnx touches np.object
            front_end_model(model).export(str(tmp), format="onnx", input_signature=signature, verbose=False,
                                          opset_version=ONNX_OPSET)
    finally:
        tf2onnx_logger.setLevel(level)
    graph = onnx.load(str(tmp))
    append_encoder_and_head(graph.graph, model, sequence="sequence", lengths=OUTPUT_NAMES[1], logits=OUTPUT_NAMES[0])
    onnx.checker.check_model(graph)
    onnx.helper.set_model_props(graph, {METADATA_KEY: json.dumps(info, ensure_ascii=False)})
    onnx.save(graph, str(tmp))


def quantize_onnx(source, path, *, mode="dynamic", calibration=None, overwrite=False):
    """Write an int8 copy of an exported ``.onnx`` model (ONNX Runtime's quantizer); it runs like any export.

    Args:
        source: an ``.onnx`` file written by :func:`export_model` (e.g. a shipped twin).
        path: the output ``.onnx`` file.
        mode: one of :data:`QUANTIZATIONS`.
        calibration: for ``"static"``: a list of ``(features, lengths)`` arrays, one model input each.
        overwrite: replace an existing output.

    Returns:
        the output path, a :class:`~pathlib.Path`. Its metadata is the source's, with ``"quantization": mode``.
    """
    from common.model_file import atomic_write

    source, path = Path(source), Path(path)
    if mode not in QUANTIZATIONS:
        raise ConfigError(f"Unknown quantization; expected one of {', '.join(QUANTIZATIONS)}. Received: mode={mode!r}")
    if format_of(source) != "onnx" or format_of(path) != "onnx":
        raise ConfigError(f"quantize_onnx reads and writes .onnx files. Received: source={str(source)!r}, "
                          f"path={str(path)!r}")
    if mode == "static" and not calibration:
        raise ConfigError("Static quantization needs calibration inputs: a list of (features, lengths). "
                          "Received: calibration=None")
    _refuse_existing(path, overwrite)
    _require("onnxruntime", "onnx", what="Quantizing an ONNX model")
    info = ExportedModel(source)  # checks that it is one of ours
    import onnx
    from onnxruntime import quantization as q

    def write(tmp):
        if mode == "static":
            class Reader(q.CalibrationDataReader):
                def __init__(self):
                    self.items = iter(calibration)

                def get_next(self):
                    item = next(self.items, None)
                    return None if item is None else {INPUT_NAMES[0]: item[0], INPUT_NAMES[1]: item[1]}

            q.quantize_static(str(source), str(tmp), Reader(), quant_format=q.QuantFormat.QDQ,
                              activation_type=q.QuantType.QUInt8, weight_type=q.QuantType.QInt8,
                              extra_options={"EnableSubgraph": True})
        else:
            q.quantize_dynamic(str(source), str(tmp), weight_type=q.QuantType.QInt8,
                               op_types_to_quantize=_DYNAMIC_OPERATORS[mode],
                               extra_options={"EnableSubgraph": True})
        graph = onnx.load(str(tmp))
        metadata = json.loads(next(p.value for p in graph.metadata_props if p.key == METADATA_KEY))
        metadata["quantization"] = mode
        onnx.helper.set_model_props(graph, {METADATA_KEY: json.dumps(metadata, ensure_ascii=False)})
        onnx.save(graph, str(tmp))

    del info
    import logging

    quantizer_log = logging.getLogger()
    level = quantizer_log.level
    quantizer_log.setLevel(logging.ERROR)  # "Inference failed or unsupported type to quantize for tensor ..."
    try:
        return atomic_write(path, write)
    except ConfigError:
        raise
    except Exception as error:  # noqa: BLE001 - the quantizer raises many types
        raise ModelFileError(f"{path}: quantizing {source} ({mode}) failed: {error}") from error
    finally:
        quantizer_log.setLevel(level)


class ExportedModel:
    """An exported Recognizer (ONNX, TFLite or SavedModel), run from NumPy; what ``Reader`` and ``Transcriber`` use
    in place of the Keras model.

    Args:
        path: an ``.onnx`` or ``.tflite`` file, or a SavedModel folder, written by :func:`export_model`.
        task: ``"ocr"`` or ``"speech"`` to refuse a model of the other task; ``None`` accepts either.
        num_threads: threads for ONNX Runtime / LiteRT (``None``: :data:`ONNX_THREADS_VARIABLE` when set, else
            one per usable core for ONNX Runtime (:func:`common.cpus.usable_cpus`), LiteRT's default).

    ONNX files run on ONNX Runtime, TFLite files on the ``ai-edge-litert`` interpreter (TensorFlow's deprecated
    ``tf.lite.Interpreter`` when that package is missing), SavedModels on ``tf.saved_model.load``.

    Call arguments:
        features: float32 ``(batch, time, num_features)``.
        lengths: int ``(batch,)``, the valid frames of each row.

    Returns ``(logits, lengths)``: float32 ``(batch, frames, num_classes)`` and int32 ``(batch,)``, as NumPy arrays.

    Attributes: ``metadata`` (the model's own: task, alphabet, preprocessor), the typed ``task``, ``alphabet`` and
    ``preprocessor`` (the :class:`~common.preprocessor.Preprocessor` of the model it was exported from),
    ``num_features``, ``num_classes``, ``time_downsampling``, ``batch_size`` (``None`` when dynamic),
    ``source_sha256`` (of the ``.keras`` file it was exported from, when known), ``quantization`` (``None`` for
    float32, else the :func:`quantize_onnx` mode), ``format``, ``path``. Safe to share between threads.

    Example:
    >>> model = ExportedModel("ocr.onnx", task="ocr")  # doctest: +SKIP
    >>> logits, lengths = model(features, feature_lengths)  # doctest: +SKIP
    """

    def __init__(self, path, *, task=None, num_threads=None):
        path = Path(path)
        if not path.exists():
            raise ModelFileError(f"{path}: exported model not found. Pass an existing .onnx or .tflite file or a "
                                 f"SavedModel folder. Received: path={str(path)!r}")
        self.path = path
        self.format = format_of(path)
        opener = {"onnx": self._open_onnx, "tflite": self._open_tflite, "savedmodel": self._open_saved_model}
        try:
            info = opener[self.format](num_threads if num_threads is not None else onnx_threads_from_environment())
        except (ModelFileError, ConfigError):
            raise
        except Exception as error:  # noqa: BLE001 - each runtime raises its own types
            raise ModelFileError(f"{path}: not a readable {self.format} model: {error}") from None
        self.alphabet, self.preprocessor = self._check(info, task)
        self.metadata = dict(info["metadata"])
        self.num_features = int(info["num_features"])
        self.num_classes = int(info["num_classes"])
        self.time_downsampling = int(info["time_downsampling"])
        self.batch_size = info.get("batch_size")
        self.source_sha256 = info.get("source_sha256")
        self.quantization = info.get("quantization")  # None: float32; else the quantize_onnx mode

    @property
    def task(self):
        """The task the model serves (``"ocr"``, ``"speech"``)."""
        return self.metadata.get("task")

    def _check(self, info, task):
        path = self.path
        if info is None:
            raise ModelFileError(f"{path}: this {self.format} model was not exported by this toolkit (it carries no "
                                 f"'{METADATA_KEY}' metadata); export it with the 'export' command.")
        version = info.get("export_version")
        if not isinstance(version, int) or version > EXPORT_VERSION:
            raise ModelFileError(f"{path}: the export format version {version!r} is newer than this toolkit reads "
                                 f"({EXPORT_VERSION}). Upgrade the toolkit. Received: export_version={version!r}")
        metadata = info.get("metadata") or {}
        from common.model_file import check_preprocessor, check_task_and_alphabet

        alphabet = check_task_and_alphabet(path, metadata, info.get("num_classes"), task)
        return alphabet, check_preprocessor(path, metadata, info.get("num_features"))

    def _open_onnx(self, num_threads):
        _require("onnxruntime", what="Running an ONNX model")
        import onnxruntime

        from common.cpus import usable_cpus

        options = onnxruntime.SessionOptions()
        # ONNX Runtime's default is a thread per physical core, even for a process allowed fewer (taskset, a
        # container's quota): the extra threads only wait for each other (common.cpus).
        options.intra_op_num_threads = int(num_threads) if num_threads else usable_cpus()
        if os.environ.get(ONNX_SPINNING_VARIABLE, "1").strip() == "0":
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)

        def run(features, lengths):
            logits, out_lengths = session.run(list(OUTPUT_NAMES), {INPUT_NAMES[0]: features, INPUT_NAMES[1]: lengths})
            return logits, out_lengths

        self._run = run
        return None if text is None else json.loads(text)

    def _open_tflite(self, num_threads):
        data = self.path.read_bytes()
        try:
            from ai_edge_litert import schema_py_generated as schema
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            import tensorflow as tf
            from tensorflow.lite.python import schema_py_generated as schema

            Interpreter = tf.lite.Interpreter
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            interpreter = Interpreter(model_content=data, num_threads=num_threads)
        runner = interpreter.get_signature_runner()
        lock = threading.Lock()  # an interpreter runs one call at a time

        def run(features, lengths):
            with lock:
                out = runner(**{INPUT_NAMES[0]: features, INPUT_NAMES[1]: lengths})
                return out[OUTPUT_NAMES[0]].copy(), out[OUTPUT_NAMES[1]].copy()

        self._run = run
        flat = schema.Model.GetRootAs(data, 0)
        for i in range(flat.MetadataLength()):
            entry = flat.Metadata(i)
            if entry.Name() and entry.Name().decode("utf-8") == METADATA_KEY:
                return json.loads(flat.Buffers(entry.Buffer()).DataAsNumpy().tobytes().decode("utf-8"))
        return None

    def _open_saved_model(self, num_threads):
        import tensorflow as tf

        metadata_file = self.path / SAVED_MODEL_METADATA
        if not (self.path / "saved_model.pb").is_file():
            raise ModelFileError(f"{self.path}: not a SavedModel folder (no saved_model.pb). Pass an .onnx or .tflite "
                                 f"file or a folder written by the 'export' command.")
        loaded = tf.saved_model.load(str(self.path))
        serve = loaded.signatures["serving_default"]

        def run(features, lengths):
            out = serve(**{INPUT_NAMES[0]: tf.constant(features), INPUT_NAMES[1]: tf.constant(lengths)})
            return out[OUTPUT_NAMES[0]].numpy(), out[OUTPUT_NAMES[1]].numpy()

        self._loaded = loaded  # keeps the variables alive
        self._run = run
        return json.loads(metadata_file.read_text(encoding="utf-8")) if metadata_file.is_file() else None

    def __call__(self, features, lengths):
        features = np.asarray(features, dtype=np.float32)
        lengths = np.asarray(lengths, dtype=np.int32).reshape(-1)
        if features.ndim != 3 or features.shape[2] != self.num_features or features.shape[0] != lengths.shape[0]:
            raise ValueError(
                f"An exported model takes features (batch, time, {self.num_features}) and one length per row. "
                f"Received: features.shape={features.shape}, lengths.shape={lengths.shape}"
            )
        fixed = self.batch_size
        if fixed is None or features.shape[0] == fixed:
            return self._run(features, lengths)
        logits, out_lengths = [], []
        for first in range(0, features.shape[0], fixed):
            x, n = features[first:first + fixed], lengths[first:first + fixed]
            rows = x.shape[0]
            if rows < fixed:  # fill a short last batch with empty rows, whose outputs are dropped
                x = np.concatenate([x, np.zeros((fixed - rows,) + x.shape[1:], np.float32)])
                n = np.concatenate([n, np.full(fixed - rows, x.shape[1], np.int32)])
            batch_logits, batch_lengths = self._run(x, n)
            logits.append(batch_logits[:rows])
            out_lengths.append(batch_lengths[:rows])
        return np.concatenate(logits), np.concatenate(out_lengths)

    def __repr__(self):
        return (f"ExportedModel({str(self.path)!r}, format={self.format!r}, task={self.metadata.get('task')!r}, "
                f"batch_size={self.batch_size})")


def add_export_arguments(parser):
    """Add the options of the ``export`` command (both tasks) to an argparse parser."""
    parser.add_argument("--model", help="model file to export (.keras; default: the shipped model)")
    parser.add_argument("--out", required=True,
                        help="output: a folder (savedmodel), a .tflite file or an .onnx file")
    parser.add_argument("--format", choices=FORMATS,
                        help="savedmodel, tflite or onnx (default: from --out: .onnx, .tflite, else savedmodel)")
    from common.cli import positive_int

    parser.add_argument("--batch-size", type=positive_int,
                        help="fix the batch size (default: dynamic; TFLite: 1, since its LSTMs need a static batch)")
    parser.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    parser.add_argument("--quantize", choices=DYNAMIC_QUANTIZATIONS,
                        help="ONNX only: write int8 weights (dynamic_recurrent: the LSTMs and matrix products, the "
                             "convolutions stay float; the OCR twin ships so). Default: float32, reads exactly as "
                             "the .keras model")
    return parser


def run_export(args, *, default_model, task, train_command):
    """The ``export`` command: load ``args.model`` for ``task``, export it to ``args.out``, print the path."""
    from common.inference import load_task_model

    model = load_task_model(args.model, default=default_model, task=task, train_command=train_command,
                            prefer_export=False)
    if isinstance(model, ExportedModel):
        raise ConfigError(f"{model.path}: this model is exported already; export from its .keras file. "
                          f"Received: model={str(model.path)!r}")
    source = default_model if args.model in (None, "default") else args.model
    if not args.quantize:
        print(export_model(model, args.out, format=args.format, batch_size=args.batch_size, overwrite=args.overwrite,
                           source_file=source))
        return 0
    out = Path(args.out)
    if _check_format(args.format, out) != "onnx":
        raise ConfigError(f"--quantize writes ONNX files; give --out a .onnx name. Received: --out {args.out}")
    _refuse_existing(out, args.overwrite)  # before the float32 export, not after it
    with tempfile.TemporaryDirectory(prefix="export-", dir=out.parent if out.parent.is_dir() else None) as scratch:
        float_twin = export_model(model, Path(scratch) / "float32.onnx", format="onnx", batch_size=args.batch_size,
                                  source_file=source)
        print(quantize_onnx(float_twin, out, mode=args.quantize, overwrite=args.overwrite))
    return 0
