"""``ocr batch``: the OCR side of a batch run over a large collection (the machinery is :mod:`common.scale`).

:func:`reader_worker` is what each worker runs: it loads the :class:`~ocr.reader.Reader` once and reads lists of
image paths into the records ``ocr read --json`` prints (bad images included, with their one-line error).
"""

from ocr.data import IMAGE_COLUMNS, IMAGE_SUFFIXES
from ocr.defaults import BEAM_WIDTH, LAYOUT

__all__ = ["reader_worker", "IMAGE_SUFFIXES", "IMAGE_COLUMNS"]


def reader_worker(*, model=None, beam_width=BEAM_WIDTH, layout=LAYOUT, **reader_options):
    """Load a Reader (``Reader.load(model, **reader_options)``) and return ``process(paths)``: one
    ``ReadResult.to_dict()`` per path, in order."""
    from ocr.reader import Reader

    reader = Reader.load(model, **reader_options)

    def process(paths):
        return [result.to_dict() for result in reader.read(paths, beam_width=beam_width, layout=layout)]

    return process
