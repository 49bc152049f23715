"""Binarize a page image: background normalisation, then a Sauvola threshold.

:func:`normalize_background` divides the page by an estimate of its paper (a grey-level closing on a reduced copy,
smoothed), so that uneven light, shadows and gradients become a flat white; :func:`sauvola_threshold` then marks a
pixel as ink when it is darker than ``mean * (1 + k * (std / R - 1))`` of its window. :func:`ink_mask` chains
both, after deciding the polarity (light text on a dark background is inverted first).

Stateless NumPy in, NumPy out; OpenCV does the filtering.
"""

import numpy as np

__all__ = ["is_dark_background", "normalize_background", "sauvola_threshold", "ink_mask"]

_MIN_CONTRAST = 16  # gray levels between the paper and the darkest ink below which a page is blank


def _odd(value, low, high):
    value = int(min(max(value, low), high))
    return value if value % 2 else value + 1


def is_dark_background(gray):
    """Whether the page is light text on a dark background (screenshots in dark mode, negatives).

    Parameters
    ----------
    gray : np.ndarray [shape=(H, W), dtype=uint8]

    Returns
    -------
    bool
        True when the median gray level (the paper, which covers most of a page) is below mid-gray.
    """
    return float(np.median(gray)) < 128.0


def normalize_background(gray, *, window=None):
    """Flatten the paper of a dark-on-light page to white.

    Parameters
    ----------
    gray : np.ndarray [shape=(H, W), dtype=uint8]
        Dark text on lighter paper.
    window : int or None
        Side in pixels of the closing that erases the text to leave the paper; ``None``: 1/20 of the shorter side,
        at least 15 (it must exceed the thickest stroke).

    Returns
    -------
    normalized : np.ndarray [shape=(H, W), dtype=uint8]
        ``gray * 255 / paper``, clipped: paper near 255 everywhere, ink keeps its contrast to the paper around it.
    """
    import cv2

    rows, cols = gray.shape
    window = window or max(15, min(rows, cols) // 20)
    scale = max(1, int(window // 15))  # work on a reduced copy: the paper varies slowly
    small = cv2.resize(gray, (max(1, cols // scale), max(1, rows // scale)), interpolation=cv2.INTER_AREA)
    size = _odd(window / scale, 3, 255)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, size))
    paper = cv2.morphologyEx(small, cv2.MORPH_CLOSE, kernel)  # max then min: removes dark strokes thinner than it
    paper = cv2.blur(paper, (size, size))
    paper = cv2.resize(paper, (cols, rows), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    normalized = gray.astype(np.float32) * 255.0 / np.maximum(paper, 1.0)
    return np.clip(normalized, 0, 255).astype(np.uint8)


def sauvola_threshold(gray, *, window=25, k=0.2, dynamic_range=128.0):
    """Sauvola's local threshold of each pixel.

    Parameters
    ----------
    gray : np.ndarray [shape=(H, W), dtype=uint8]
    window : int
        Side of the square window in pixels (made odd).
    k : float
        Sensitivity: larger values need more contrast to call a pixel ink.
    dynamic_range : float
        ``R``, the largest standard deviation expected (128 for 8-bit images).

    Returns
    -------
    threshold : np.ndarray [shape=(H, W), dtype=float32]
        A pixel darker than its threshold is ink.
    """
    import cv2

    window = _odd(window, 3, 511)
    values = gray.astype(np.float32)
    mean = cv2.boxFilter(values, -1, (window, window), borderType=cv2.BORDER_REFLECT)
    mean_sq = cv2.boxFilter(values * values, -1, (window, window), borderType=cv2.BORDER_REFLECT)
    std = np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))
    return mean * (1.0 + k * (std / dynamic_range - 1.0))


def ink_mask(gray, *, window=None, k=0.2):
    """Ink of a page as a 0/1 mask, whichever its polarity; ``None`` for a blank page.

    Parameters
    ----------
    gray : np.ndarray [shape=(H, W), dtype=uint8]
    window : int or None
        Sauvola window in pixels; ``None``: 1/25 of the shorter side, clipped to [15, 61].
    k : float
        Sauvola's sensitivity.

    Returns
    -------
    ink : np.ndarray [shape=(H, W), dtype=uint8] or None
        1 where there is ink. ``None`` when the darkest 0.05 % of the page is within 16 gray levels of its paper.
    """
    import cv2

    if is_dark_background(gray):
        gray = 255 - gray
    smoothed = cv2.GaussianBlur(gray, (3, 3), 0)
    # Blank: no contrast between the paper and its darkest 0.05 % (a sparse page has little ink; noise is blurred).
    counts = np.cumsum(np.bincount(smoothed.ravel(), minlength=256))
    low, paper = np.searchsorted(counts, [0.0005 * counts[-1], 0.5 * counts[-1]])
    if int(paper) - int(low) < _MIN_CONTRAST:
        return None
    normalized = normalize_background(smoothed)
    window = window or _odd(min(gray.shape) / 25, 15, 61)
    threshold = sauvola_threshold(normalized, window=window, k=k)
    # Paper is flat white after normalisation: a pixel is ink only with some contrast to it (noise is not).
    ink = (normalized < threshold) & (normalized < 235)
    return ink.astype(np.uint8)
