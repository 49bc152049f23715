"""Every default of the speech task, in one place: the CLI, the Python API (:class:`~speech.transcriber.Transcriber`),
features, chunking, training and the recipes import them from here.

Plain constants only (no heavy imports): ``speech --help`` reads them.
"""

__all__ = ["SAMPLE_RATE", "HOP_SECONDS", "WIN_SECONDS", "NUM_MELS", "ENCODER", "MAX_CHUNK_SECONDS",
           "MIN_CHUNK_SECONDS", "BEAM_WIDTH", "LM", "BATCH_SIZE", "FILES_PER_GROUP", "MAX_TRAIN_SECONDS"]

# --- preprocessing (stored in each model: these are a new model's settings) ------------------------------------
SAMPLE_RATE = 16000
"""Hz: the rate every array of this package is at, and a new model's."""

HOP_SECONDS = 0.010
"""Seconds between feature frames."""

WIN_SECONDS = 0.025
"""Seconds of audio under each frame's window."""

NUM_MELS = 80
"""Mel bands of the features."""

# --- a new model's size --------------------------------------------------------------------------------------------
ENCODER = {"num_layers": 3, "units": 224, "dropout": 0.15}
"""BiLSTM encoder of a new model (the shipped default.keras has these; stages 1-10 had 160 units, stage 11 widened
them, MODELS.md)."""

# --- transcribing -----------------------------------------------------------------------------------------------
MAX_CHUNK_SECONDS = 10.0
"""Longest piece of audio run through the model at once; longer files are split at silences. The training
utterances are up to ~10 s, and 10 s chunks measured better than 20 s ones on long files (README)."""

MIN_CHUNK_SECONDS = 0.5
"""Shortest ``max_chunk_seconds`` accepted."""

BEAM_WIDTH = None
"""``None``: the language model's tuned beam width (``english.lm.json``); without an LM, greedy decoding."""

LM = "default"
"""Word language model for decoding: ``"default"`` is the shipped ``speech/models/english.lm``."""

BATCH_SIZE = 16
"""Chunks per batch."""

FILES_PER_GROUP = 16
"""Files decoded and held in memory at once by one ``transcribe`` call."""

TWIN_QUANTIZATION = None
"""How the shipped ONNX twin (``speech/models/default.onnx``, what ``transcribe`` runs) is written: ``None``, float32,
so it transcribes exactly as the ``.keras`` model does. Its real-time factor (0.004 at batch,
benchmarks/results_speed.md) is inside the target already, and int8 has not been measured on speech."""

# --- training ---------------------------------------------------------------------------------------------------
MAX_TRAIN_SECONDS = 30.0
"""Longest training utterance loaded (s)."""
