"""Load images as grayscale and turn a text-line image into the strip the OCR model reads.

:func:`load_image` reads any file Pillow or OpenCV can decode (or takes a NumPy array) and returns a ``uint8``
grayscale array; every way an input can be unusable ends in one :class:`~common.errors.InputError` line, never in
a decoder traceback. :func:`preprocess_line` normalizes contrast and polarity, crops to the ink, scales to a fixed
height and transposes, so that the model sees ``(time, features)`` with time running along the text line.

Conventions: a grayscale image is ``np.ndarray [shape=(H, W), dtype=uint8]`` with 0 = black and 255 = white; a
line strip is ``np.ndarray [shape=(width, height), dtype=float32]`` with ink = 1 and background = 0, so the zero
padding of a batch looks like empty paper.
"""

import os
import threading
import warnings

import numpy as np

from common.errors import ConfigError, InputError
from common.input_files import (bytes_as_file, check_input_file, describe_content, is_pil_image,
                                reraise_for_bytes)
from common.limits import check_count
from ocr.defaults import HEIGHT, MIN_CONTRAST, MIN_WIDTH, POLARITIES, POLARITY

__all__ = [
    "check_polarity",
    "load_image",
    "preprocess_line",
    "strip_width",
    "stretch_strip",
    "DEFAULT_MAX_PIXELS",
    "MAX_ASPECT_RATIO",
]

DEFAULT_MAX_PIXELS = 89_478_485
"""Pillow's own decompression-bomb limit (about 9,459 x 9,459 pixels), used as the default ``max_pixels``."""

MAX_ASPECT_RATIO = 1_000
"""Images whose long side exceeds this many times their short side are refused: no text line or page looks so."""

_PILLOW_LIMIT_LOCK = threading.Lock()

# Contrast normalization: the dark and light reference levels are the k-th darkest and k-th lightest pixel values,
# with k = 1 % of the pixels, but at most 2 * H (so that a short word in a wide, mostly empty image still counts).
_TAIL_FRACTION = 0.01
# Below MIN_CONTRAST (ocr.defaults) between the two references (in 0..255 levels) an image is taken as blank paper.


def _describe_array(array):
    return f"array of shape {tuple(array.shape)} and dtype {array.dtype}"


# ---------------------------------------------------------------------------------------------------------------
# load_image
# ---------------------------------------------------------------------------------------------------------------


def _check_geometry(height, width, max_pixels, source):
    if height == 0 or width == 0:
        raise InputError(
            f"The image is empty (0 pixels); expected an image at least 1 pixel on each side. "
            f"Received: size={width}x{height}",
            source,
        )
    if height * width > max_pixels:
        raise InputError(
            f"The image has {height * width:,} pixels, more than the limit of {max_pixels:,} that guards against "
            f"decompression bombs. If the file is trusted, raise the limit with `ocr read --max-pixels N` "
            f"or load_image(..., max_pixels=N). "
            f"Received: size={width}x{height}, max_pixels={max_pixels}",
            source,
        )
    ratio = max(height, width) / min(height, width)
    if ratio > MAX_ASPECT_RATIO:
        raise InputError(
            f"The image is {width} x {height} pixels (aspect ratio {ratio:,.0f}:1); that is not a text line or "
            f"a page (expected at most {MAX_ASPECT_RATIO:,}:1). Crop or resize it to the text first. "
            f"Received: size={width}x{height}",
            source,
        )


def _gray_from_array(array, source):
    """Convert a validated-dtype array of shape (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) to uint8 (H, W)."""
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise InputError(
            "Expected an image array of shape (H, W) grayscale, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA. "
            f"Received: shape={tuple(array.shape)}",
            source,
        )
    dtype = array.dtype
    if dtype == np.bool_:
        values = array.astype(np.float32)
    elif dtype == np.uint8:
        values = array
    elif dtype == np.uint16:
        values = array.astype(np.float32) * (255.0 / 65535.0)
    elif np.issubdtype(dtype, np.floating):
        values = array.astype(np.float32, copy=False)
        if not np.isfinite(values).all():
            raise InputError(
                "The float image holds NaN or infinite values; expected finite values in [0, 1]. "
                "Replace them first, e.g. np.nan_to_num(image). "
                f"Received: non_finite={int((~np.isfinite(values)).sum())}",
                source,
            )
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
        if low < -1e-3 or high > 1.0 + 1e-3:
            raise InputError(
                "A float image must hold values in [0, 1]; for 0..255 data pass image.astype(np.uint8) instead. "
                f"Received: range=[{low:g}, {high:g}]",
                source,
            )
        values = np.clip(values, 0.0, 1.0) * 255.0
    else:
        raise InputError(
            "Expected an image array of dtype uint8, uint16, bool or float (values in [0, 1]). "
            f"Convert it first, e.g. image.astype(np.uint8). Received: dtype={dtype}",
            source,
        )
    if dtype == np.bool_:
        values = values * 255.0
    if values.ndim == 2:
        gray = values
    else:
        rgb = values[:, :, :3].astype(np.float32, copy=False)
        # ITU-R 601-2 luma, the transform Pillow's convert("L") uses.
        gray = rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        if values.shape[2] == 4:
            alpha = values[:, :, 3].astype(np.float32) / 255.0
            gray = gray * alpha + 255.0 * (1.0 - alpha)  # composite over white paper
    if gray.dtype == np.uint8:
        return np.ascontiguousarray(gray)
    return np.ascontiguousarray(np.clip(np.rint(gray), 0, 255).astype(np.uint8))


def _gray_from_pillow(image, source=None):
    """Convert an opened, loaded Pillow image (any mode) to uint8 (H, W), compositing transparency over white."""
    from PIL import Image

    mode = image.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(background, rgba).convert("L"))
    if mode == "L":
        return np.asarray(image)
    if mode == "1":
        return np.asarray(image.convert("L"))
    if mode.startswith("I;16") or mode in ("I", "F"):
        values = np.asarray(image).astype(np.float64)
        if not np.isfinite(values).all():
            raise InputError(
                "The floating-point image holds NaN or infinite values; expected finite pixel values. "
                f"Re-export it without them. Received: non_finite={int((~np.isfinite(values)).sum())}",
                source,
            )
        if mode.startswith("I;16") or (mode == "I" and values.max(initial=0) > 255):
            values = values * (255.0 / 65535.0)
        elif mode == "F" and values.max(initial=0) <= 1.0:
            values = values * 255.0
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    # RGB, CMYK, YCbCr, LAB, HSV, palette without transparency, ...
    return np.asarray(image.convert("RGB").convert("L"))


# Pillow formats never opened: EPS runs Ghostscript (an interpreter, a known attack surface) and the others are
# stubs that need handlers this toolkit does not install.
_PILLOW_EXCLUDED = frozenset({"EPS", "WMF", "MPEG", "BUFR", "GRIB", "HDF5"})
# First bytes of the formats Pillow decodes itself: such a file that Pillow cannot open has a damaged header, and
# OpenCV (which would print libpng/libjpeg warnings on stderr) is not tried on it.
_IMAGE_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"GIF87a", "GIF"), (b"GIF89a", "GIF"),
    (b"BM", "BMP"), (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF"), (b"II+\x00", "TIFF"), (b"MM\x00+", "TIFF"),
)
_BMP_HEADER_SIZES = tuple(size.to_bytes(4, "little") for size in (12, 16, 40, 52, 56, 64, 108, 124))


def _sniff_image(path):
    """``(format, first bytes)``: the image format the file's first bytes announce (None if unknown)."""
    with open(path, "rb") as handle:
        head = handle.read(32)
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP", head
    for magic, name in _IMAGE_MAGIC:
        if head.startswith(magic):
            if name == "BMP" and head[14:18] not in _BMP_HEADER_SIZES:  # "BM" alone is weak evidence: text can too
                continue
            return name, head
    return None, head


def _declared_size(kind, head):
    """``(width, height)`` from a PNG, GIF or BMP header, or None: to call a 0 x 0 file empty, not corrupt."""
    import struct

    try:
        if kind == "PNG" and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if kind == "GIF":
            return struct.unpack("<HH", head[6:10])
        if kind == "BMP" and len(head) >= 26:
            width, height = struct.unpack("<ii", head[18:26])
            return abs(width), abs(height)
    except struct.error:
        return None
    return None


def _bomb_error(max_pixels, source, error):
    """Our InputError for Pillow's DecompressionBombError (its message gives the pixel count)."""
    import re

    found = re.search(r"\((\d+) pixels\)", str(error))
    size = f"{int(found.group(1)):,} pixels" if found else "more pixels than Pillow allows"
    return InputError(
        f"The image has {size}, more than the limit of {max_pixels:,} that guards against decompression bombs. "
        f"If the file is trusted, raise the limit with `ocr read --max-pixels N` or load_image(..., max_pixels=N). "
        f"Received: max_pixels={max_pixels}",
        source,
    )


class _PillowLimit:
    """Hold Pillow's decompression-bomb limit at ``max(Pillow's, max_pixels)`` and silence its warnings.

    Pillow reads its limit from a module global, so this takes a lock: ``max_pixels`` is applied by
    :func:`_check_geometry` right after the header is read, and Pillow's own guard must not be tighter.
    """

    def __init__(self, max_pixels):
        self.max_pixels = max_pixels

    def __enter__(self):
        from PIL import Image

        _PILLOW_LIMIT_LOCK.acquire()
        self.saved = Image.MAX_IMAGE_PIXELS
        if self.saved is not None and self.max_pixels > self.saved:
            Image.MAX_IMAGE_PIXELS = self.max_pixels
        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        # Pillow's notes on damaged metadata ("Corrupt EXIF data"): the file still decodes, or fails with our error.
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        return self

    def __exit__(self, *exc_info):
        from PIL import Image

        try:
            self.warnings.__exit__(*exc_info)
            Image.MAX_IMAGE_PIXELS = self.saved
        finally:
            _PILLOW_LIMIT_LOCK.release()
        return False


def _read_with_pillow(path, max_pixels, source):
    """Decode with Pillow: ``(gray, None)``, ``(None, None)`` for an unknown format, ``(None, why)`` if corrupt."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    Image.init()
    formats = [name for name in Image.OPEN if name not in _PILLOW_EXCLUDED]
    try:
        with _PillowLimit(max_pixels):
            image = Image.open(path, formats=formats)
    except UnidentifiedImageError:
        kind, head = _sniff_image(path)
        if kind is None:
            return None, None
        size = _declared_size(kind, head)
        if size is not None and 0 in size:
            _check_geometry(size[1], size[0], max_pixels, source)
        return None, f"{kind} header: damaged, or a variant Pillow cannot read"
    except Image.DecompressionBombError as error:
        raise _bomb_error(max_pixels, source, error) from None
    except Exception as error:  # a known format whose header is damaged; Pillow raises many types
        if _sniff_image(path)[0] is None:  # a plugin tried on weak evidence (text starting "BM"): not an image
            return None, None
        return None, str(error) or type(error).__name__
    with image:
        width, height = image.size
        _check_geometry(height, width, max_pixels, source)
        # Pillow checks frames and tiles against its limit again while decoding: keep it raised only where the
        # caller raised max_pixels above it (then decoding is serialized; by default it runs in parallel).
        raised = Image.MAX_IMAGE_PIXELS is not None and max_pixels > Image.MAX_IMAGE_PIXELS
        try:
            image.seek(0)  # first frame of an animation or a multi-page TIFF
            if raised:
                with _PillowLimit(max_pixels):
                    image.load()
            else:
                image.load()
        except Image.DecompressionBombError as error:
            raise _bomb_error(max_pixels, source, error) from None
        except MemoryError:
            raise InputError(f"Not enough memory to decode this {width} x {height} image; lower --max-pixels or "
                             f"shrink the image. Received: size={width}x{height}", source) from None
        except Exception as error:  # truncated or corrupt pixel data
            return None, f"{image.format or 'image'} data: {str(error) or type(error).__name__}"
        try:
            upright = ImageOps.exif_transpose(image)
        except Exception:  # noqa: BLE001 (a malformed EXIF block: the pixels are fine, keep them as stored)
            upright = image
        try:
            return _gray_from_pillow(upright, source), None
        except InputError:
            raise
        except Exception as error:  # noqa: BLE001 (a mode Pillow decodes but cannot convert)
            return None, f"{image.format or 'image'} data in mode {image.mode}: {str(error) or type(error).__name__}"


def _read_with_opencv(path, max_pixels, source):
    """Return uint8 (H, W), or None if OpenCV cannot decode the file either."""
    import cv2

    buffer = np.fromfile(path, dtype=np.uint8)  # works with any path, unlike cv2.imread on some platforms
    log_level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)  # no decoder chatter on stderr
    try:
        decoded = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    finally:
        cv2.utils.logging.setLogLevel(log_level)
    if decoded is None or decoded.size == 0:
        return None
    if decoded.ndim == 3:
        if decoded.shape[2] == 4:
            decoded = cv2.cvtColor(decoded, cv2.COLOR_BGRA2RGBA)
        elif decoded.shape[2] == 3:
            decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
    _check_geometry(decoded.shape[0], decoded.shape[1], max_pixels, source)
    if decoded.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        decoded = decoded.astype(np.float64)
        decoded = (decoded - decoded.min()) / max(float(np.ptp(decoded)), 1e-12)
    elif decoded.dtype in (np.float32, np.float64):
        decoded = np.clip(np.nan_to_num(decoded), 0.0, 1.0)
    return _gray_from_array(decoded, source)


def load_image(source, *, max_pixels=DEFAULT_MAX_PIXELS):
    """Load an image file or array as 8-bit grayscale.

    Files are decoded with Pillow (PNG, JPEG, TIFF, BMP, WebP, GIF, ...) and, for formats Pillow does not know,
    with OpenCV. The EXIF orientation is applied; transparency is composited over white paper; 16-bit images are
    scaled to 8 bits; color, palette, CMYK and 1-bit images are converted to luma; of an animation or a
    multi-page file only the first frame is read.

    Parameters
    ----------
    source : str, os.PathLike, bytes, PIL.Image.Image or np.ndarray
        An image file, a file's content (``bytes``, decoded exactly as the file would be), a Pillow image, or an
        array of shape ``(H, W)``, ``(H, W, 1)``, ``(H, W, 3)`` (RGB) or ``(H, W, 4)``
        (RGBA) and dtype ``uint8``, ``uint16``, ``bool`` or float (values in [0, 1]).
    max_pixels : int > 0
        Refuse images with more pixels than this (protects against decompression bombs). The default is Pillow's
        own limit, 89,478,485 pixels.

    Returns
    -------
    gray : np.ndarray [shape=(H, W), dtype=uint8]
        0 = black, 255 = white.

    Raises
    ------
    InputError
        With one line that names the source: missing, empty, truncated or corrupt file; not an image; an image
        with 0 pixels, more than ``max_pixels`` pixels or an aspect ratio above 1000:1; an array of the wrong
        dtype or shape, or with NaN values.

    Examples
    --------
    >>> load_image(np.zeros((2, 3, 3), dtype=np.uint8)).shape
    (2, 3)
    """
    max_pixels = check_count("max_pixels", max_pixels)
    if isinstance(source, np.ndarray):
        label = _describe_array(source)
        if source.ndim in (2, 3):
            _check_geometry(source.shape[0], source.shape[1], max_pixels, label)
        return _gray_from_array(source, label)
    if is_pil_image(source):
        label = f"PIL image of mode {source.mode!r} and size {source.size[0]}x{source.size[1]}"
        _check_geometry(source.size[1], source.size[0], max_pixels, label)
        return np.ascontiguousarray(_gray_from_pillow(source, label))
    if isinstance(source, (bytes, bytearray, memoryview)):
        with bytes_as_file(source) as path:
            try:
                return load_image(path, max_pixels=max_pixels)
            except InputError as error:
                raise reraise_for_bytes(error, path, "bytes") from None
    if not isinstance(source, (str, os.PathLike)):
        raise InputError(
            "Expected an image file path (str or os.PathLike), a file's content (bytes), a NumPy array or a PIL "
            f"image. Received: source={type(source).__name__}"
        )
    path = os.fspath(source)
    check_input_file(path, expected="an image file")

    gray, problem = _read_with_pillow(path, max_pixels, path)
    if problem is not None:
        raise InputError(
            "The image file is truncated or corrupt and cannot be decoded; expected a complete image file. "
            f"Re-export or re-download it. Received: error={problem!r}",
            path,
        )
    if gray is None:
        gray = _read_with_opencv(path, max_pixels, path)
    if gray is None:
        with open(path, "rb") as handle:
            head = handle.read(32)
        raise InputError(
            "The file is not an image that Pillow or OpenCV can decode (expected PNG, JPEG, TIFF, BMP, WebP, GIF, "
            f"...); check that it is not a text file or a damaged download. Received: content={describe_content(head)}",
            path,
        )
    return np.ascontiguousarray(gray)


# ---------------------------------------------------------------------------------------------------------------
# preprocess_line
# ---------------------------------------------------------------------------------------------------------------


def strip_width(shape, *, height=HEIGHT, min_width=MIN_WIDTH):
    """Width of the strip an ``(H, W)`` image scales to at ``height`` pixels, before any crop.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)`` of the (cropped) line image, in pixels.
    height : int > 0
        Target strip height in pixels.
    min_width : int > 0
        Narrowest strip returned.

    Returns
    -------
    width : int
        ``max(min_width, round(W * height / H))``.
    """
    rows, cols = int(shape[0]), int(shape[1])
    if rows <= 0:
        return int(min_width)
    return max(int(min_width), int(round(cols * height / rows)))


def _reference_levels(gray):
    """Return (low, high, median) gray levels of a uint8 image from its histogram (fast, no sort).

    ``low`` and ``high`` are the k-th darkest and k-th lightest values, k = min(1 % of the pixels, 2 * H).
    """
    counts = np.bincount(gray.ravel(), minlength=256)
    cumulative = np.cumsum(counts)
    total = int(cumulative[-1])
    tail = max(1, min(int(_TAIL_FRACTION * total), 2 * gray.shape[0]))
    low, high, median = np.searchsorted(cumulative, [tail, total - tail + 1, (total + 1) // 2], side="left")
    return int(low), int(high), int(median)


def _ink_bounds(profile, fraction):
    """First and last index (inclusive) where ``profile`` exceeds ``fraction`` of its peak, or None."""
    peak = profile.max(initial=0)
    if peak <= 0:
        return None
    keep = np.flatnonzero(profile >= max(1.0, fraction * peak))
    if keep.size == 0:
        return None
    return int(keep[0]), int(keep[-1])


def check_polarity(polarity):
    """``polarity`` if it is one of :data:`ocr.defaults.POLARITIES`; else a :class:`ConfigError` naming them."""
    if polarity not in POLARITIES:
        raise ConfigError(f"Received an invalid value for `polarity`, expected one of {POLARITIES}. "
                          f"Received: polarity={polarity!r}")
    return polarity


def preprocess_line(gray, *, height=HEIGHT, min_width=MIN_WIDTH, polarity=POLARITY, min_contrast=MIN_CONTRAST,
                    source=None, return_box=False):
    """Turn a text-line image into the strip the model reads: ``(width, height)``, ink = 1, background = 0.

    Steps: contrast normalization between robust dark and light levels (the 1st and 99th percentiles, or the
    ``2 * H``-th darkest and lightest pixels when the ink is sparse); inversion of light-on-dark
    text (detected from the median, which is background on a text line); crop to the ink's bounding box (rows with
    2% of the fullest row's ink, then columns with 2% of the fullest column's on those rows, at least a pixel: a
    line-final period stays inside) plus a margin of 1/8 of the ink height; scaling to ``height`` rows with the
    aspect kept (area averaging when shrinking, bilinear when enlarging); transposition so that axis 0 runs along
    the line.

    Parameters
    ----------
    gray : np.ndarray [shape=(H, W), dtype=uint8]
        A grayscale line image, as :func:`load_image` returns. Anything else :func:`load_image` accepts (a path,
        a color or float array) is loaded with it first.
    height : int > 0
        Strip height in pixels (the model's number of input features).
    min_width : int > 0
        Narrowest strip returned, in pixels (a front end that subsamples time needs a few columns).
    polarity : {"auto", "dark_on_light", "light_on_dark"}
        Which way round the text is; ``auto`` decides from the median (background on a text line).
    min_contrast : int in [1, 255]
        Gray levels between the dark and light levels below which the image counts as blank.
    source : str, optional
        Name used in error messages (e.g. the file path).
    return_box : bool
        Also return the region of ``gray`` that the strip shows.

    Returns
    -------
    strip : np.ndarray [shape=(width, height), dtype=float32]
        Values in [0, 1], ink = 1. ``width = max(min_width, round(W_crop * height / H_crop))``. An image without
        ink (contrast below 16 gray levels between the dark and light levels) gives a blank strip of shape
        ``(min_width, height)``.
    box : tuple of int, only with ``return_box``
        ``(left, top, right, bottom)`` in pixels of ``gray`` (right and bottom exclusive): the ink box plus its
        margin, which strip rows ``0 .. width`` map onto linearly. Where the margin runs past the image edge the
        box does too (the strip is padded with background there); a blank image gives the whole image.

    Examples
    --------
    >>> line = np.full((40, 200), 255, np.uint8); line[10:30, 20:180] = 0
    >>> preprocess_line(line, height=32).shape
    (219, 32)
    """
    import cv2

    height, min_width = check_count("height", height), check_count("min_width", min_width)
    polarity = check_polarity(polarity)
    min_contrast = check_count("min_contrast", min_contrast, maximum=255)  # gray levels
    if not (isinstance(gray, np.ndarray) and gray.dtype == np.uint8 and gray.ndim == 2):
        if source is None and isinstance(gray, (str, os.PathLike)):
            source = os.fspath(gray)
        gray = load_image(gray)
    if gray.size == 0:
        raise InputError(
            f"The line image is empty; expected at least 1 x 1 pixels. Received: shape={tuple(gray.shape)}", source
        )
    blank = np.zeros((min_width, height), dtype=np.float32)
    whole = (0, 0, int(gray.shape[1]), int(gray.shape[0]))

    low, high, median = _reference_levels(gray)
    if high - low < min_contrast:
        return (blank, whole) if return_box else blank
    # ink = 1 on dark-on-light paper; a median nearer the dark level means light text on a dark background.
    scale = 1.0 / (high - low)
    ink = gray.astype(np.float32)
    dark_on_light = median - low >= high - median if polarity == "auto" else polarity == "dark_on_light"
    if dark_on_light:
        ink = (high - ink) * scale  # dark on light: invert so that ink is high
    else:
        ink = (ink - low) * scale  # light on dark: ink is already the bright part
    np.clip(ink, 0.0, 1.0, out=ink)

    mask = ink > 0.5
    rows = _ink_bounds(np.count_nonzero(mask, axis=1), 0.02)
    if rows is None:
        return (blank, whole) if return_box else blank
    top, bottom = rows
    # Columns from the text's rows only (specks above and below do not widen the box); a low bar, so that a period
    # or a quote at either end of the line stays inside the box. Those rows hold ink, so the columns are found.
    left, right = _ink_bounds(np.count_nonzero(mask[top : bottom + 1], axis=0), 0.02)
    margin = max(1, int(round((bottom - top + 1) / 8)))
    rows_total, cols_total = ink.shape
    crop = ink[max(0, top - margin) : bottom + margin + 1, max(0, left - margin) : right + margin + 1]
    pad = (
        max(0, margin - top),
        max(0, bottom + margin + 1 - rows_total),
        max(0, margin - left),
        max(0, right + margin + 1 - cols_total),
    )
    if any(pad):
        crop = cv2.copyMakeBorder(crop, *pad, cv2.BORDER_CONSTANT, value=0.0)

    width = strip_width(crop.shape, height=height, min_width=min_width)
    interpolation = cv2.INTER_AREA if crop.shape[0] > height else cv2.INTER_LINEAR
    resized = cv2.resize(crop, (width, height), interpolation=interpolation)
    if resized.ndim == 1:  # cv2 drops a unit axis in rare shapes
        resized = resized.reshape(height, width)
    np.clip(resized, 0.0, 1.0, out=resized)
    strip = np.ascontiguousarray(resized.T)
    if return_box:
        return strip, (left - margin, top - margin, right + margin + 1, bottom + margin + 1)
    return strip


def stretch_strip(strip, factor):
    """A strip made ``factor`` times longer (wider text), linearly interpolated.

    Parameters
    ----------
    strip : np.ndarray [shape=(width, height), dtype=float32]
        A strip of :func:`preprocess_line`.
    factor : float > 0

    Returns
    -------
    stretched : np.ndarray [shape=(max(1, round(width * factor)), height), dtype=float32]
    """
    import cv2

    width, height = strip.shape
    length = max(1, int(round(width * float(factor))))
    stretched = cv2.resize(np.ascontiguousarray(strip), (height, length), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(stretched.reshape(length, height), dtype=np.float32)
