"""``ocr batch``: the OCR side of a batch run over a large collection (the machinery is :mod:`common.scale`).

:func:`reader_worker` is what each worker runs: it loads the :class:`~ocr.reader.Reader` once and reads lists of
image paths into the records ``ocr read --json`` prints (bad images included, with their one-line error). Documents
(PDFs, multi-page TIFFs: several results each on the command line) get an error that says how to read them.
"""

from ocr.data import IMAGE_COLUMNS, IMAGE_SUFFIXES
from ocr.defaults import BEAM_WIDTH, LAYOUT

__all__ = ["reader_worker", "IMAGE_SUFFIXES", "IMAGE_COLUMNS"]

DOCUMENT_ERROR = ("{path}: this is a document (a PDF or a multi-page TIFF), and a batch run reads single images; "
                  "read it with 'ocr read FILE --output-dir DIR' (one result per page). Received: kind=document")


def reader_worker(*, model=None, beam_width=BEAM_WIDTH, layout=LAYOUT, **reader_options):
    """Load a Reader (``Reader.load(model, **reader_options)``) and return ``process(paths)``: one
    ``ReadResult.to_dict()`` per path, in order."""
    from ocr.pages import is_multipage
    from ocr.reader import Reader, ReadResult

    reader = Reader.load(model, **reader_options)

    def process(paths):
        documents = {path for path in paths if is_multipage(path)}
        images = [path for path in paths if path not in documents]
        results = dict(zip(images, reader.read(images, beam_width=beam_width, layout=layout)))
        return [results[path].to_dict() if path in results else ReadResult.failed(path, DOCUMENT_ERROR.format(
            path=path)).to_dict() for path in paths]

    return process
