"""The document tree of a read page: page -> blocks -> lines -> words -> characters.

Every node has a ``box`` ``(left, top, right, bottom)`` in pixels of the page image (right/bottom exclusive) and a
``confidence`` in [0, 1]. :func:`build_page` assembles a :class:`Page` from a :class:`~ocr.layout.PageLayout` and
the recognised lines; the writers of :mod:`ocr.document_formats` take pages.
"""

import dataclasses

import numpy as np

__all__ = ["Char", "Word", "Line", "Block", "Page", "build_page", "page_from_result"]


def _union(boxes):
    boxes = list(boxes)
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes))


def _mean(values, default=0.0):
    values = list(values)
    return float(np.mean(values)) if values else default


@dataclasses.dataclass(frozen=True)
class Char:
    """One character: ``text``, ``confidence``, ``box``."""

    text: str
    confidence: float
    box: tuple

    def to_dict(self):
        return {"text": self.text, "confidence": round(self.confidence, 4), "box": list(self.box)}


@dataclasses.dataclass(frozen=True)
class Word:
    """A run of characters between spaces: ``text``, ``confidence`` (mean of its characters), ``box``, ``chars``."""

    text: str
    confidence: float
    box: tuple
    chars: tuple = ()

    def to_dict(self):
        return {"text": self.text, "confidence": round(self.confidence, 4), "box": list(self.box),
                "chars": [c.to_dict() for c in self.chars]}


@dataclasses.dataclass(frozen=True)
class Line:
    """A text line: ``text``, ``confidence``, ``box``, ``words``, and its ``slope`` (rise per column)."""

    text: str
    confidence: float
    box: tuple
    words: tuple = ()
    slope: float = 0.0

    def to_dict(self):
        return {"text": self.text, "confidence": round(self.confidence, 4), "box": list(self.box),
                "slope": round(self.slope, 5), "words": [w.to_dict() for w in self.words]}


@dataclasses.dataclass(frozen=True)
class Block:
    """A text block (paragraph, heading, caption): ``box``, ``lines`` top to bottom, ``confidence``."""

    box: tuple
    lines: tuple = ()
    confidence: float = 0.0

    @property
    def text(self):
        return "\n".join(line.text for line in self.lines)

    def to_dict(self):
        return {"box": list(self.box), "confidence": round(self.confidence, 4), "text": self.text,
                "lines": [line.to_dict() for line in self.lines]}


@dataclasses.dataclass(frozen=True)
class Page:
    """One page: ``width`` x ``height`` pixels, its ``blocks`` in reading order, the ``skew_degrees`` of its text,
    its ``number`` in the document (1-based), the ``source`` it came from and the ``dpi`` it was rendered at
    (``None``: unknown, e.g. a photo)."""

    width: int
    height: int
    blocks: tuple = ()
    skew_degrees: float = 0.0
    number: int = 1
    source: str = ""
    dpi: float = None

    @property
    def lines(self):
        return [line for block in self.blocks for line in block.lines]

    @property
    def words(self):
        return [word for line in self.lines for word in line.words]

    @property
    def text(self):
        """Blocks separated by a blank line, lines by a newline."""
        return "\n\n".join(block.text for block in self.blocks)

    @property
    def confidence(self):
        return _mean(line.confidence for line in self.lines)

    def to_dict(self):
        return {"source": self.source, "number": self.number, "width": self.width, "height": self.height,
                "dpi": self.dpi, "skew_degrees": round(self.skew_degrees, 3),
                "confidence": round(self.confidence, 4), "blocks": [b.to_dict() for b in self.blocks]}


def _words(characters, line_box):
    """Split a line's characters (``ocr.reader.Character``) into words at spaces."""
    words, current = [], []
    for char in list(characters) + [None]:
        if char is None or char.char.isspace():
            if current:
                chars = tuple(Char(c.char, c.confidence, (c.x0, line_box[1], max(c.x1, c.x0 + 1), line_box[3]))
                              for c in current)
                words.append(Word("".join(c.text for c in chars), _mean(c.confidence for c in chars),
                                  _union(c.box for c in chars), chars))
            current = []
        else:
            current.append(char)
    return tuple(words)


def build_page(layout, line_results, *, number=1, source="", dpi=None):
    """Assemble the tree of one page.

    Parameters
    ----------
    layout : ocr.layout.PageLayout
        The blocks and lines found on the page.
    line_results : list of ocr.reader.LineResult
        What was read from each line of ``layout.lines``, in the same order.
    number, source, dpi
        Stored on the :class:`Page`.

    Returns
    -------
    page : Page
        Lines that read as nothing are left out, and so are blocks left without lines.
    """
    results = iter(line_results)
    blocks = []
    for block in layout.blocks:
        lines = []
        for box in block.lines:
            result = next(results)
            if not result.text.strip():
                continue
            lines.append(Line(result.text, float(result.confidence), tuple(int(v) for v in result.box),
                              _words(result.characters, result.box), float(box.slope)))
        if lines:
            blocks.append(Block(_union(line.box for line in lines), tuple(lines),
                                _mean(line.confidence for line in lines)))
    return Page(int(layout.width), int(layout.height), tuple(blocks), layout.skew_degrees, int(number), str(source),
                dpi)


def page_from_result(result, shape, *, number=1, source="", dpi=None):
    """The tree of a :class:`~ocr.reader.ReadResult`: its own (renumbered) when it was read as a page, else one
    block holding its lines (an image read as a single line). ``shape`` is the image's ``(height, width)``."""
    if result.page is not None:
        return dataclasses.replace(result.page, number=int(number), source=str(source), dpi=dpi)
    lines = tuple(Line(r.text, float(r.confidence), tuple(int(v) for v in r.box), _words(r.characters, r.box))
                  for r in result.lines if r.text.strip())
    blocks = (Block(_union(line.box for line in lines), lines, _mean(line.confidence for line in lines)),) if lines \
        else ()
    return Page(int(shape[1]), int(shape[0]), blocks, 0.0, int(number), str(source), dpi)
