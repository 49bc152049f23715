"""Multi-page inputs: PDF files (rendered with pypdfium2) and multi-page TIFF files, one gray image per page.

>>> parse_page_ranges("1-3,5")
[(1, 3), (5, 5)]
"""

import os

import numpy as np

from common.errors import ConfigError, InputError

__all__ = ["DEFAULT_DPI", "parse_page_ranges", "select_pages", "is_pdf", "page_count", "is_multipage",
           "iter_pages"]

DEFAULT_DPI = 300


def parse_page_ranges(text):
    """Parse ``--pages``: ``"1-3,5,8-"`` -> ``[(1, 3), (5, 5), (8, None)]`` (1-based, inclusive; ``None``: to the end).

    Raises
    ------
    ConfigError
        For anything else, with the expected form.
    """
    if text is None:
        return None
    ranges = []
    for part in str(text).split(","):
        part = part.strip()
        first, dash, last = part.partition("-")
        try:
            start = int(first)
            stop = (int(last) if last.strip() else None) if dash else start
        except ValueError:
            start = stop = 0
        if start < 1 or (stop is not None and stop < start):
            raise ConfigError("Received an invalid page range for `--pages`, expected 1-based numbers and ranges "
                              f"such as 1-3,5,8- (first <= last). Received: pages={text!r}")
        ranges.append((start, stop))
    return ranges


def select_pages(ranges, count):
    """The 1-based page numbers of a ``count``-page document that ``ranges`` select, in document order."""
    if ranges is None:
        return list(range(1, count + 1))
    chosen = set()
    for start, stop in ranges:
        chosen.update(range(start, min(count, stop if stop is not None else count) + 1))
    return sorted(chosen)


def is_pdf(path):
    """Whether the file starts like a PDF (``%PDF``), whatever its name."""
    try:
        with open(path, "rb") as handle:
            return handle.read(1024).lstrip().startswith(b"%PDF")
    except (OSError, TypeError):
        return False


def _open_pdf(path):
    import pypdfium2

    try:
        return pypdfium2.PdfDocument(os.fspath(path))
    except pypdfium2.PdfiumError as error:
        raise InputError(f"The PDF cannot be opened ({error}); expected an unencrypted, undamaged PDF file. "
                         f"Received: source={os.fspath(path)!r}", os.fspath(path)) from None


def page_count(path):
    """Pages in a PDF or TIFF file; 1 for other images (of an animation only the first frame is read)."""
    if is_pdf(path):
        document = _open_pdf(path)
        try:
            return len(document)
        finally:
            document.close()
    from PIL import Image

    try:
        with Image.open(path) as image:
            return int(getattr(image, "n_frames", 1)) if image.format == "TIFF" else 1
    except Exception:  # noqa: BLE001 (not an image Pillow reads: load_image gives the error)
        return 1


def is_multipage(path):
    """Whether a path is a PDF or a multi-page TIFF file."""
    return isinstance(path, (str, os.PathLike)) and os.path.isfile(path) and (is_pdf(path) or page_count(path) > 1)


def _check_numbers(numbers, count, path, ranges):
    if not numbers:
        raise InputError(f"None of the requested pages exists; the document has {count} page(s). "
                         f"Received: pages={ranges!r}", os.fspath(path))


def iter_pages(path, *, pages=None, dpi=DEFAULT_DPI, max_pixels=None):
    """Yield ``(page number, gray page)`` for the selected pages of a PDF or multi-page image file.

    Parameters
    ----------
    path : str or os.PathLike
    pages : str, list of (int, int or None) or None
        ``--pages`` text such as ``"1-3,5"``, or its parsed form; ``None``: every page.
    dpi : float > 0
        Resolution PDF pages are rendered at (image files keep theirs).
    max_pixels : int or None
        Refuse pages with more pixels than this (as :func:`ocr.images.load_image`).

    Yields
    ------
    number : int
        1-based page number.
    gray : np.ndarray [shape=(H, W), dtype=uint8]
    """
    from ocr.images import load_image

    ranges = parse_page_ranges(pages) if isinstance(pages, str) else pages
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 0 < dpi <= 2400:
        raise ConfigError(f"Received an invalid value for `dpi` (--dpi), expected a number in (0, 2400]. "
                          f"Received: dpi={dpi!r}")
    kwargs = {} if max_pixels is None else {"max_pixels": max_pixels}
    if is_pdf(path):
        document = _open_pdf(path)
        try:
            numbers = select_pages(ranges, len(document))
            _check_numbers(numbers, len(document), path, pages)
            for number in numbers:
                page = document[number - 1]
                width, height = page.get_size()
                if max_pixels is not None and (width * dpi / 72) * (height * dpi / 72) > max_pixels:
                    raise InputError(f"Page {number} would render to more than {max_pixels} pixels at {dpi} dpi; "
                                     f"lower --dpi. Received: dpi={dpi}", os.fspath(path))
                bitmap = page.render(scale=dpi / 72.0, grayscale=True)
                gray = np.array(bitmap.to_numpy(), copy=True)
                if gray.ndim == 3:
                    gray = gray[..., 0]
                yield number, load_image(np.ascontiguousarray(gray, dtype=np.uint8), **kwargs)
        finally:
            document.close()
        return
    from PIL import Image, ImageSequence

    count = page_count(path)
    numbers = select_pages(ranges, count)
    _check_numbers(numbers, count, path, pages)
    if count == 1:
        yield 1, load_image(path, **kwargs)
        return
    with Image.open(path) as image:
        for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
            if number in numbers:
                yield number, load_image(np.asarray(frame.convert("L")), **kwargs)
