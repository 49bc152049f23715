"""Every default of the OCR task, in one place: the CLI, the Python API (:class:`~ocr.reader.Reader`), training
and the recipes import them from here, so that ``ocr read`` and ``Reader.read`` cannot drift apart.

Plain constants only (no heavy imports): ``ocr --help`` reads them.
"""

__all__ = ["HEIGHT", "MIN_WIDTH", "POLARITY", "POLARITIES", "MIN_CONTRAST", "ENCODER", "LAYOUT", "LAYOUTS",
           "BEAM_WIDTH", "LM", "BATCH_SIZE", "CHUNK_SIZE", "DENSE_CHARS_PER_FRAME",
           "DENSE_MAX_CONFIDENCE", "DENSE_STRETCH"]

# --- preprocessing (stored in each model: these are a new model's settings) ------------------------------------
HEIGHT = 32
"""Strip height in pixels: the model's number of input features."""

MIN_WIDTH = 8
"""Narrowest strip in pixels (the front end subsamples time and needs a few columns)."""

POLARITIES = ("auto", "dark_on_light", "light_on_dark")
POLARITY = "auto"
"""Which way round the text is: ``auto`` decides per line from its median gray level (paper is the majority)."""

MIN_CONTRAST = 16
"""Gray levels between the dark and light reference levels below which a line is blank (no ink)."""

# --- a new model's size --------------------------------------------------------------------------------------------
ENCODER = {"num_layers": 2, "units": 128, "dropout": 0.1}
"""BiLSTM encoder of a new model (the shipped default.keras has these)."""

# --- reading ----------------------------------------------------------------------------------------------------
LAYOUTS = ("line", "page", "auto")
LAYOUT = "auto"
"""``line``: each input is one text line; ``page``: split into lines first; ``auto``: decide per image."""

BEAM_WIDTH = None
"""``None``: greedy decoding without an LM; with one (``--lm PATH``), its beam width."""

LM = "none"
"""No word language model by default: measured, it did not help held-out lines (MODELS.md)."""

BATCH_SIZE = 16
"""Line strips per batch (of similar widths). With the encoder as ONNX's fused LSTM operator, small batches read
fastest: 200 held-out lines on 2 cores, batch 8 / 16 / 32 / 64: 392 / 370 / 348 / 292 lines/s (less padding per
batch); 16 keeps some room for machines with more cores."""

CHUNK_SIZE = 256
"""Inputs decoded and held in memory at once by one ``read`` call."""

DENSE_CHARS_PER_FRAME = 0.4
"""A line read with more characters per output frame than this is read again, stretched (:data:`DENSE_STRETCH`).
CTC needs a blank frame between two equal characters and the model sees a frame per 4 columns of a 32-pixel
strip, so condensed fonts lose letters (``all`` -> ``al``, ``he'll`` -> ``he'l``). Half of the validation lines
have under 0.28; 8% over 0.4."""

DENSE_MAX_CONFIDENCE = 0.98
"""... and only when its confidence (the mean of its characters') is below this: of the 63 dense validation lines,
the 15 read at 0.98 or more gained nothing from a second reading (the same 298 errors; 25% fewer lines read
twice)."""

DENSE_STRETCH = 1.5
"""How much wider a dense line's strip is made for its second reading; the reading with the higher confidence
is kept. On the 800 validation lines of the OCR recipe (``ocr_broad``'s validation fonts and texts): 349 character
errors read once, 298 with the second reading of 48 dense lines (MODELS.md); at a stretch of 1.25, 303.
``None``: read each line once."""

TWIN_QUANTIZATION = "dynamic_recurrent"
"""How the shipped ONNX twin (``ocr/models/default.onnx``, what ``read`` runs) is written: int8 LSTM and
matrix-product weights, float convolutions (``make onnx``; the recipes, through ``export --quantize``). On the
held-out lines of ``benchmarks/ocr_vs_tesseract.py`` it had the float twin's CER (0.83% on 1200 lines) and read
1.20x as fast at batch and 1.47x one line per call, on one quiet core (``benchmarks/ocr_quantization.py``,
interleaved rounds beside a training: 1.10x and 1.31x). Activations are quantized per batch: 9 of the 1200
lines read differently in a batch and alone. ``None`` would write a float32 twin that reads exactly as the
``.keras`` model."""
