"""``Reader``: the Python API for reading text from images.

>>> from ocr import Reader
>>> reader = Reader.load()                      # the shipped default model
>>> [r.text for r in reader.read(["scan.png"])]  # doctest: +SKIP

Each input (a path or a numpy array) gives one :class:`ReadResult`, in input order. A bad input does not stop the
batch: its result has ``error`` set and empty text, the others are read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Union

import numpy as np

from common.cpus import usable_cpus
from common.errors import ConfigError, InputError, ModelFileError
from common.inference import (DEFAULT_MAX_BATCH_MB, InputResult, SequencePredictor, as_input_list,
                              check_beam_width, guard_input, input_name, load_task_model, map_in_groups)
from common.limits import is_real_number
from common.lm import make_decoder
from ocr.defaults import (BATCH_SIZE, BEAM_WIDTH, CHUNK_SIZE, DENSE_CHARS_PER_FRAME, DENSE_MAX_CONFIDENCE,
                          DENSE_STRETCH, LAYOUT, LAYOUTS, LM)
from ocr.document import build_page
from ocr.images import stretch_strip
from ocr.layout import analyze_page, crop_lines, reads_as_page
from ocr.pages import DEFAULT_DPI
from ocr.preprocessor import LinePreprocessor

__all__ = ["Reader", "ReadResult", "PreparedImage", "LineResult", "WordResult", "Character", "DEFAULT_MODEL", "LAYOUTS",
           "word_key"]

ImageInput = Union[str, os.PathLike, np.ndarray]
"""One input of :meth:`Reader.read`: an image file's path or an image array."""

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "default.keras"
_EDGE_PUNCTUATION = "\"'([{<.,;:!?)]}>-\u2018\u2019\u201c\u201d"


def word_key(token):
    """How a language model sees a token of a read line: lowercase without the punctuation around it (``"Hello,"``
    -> ``"hello"``). Numbers, codes and identifiers (a digit, a symbol, or an inner capital as in ``getValue``)
    map to ``""``: the decoder neither scores nor restricts them, so a word LM cannot "correct" them."""
    core = token.strip(_EDGE_PUNCTUATION)
    if not core or not all(c.isalpha() or c == "'" for c in core):
        return ""
    if any(c.isupper() for c in core[1:]) and not core.isupper():
        return ""
    return core.lower()


@dataclasses.dataclass(frozen=True)
class Character:
    """A read character: ``char``, ``confidence`` in [0, 1], and its horizontal extent ``x0..x1`` in pixels of the
    input image (``top``/``bottom``: the line's vertical extent)."""

    char: str
    confidence: float
    x0: int
    x1: int
    top: int
    bottom: int


@dataclasses.dataclass(frozen=True)
class WordResult:
    """One word of a line (characters between spaces): its text, confidence (mean over its characters) and box
    ``(left, top, right, bottom)`` in input pixels, from its first character's left to its last one's right."""

    text: str
    confidence: float
    box: tuple[int, int, int, int]


@dataclasses.dataclass(frozen=True)
class LineResult:
    """One text line: its text, confidence, box ``(left, top, right, bottom)`` in input pixels, characters, and
    ``words`` (:class:`WordResult`, split at spaces)."""

    text: str
    confidence: float
    box: tuple[int, int, int, int]
    characters: tuple[Character, ...]

    @property
    def words(self) -> tuple[WordResult, ...]:
        words, current = [], []
        for char in self.characters + (None,):
            if char is not None and not char.char.isspace():
                current.append(char)
                continue
            if current:
                words.append(WordResult("".join(c.char for c in current),
                                        round(float(np.mean([c.confidence for c in current])), 4),
                                        (current[0].x0, current[0].top, current[-1].x1, current[-1].bottom)))
                current = []
        return tuple(words)


@dataclasses.dataclass(frozen=True)
class ReadResult(InputResult):
    """What was read from one input: ``text`` (lines joined by newlines), ``confidence`` (mean over lines),
    ``lines``, ``words`` and ``characters`` (all lines), ``error`` (``None`` when the input was read), and ``page``:
    the document tree (:class:`ocr.document.Page`: blocks, lines, words, characters) when the input was read as a
    page, else ``None``."""

    confidence: float = 0.0
    lines: tuple[LineResult, ...] = ()
    error: str | None = None
    page: object = None

    @property
    def characters(self) -> tuple[Character, ...]:
        return tuple(c for line in self.lines for c in line.characters)

    @property
    def words(self) -> tuple[WordResult, ...]:
        return tuple(w for line in self.lines for w in line.words)

    def to_dict(self) -> dict:
        return {
            "path": self.source,
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "lines": [
                {"text": line.text, "confidence": round(line.confidence, 4), "box": list(line.box),
                 "words": [{"text": w.text, "confidence": w.confidence, "box": list(w.box)} for w in line.words],
                 "characters": [dataclasses.asdict(c) for c in line.characters]}
                for line in self.lines
            ],
            "error": self.error,
            **({"page": self.page.to_dict()} if self.page is not None else {}),
        }


@dataclasses.dataclass(frozen=True)
class PreparedImage:
    """One image after :meth:`Reader.prepare`: decoded, laid out and cut into the strips the network reads.

    :meth:`Reader.read` takes it in place of the image and skips that work: a server prepares each upload in a
    process of its own while the network reads earlier batches (``ocr/serve.py``).

    Attributes:
        source: how results and messages name the image.
        lines: ``((left, top, right, bottom), strip)`` per line: its box in pixels of the image and its strip
            (:meth:`~ocr.preprocessor.LinePreprocessor.features`, shape ``(width, height)``, float32).
        page_layout: the page's blocks and lines (:func:`~ocr.layout.analyze_page`), ``None`` for one line.
        error: ``"source: problem"`` when the image could not be prepared (then ``lines`` is empty).
    """

    source: str
    lines: tuple = ()
    page_layout: object = None
    error: str | None = None

    @property
    def ok(self):
        return self.error is None


def _check_layout(layout):
    if layout not in LAYOUTS:
        raise ConfigError(f"layout must be one of {LAYOUTS}. Received: layout={layout!r}")


def _character_extents(characters, frame, left, right):
    """``(x0, x1)`` in input pixels of each decoded character of a line.

    A character's CTC spike is a frame or two, about where its glyph starts, not its whole width: each character
    starts half a frame before its spike and runs to the next character's start; the last one of a word runs one
    typical advance (the line's median distance between letters of a word), no further than the next start. On
    rendered lines this took word boxes from ending half a letter short to within a couple of pixels.
    """
    starts = [min(right, max(left, left + (c.start - 0.5) * frame)) for c in characters]
    advances = [b - a for a, b, c, n in zip(starts, starts[1:], characters, characters[1:])
                if not c.char.isspace() and not n.char.isspace() and b > a]
    advance = float(np.median(advances)) if advances else 2.0 * frame
    extents = []
    for index, (c, start) in enumerate(zip(characters, starts)):
        following = starts[index + 1] if index + 1 < len(starts) else right
        ends_word = index + 1 == len(characters) or characters[index + 1].char.isspace() or c.char.isspace()
        end = min(following, start + advance) if ends_word else following
        extents.append((int(start), int(max(start, min(right, end)))))
    return extents


class Reader:
    """Reads text lines and pages with an OCR model.

    Args:
        model: an OCR :class:`~common.recognizer.Recognizer`, or an exported one
            (:class:`~common.export.ExportedModel`: ONNX, TFLite, SavedModel) that gives the same text.
        batch_size: lines per batch.
        max_pixels: refuse images with more pixels than this (decompression bombs); ``None``: 89,478,485, as
            Pillow.
        max_batch_mb: cap (MiB) on one padded batch of line strips (``lines * padded width * height * 4``
            bytes); batches are split to honour it, and an image with a line that alone exceeds it gets an error.
        lm: word language model for decoding: ``"none"`` (the default: measured, it does not help our OCR model,
            see MODELS.md), a path (ARPA or KenLM binary, e.g. from ``ocr lm build``) or a
            :class:`common.lm.LanguageModel`. Tokens are looked up through :func:`word_key`.
        hotwords: words to favour, ``"Kubernetes,nginx:5"`` (weight: a log-score bonus, default 5), list or dict.
        words: a closed vocabulary (a file with words, or a list), compared through :func:`word_key`.
        dense_stretch: a line read with more than :data:`~ocr.defaults.DENSE_CHARS_PER_FRAME` characters per output
            frame (a condensed font: CTC runs out of frames and drops a letter of ``ll``), and a confidence below
            :data:`~ocr.defaults.DENSE_MAX_CONFIDENCE`, is read again with its strip this many times wider; the
            reading with the higher confidence is kept. ``None``: read each line once.

    The model's :class:`~ocr.preprocessor.LinePreprocessor` (stored in the model file) turns each line into the
    strip the network reads, exactly as in training.

    A Reader is safe to share between threads (tested): each call keeps its state in local variables (its
    image-decoding threads too, which end with the call), and the model runs through one traced function.
    """

    def __init__(self, model, *, batch_size: int = BATCH_SIZE, max_pixels: int | None = None,
                 max_batch_mb: float | None = DEFAULT_MAX_BATCH_MB, lm=LM, hotwords=None, words=None,
                 dense_stretch: float | None = DENSE_STRETCH):
        if model.task != "ocr":
            raise ModelFileError(f"Reader needs an OCR model. Received: task={model.task!r}")
        if max_pixels is not None and (isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer))
                                       or max_pixels < 1):
            raise ConfigError(f"Received an invalid value for `max_pixels` (--max-pixels), expected a positive "
                              f"integer or None. Received: max_pixels={max_pixels!r}")
        if dense_stretch is not None and not (is_real_number(dense_stretch) and 1.0 < dense_stretch <= 4.0):
            raise ConfigError(f"Received an invalid value for `dense_stretch`, expected a number in (1, 4] or None. "
                              f"Received: dense_stretch={dense_stretch!r}")
        self.dense_stretch = None if dense_stretch is None else float(dense_stretch)
        self.model = model
        if not isinstance(model.preprocessor, LinePreprocessor):
            raise ModelFileError(f"Reader needs a model that carries its line preprocessing (height, ...). "
                                 f"Received: preprocessor={model.preprocessor!r}")
        self.preprocessor = model.preprocessor
        self.predictor = SequencePredictor(model, batch_size=batch_size, max_batch_mb=max_batch_mb)
        self.max_pixels = max_pixels
        self.decoder = make_decoder(self.alphabet, lm=lm, default_lm=None, hotwords=hotwords, words=words,
                                    word_key=word_key)

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, **kwargs) -> Reader:
        """Load a model file (``None``: the shipped default model) and return a Reader.

        The file is a ``.keras`` model, or one exported with the ``export`` command: an ``.onnx`` or
        ``.tflite`` file or a SavedModel folder (run by ONNX Runtime, LiteRT or TensorFlow).
        """
        return cls(load_task_model(path, default=DEFAULT_MODEL, task="ocr", train_command="ocr train"), **kwargs)

    @property
    def alphabet(self):
        return self.predictor.alphabet

    @property
    def height(self):
        """Strip height in pixels (the model's preprocessing)."""
        return self.preprocessor.height

    @staticmethod
    def _page_layout(gray, layout):
        """The blocks and lines of an image read as a page (``None`` when it is read as one line)."""
        if layout not in ("page", "auto"):
            return None
        page_layout = analyze_page(gray)
        return page_layout if layout == "page" or reads_as_page(page_layout, gray) else None

    def _line_strips(self, gray, layout, page_layout=False):
        """Split an image into ``(box, strip)`` per line, per the layout choice (``page_layout``: the image's
        :meth:`_page_layout`, when already found)."""
        if page_layout is False:
            page_layout = self._page_layout(gray, layout)
        if page_layout is not None:
            boxes = page_layout.lines
            crops = crop_lines(gray, boxes)
            pieces = [((b.left, b.top, b.right, b.bottom), c) for b, c in zip(boxes, crops)]
        else:
            pieces = [((0, 0, gray.shape[1], gray.shape[0]), gray)]
        lines = []
        for box, crop in pieces:
            strip, crop_box = self.preprocessor.features(crop, return_box=True)
            left, top = box[0] + crop_box[0], box[1] + crop_box[1]
            lines.append(((left, top, box[0] + crop_box[2], box[1] + crop_box[3]), strip))
        return lines

    def read(self, inputs: ImageInput | Sequence[ImageInput], *, beam_width: int = BEAM_WIDTH, layout: str = LAYOUT,
             progress: bool = False, chunk_size: int = CHUNK_SIZE) -> list[ReadResult]:
        """Read each input; returns one :class:`ReadResult` per input, in order.

        Args:
            inputs: an image (a path, a file's content as ``bytes``, a numpy array or a ``PIL.Image``, or a
                :class:`PreparedImage` from :meth:`prepare`), or a list of them.
            beam_width: beam width of the LM decoder (``None``: the LM's default); without an LM, word list or
                hotwords, 1 (``None``) is greedy decoding and more is plain beam search.
            layout: ``"line"`` (each input is one text line), ``"page"`` (split into blocks and lines first;
                each result's ``page`` holds the document tree), or ``"auto"`` (decide per image; the default, as
                in ``ocr read``).
            progress: show a progress bar on stderr.
            chunk_size: inputs decoded and held in memory at once (memory stays flat over many files).
        """
        _check_layout(layout)
        beam_width = check_beam_width(beam_width, flag="--beam")
        inputs = [inputs] if isinstance(inputs, PreparedImage) else as_input_list(inputs)
        # Decoding and preprocessing release the GIL (Pillow, OpenCV): threads overlap them. The pool lives as long
        # as this call; one input is prepared in the calling thread (a thread's start and hand-off cost more than
        # they overlap, most of all on a busy machine).
        workers = min(4, usable_cpus(), len(inputs))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ocr-load") if workers > 1 \
                else contextlib.nullcontext() as pool:
            return map_in_groups(lambda group, offset: self._read_chunk(group, offset, beam_width, layout, pool),
                                 inputs, group_size=chunk_size, progress=progress, unit="image",
                                 setting="chunk_size")

    def prepare(self, source: ImageInput, *, layout: str = LAYOUT, name: str | None = None) -> PreparedImage:
        """Decode one image, find its lines (per ``layout``, as :meth:`read`) and make their strips: all the work of
        :meth:`read` before the network runs. ``read([prepared, ...])`` then reads it.

        Args:
            source: one input of :meth:`read`.
            layout: as :meth:`read` (a prepared image keeps the layout it was prepared with).
            name: how results and messages name it (default: its path, or ``"bytes #0"``, ...).

        Returns:
            A :class:`PreparedImage`; a bad input gives one with ``error`` set instead of raising.
        """
        _check_layout(layout)
        name = input_name(source, 0) if name is None else name
        value, error = guard_input(lambda: self._prepare(source, layout), name,
                                   memory_hint="lower --max-pixels or shrink the image")
        return PreparedImage(name, tuple(value[0]), value[1]) if error is None else PreparedImage(name, error=error)

    def read_document(self, source, *, pages=None, dpi=DEFAULT_DPI, beam_width=BEAM_WIDTH, layout="page",
                      return_images=False):
        """Read the pages of a PDF (rendered at ``dpi``), of a multi-page TIFF, or of an image file.

        Args:
            source: a path.
            pages: the pages to read, as ``"1-3,5"`` (1-based, as ``--pages``); ``None``: all.
            dpi: resolution PDF pages are rendered at.
            beam_width: as :meth:`read`.
            layout: as :meth:`read`; every result gets a document tree (``result.page``, with its ``number``
                in the document) even when a page is read as one line.
            return_images: also return the page images (for :func:`ocr.document_formats.to_searchable_pdf`).

        Returns:
            One :class:`ReadResult` per page, in page order (a single one with ``error`` set when the file cannot
            be opened); with ``return_images``, ``(results, images)``.
        """
        from ocr.document import page_from_result
        from ocr.pages import is_pdf, iter_pages

        _check_layout(layout)
        name = input_name(source, 0)
        results, images = [], []
        try:
            for number, gray in iter_pages(source, pages=pages, dpi=dpi, max_pixels=self.max_pixels):
                [result] = self.read([gray], beam_width=beam_width, layout=layout)
                if result.ok:
                    page = page_from_result(result, gray.shape, number=number, source=name,
                                            dpi=float(dpi) if is_pdf(source) else None)
                    result = dataclasses.replace(result, source=name, page=page)
                else:
                    result = dataclasses.replace(result, source=name,
                                                 error=f"{name} page {number}{result.error[len(result.source):]}")
                results.append(result)
                if return_images:
                    images.append(gray)
        except InputError as error:
            results.append(ReadResult.failed(name, f"{name}: {error.reason}"))
        return (results, images) if return_images else results

    def _prepare(self, source, layout):
        """The ``(box, strip)`` of each line of one input, and the page layout (``None``: read as one line)."""
        gray = self.preprocessor.load(source, max_pixels=self.max_pixels)
        page_layout = self._page_layout(gray, layout)
        lines = self._line_strips(gray, layout, page_layout)
        for _, strip in lines:
            self.predictor.check_fits(strip.shape[0], hint=", or crop the image into shorter lines")
        return lines, page_layout

    def _reread_dense(self, strips, decoded, beam_width):
        """Read the dense, unsure lines again, stretched by ``dense_stretch``; keep each line's more confident reading.

        Args:
            strips: float32 ``(width, height)`` per line.
            decoded: their :class:`~common.ctc.Decoded` readings.

        Returns:
            ``(strips, decoded)``: per line, the strip whose reading was kept, and that reading.
        """
        if self.dense_stretch is None:
            return strips, decoded
        step = self.predictor.time_downsampling
        stretched = {}
        for index, (strip, reading) in enumerate(zip(strips, decoded)):
            if (reading.confidence < DENSE_MAX_CONFIDENCE
                    and len(reading.text) > DENSE_CHARS_PER_FRAME * -(-strip.shape[0] // step)):
                wider = stretch_strip(strip, self.dense_stretch)
                if self.predictor.fits(wider.shape[0]):
                    stretched[index] = wider
        if not stretched:
            return strips, decoded
        strips, decoded = list(strips), list(decoded)
        again = self.predictor.predict(list(stretched.values()), beam_width=beam_width, decoder=self.decoder)
        for (index, wider), reading in zip(stretched.items(), again):
            if reading.confidence > decoded[index].confidence:
                strips[index], decoded[index] = wider, reading
        return strips, decoded

    def _read_chunk(self, inputs, offset, beam_width, layout, pool):
        names = [source.source if isinstance(source, PreparedImage) else input_name(source, offset + index)
                 for index, source in enumerate(inputs)]
        prepared = list(inputs)
        todo = [index for index, source in enumerate(inputs) if not isinstance(source, PreparedImage)]
        mapper = pool.map if pool is not None and len(todo) > 1 else map
        for index, image in zip(todo, mapper(lambda i: self.prepare(inputs[i], layout=layout, name=names[i]), todo)):
            prepared[index] = image
        line_sets = [p.lines for p in prepared]
        page_layouts = [p.page_layout for p in prepared]
        errors = {index: p.error for index, p in enumerate(prepared) if p.error is not None}
        strips = [strip for lines in line_sets for _, strip in lines]
        strips, decoded = self._reread_dense(strips, self.predictor.predict(strips, beam_width=beam_width,
                                                                            decoder=self.decoder), beam_width)
        readings = iter(zip(strips, decoded))
        downsampling = self.predictor.time_downsampling
        results = []
        for index, lines in enumerate(line_sets):
            if index in errors:
                results.append(ReadResult.failed(names[index], errors[index]))
                continue
            line_results = []
            for (left, top, right, bottom), _ in lines:
                strip, d = next(readings)  # the strip that was read: stretched, for a dense line read twice
                frame = downsampling * (right - left) / max(strip.shape[0], 1)  # input pixels per output frame
                chars = tuple(Character(c.char, round(c.confidence, 4), x0, x1, top, bottom)
                              for c, (x0, x1) in zip(d.characters, _character_extents(d.characters, frame, left,
                                                                                      right)))
                line_results.append(LineResult(d.text, d.confidence, (left, top, right, bottom), chars))
            page = None
            if page_layouts[index] is not None:
                page = build_page(page_layouts[index], line_results, source=names[index])
            line_results = [line for line in line_results if line.text or len(line_results) == 1]
            text = "\n".join(line.text for line in line_results)
            confidence = float(np.mean([line.confidence for line in line_results])) if line_results else 0.0
            results.append(ReadResult(names[index], text, confidence, tuple(line_results), page=page))
        return results
