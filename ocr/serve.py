"""The OCR task's part of the HTTP service (``ocr serve``; ``speech serve --with ocr``).

``POST /ocr/read``: an image (PNG, JPEG, TIFF, BMP, WebP, GIF) or a PDF, as the multipart field ``file`` or the
raw body; the options of ``ocr read`` as query parameters (``layout``, ``beam``, ``lm``, ``hotwords``, ``format``,
``pages``, ``dpi``), read through the CLI's own parser. One image as ``text`` or ``json`` is prepared
(``Reader.prepare``: decoded, laid out, cut into strips) in a preparation process (``serve --processes``) and goes
through the dynamic batcher (concurrent requests share one ``Reader.read`` call, one forward pass); PDFs, multi-page
TIFFs, ``pages`` and the document formats (hocr, alto, page, tsv, pdf) are read as documents
(``Reader.read_document``) and written by :func:`ocr.document_formats.render_document`, exactly as ``ocr read``
writes them.
"""

import dataclasses
import io
import warnings

from common.errors import InputError
from common.serving.batcher import DynamicBatcher
from common.serving.preparation import PreparationCrashed, PreparationPool
from common.serving.options import QueryOptions
from common.serving.registry import DecoderVariants, ServeError, TaskService, named_after_upload
from ocr import defaults

__all__ = ["OcrService", "SERVICE", "OPTIONS"]

OPTIONS = {"layout": "--layout", "beam": "--beam", "lm": "--lm", "hotwords": "--hotwords", "format": "--format",
           "pages": "--pages", "dpi": "--dpi"}
"""Query parameter -> ``ocr read`` option. ``--model``, ``--words`` and LM paths name server-side files: left out
(``lm`` is ``none`` or ``default`` only)."""

def _identify(data):
    """``(kind, (width, height) or None, frames)``: ``"pdf"``, ``"image"`` (what Pillow recognises without
    decoding the pixels), or ``None`` for anything else."""
    if data[:1024].lstrip().startswith(b"%PDF"):
        return "pdf", None, 0
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: our own limit follows
            with Image.open(io.BytesIO(data)) as image:
                return "image", image.size, int(getattr(image, "n_frames", 1) or 1)
    except Image.DecompressionBombError:
        return "image", (float("inf"), 1), 1
    except Exception:  # noqa: BLE001 (not an image Pillow knows; the Reader may still decode it)
        return None, None, 0


class OcrService(TaskService):
    """Serves ``Reader.read`` and ``Reader.read_document`` (see the module's docstring)."""

    name = "ocr"
    title = "Read text from images and PDFs"
    accept = "image/*,application/pdf,.pdf,.tif,.tiff"

    def __init__(self, settings):
        super().__init__(settings)
        from ocr.cli import build_parser

        self.options = QueryOptions(build_parser(), "read", OPTIONS, restrict={"lm": ("none", "default")})
        self.reader = None
        self.readers = None

    def load(self):
        import numpy as np

        from ocr.reader import Reader

        self.reader = Reader.load(self.settings.model_for("ocr"), max_pixels=self.settings.max_pixels)
        self.reader.read([np.full((32, 96), 255, np.uint8)], layout="line")  # first run: allocate, trace
        self.readers = DecoderVariants(
            self.reader, lambda **decoding: Reader(self.reader.model, batch_size=self.reader.predictor.batch_size,
                                                   max_pixels=self.settings.max_pixels, **decoding),
            default_lm=defaults.LM)
        self.preparation = PreparationPool(self.settings.preparation_processes, _load_reader,
                                           (self.settings.model_for("ocr"), self.settings.max_pixels))
        self.batcher = DynamicBatcher(self._process, window_ms=self.settings.window_ms,
                                      max_items=self.settings.max_batch, workers=self.settings.workers,
                                      name="ocr-batcher")

    def describe(self):
        from ocr.document_formats import FORMATS

        return dict(super().describe(), endpoints=[{
            "path": "/ocr/read", "options": self.options.describe(),
            "formats": {name: suffix for name, suffix in FORMATS.items()}}])

    def register(self, router):
        from common.serving.endpoints import add_upload_endpoint

        add_upload_endpoint(router, "/read", service=self, options=self.options, handler=self.read,
                            summary="Read the text of an image or a PDF",
                            description="The options are `ocr read`'s. `format=json` gives lines, words and "
                                        "characters with their boxes in pixels of the image.")

    # --- in the batcher's worker thread --------------------------------------------------------------------------

    def _process(self, key, payloads):
        if key[0] == "read":
            _, beam, layout, lm, hotwords = key
            return self.readers.get(lm, hotwords).read(payloads, beam_width=beam, layout=layout)
        results = []
        for payload in payloads:  # documents: one at a time (each is many pages already)
            try:
                results.append(self._document(*payload))
            except Exception as error:  # noqa: BLE001 (returned to its own request, not to the others)
                results.append(error)
        return results

    def _document(self, data, filename, args):
        from common.input_files import bytes_as_file
        from ocr.pages import page_count, parse_page_ranges, select_pages

        reader = self.readers.get(args.lm, args.hotwords)
        with bytes_as_file(data, suffix=".pdf" if _identify(data)[0] == "pdf" else "") as path:
            try:
                count = page_count(path)
            except InputError as error:
                return [_failed(filename, error.reason)], None
            selected = len(select_pages(parse_page_ranges(args.pages), count))
            if selected > self.settings.max_pages:
                raise ServeError(422, f"{filename}: {selected} pages to read, more than this server's limit of "
                                      f"{self.settings.max_pages} (serve --max-pages); choose some with pages=1-"
                                      f"{self.settings.max_pages}")
            read = reader.read_document(path, pages=args.pages, dpi=args.dpi, beam_width=args.beam,
                                        layout=args.layout, return_images=args.format == "pdf")
            results, images = read if args.format == "pdf" else (read, None)
            return [_renamed(result, path, filename) for result in results], images

    # --- the endpoint --------------------------------------------------------------------------------------------

    async def read(self, upload, args):
        from common.serving.endpoints import document_response
        from ocr.document_formats import FORMATS
        from ocr.pages import parse_page_ranges

        kind, size, frames = _identify(upload.data)
        limit = self.settings.max_pixels
        if size is not None and size[0] * size[1] > limit:
            shown = f"{size[0] * size[1]:,} pixels ({size[0]} x {size[1]})" if size[0] != float("inf") else \
                "more pixels than Pillow allows"
            raise ServeError(422, f"{upload.filename}: the image has {shown}, more than this server's limit of "
                                  f"{limit:,} (serve --max-pixels)")
        parse_page_ranges(args.pages)  # a bad range: 422 before any work
        fmt = args.format
        if kind == "pdf" or frames > 1 or args.pages or fmt not in ("text", "json"):
            outcome = await self.batcher.run(("document",), (upload.data, upload.filename, args))
            if isinstance(outcome, Exception):
                raise outcome
            results, images = outcome
            return self._document_response(results, images, kind, upload.filename, fmt)
        # Decoding, layout and strips in a preparation process (or thread), while the batcher's workers run the
        # network over earlier batches; the batch call then only runs the network and the decoder.
        from ocr.reader import Reader

        try:
            prepared = await self.preparation.run(Reader.prepare, upload.data, layout=args.layout,
                                                  name=upload.filename)
        except PreparationCrashed as error:
            raise ServeError(422, f"{upload.filename}: {error}") from None
        if not prepared.ok:
            raise ServeError(415 if kind is None else 422, _refusal(prepared.error, kind))
        key = ("read", args.beam, args.layout, args.lm, args.hotwords)
        result = _renamed(await self.batcher.run(key, prepared), None, upload.filename)
        if not result.ok:
            raise ServeError(422, result.error)
        if fmt == "json":
            return document_response(result.to_dict(), FORMATS["json"])
        return document_response(result.text + "\n", FORMATS["text"], filename=upload.filename)

    def _document_response(self, results, images, kind, filename, fmt):
        from common.serving.endpoints import document_response
        from ocr.document_formats import FORMATS, render_document

        failed = [r.error for r in results if not r.ok]
        if not any(r.ok for r in results):
            raise ServeError(415 if kind is None else 422, _refusal(failed[0], kind))
        if fmt == "json":
            content = {"path": filename, "text": "\f".join(r.text for r in results if r.ok),
                       "pages": [r.to_dict() for r in results if r.ok], "errors": failed}
            return document_response(content, FORMATS["json"])
        documents = render_document(results, fmt, images=images)
        if len(documents) > 1:
            raise ServeError(422, f"{filename}: PAGE-XML holds one page per file and this document has "
                                  f"{len(documents)}; ask for one with pages=N")
        response = document_response(documents[0][1], FORMATS[fmt], filename=filename)
        if failed:
            response.headers["X-Failed-Pages"] = str(len(failed))
        return response


def _load_reader(model, max_pixels):
    """What each preparation process holds: a Reader of the served model (its preprocessing and limits)."""
    from ocr.reader import Reader

    return Reader.load(model, max_pixels=max_pixels)


def _renamed(result, temporary, filename):
    """A result (and its page tree) named after the upload instead of ``bytes #0`` or a temporary file."""
    result = named_after_upload(result, filename, temporary=temporary)
    page = dataclasses.replace(result.page, source=filename) if result.page is not None else None
    return dataclasses.replace(result, page=page)


def _failed(filename, reason):
    from ocr.reader import ReadResult

    return ReadResult.failed(filename, f"{filename}: {reason}")


def _refusal(error, kind):
    if kind is None:
        return f"not an image or PDF this server reads: {error}"
    return error


SERVICE = OcrService
"""What ``ctc_toolkit.services`` (setup.cfg) and ``--with ocr`` resolve to."""

