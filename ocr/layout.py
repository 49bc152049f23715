"""Split a page image into text-line strips.

:func:`find_lines` binarizes the page (Otsu, either polarity), removes specks, estimates the skew from the
connected components, and splits the de-skewed horizontal projection profile at its gaps; fragments such as
accents and i-dots that form thin bands of their own are merged into the nearest line. :func:`crop_lines` cuts
the lines out (straightening slightly skewed ones), and :func:`looks_like_page` tells a page from a single line.

This is a projection-profile method for one column of running text (scans, screenshots, photographed pages with
little perspective). Multi-column layouts, tables and text in pictures are out of its scope.
"""

import dataclasses

import numpy as np

from common.errors import InputError

__all__ = ["LineBox", "find_lines", "crop_lines", "looks_like_page"]

_MIN_CONTRAST = 16  # gray levels between the 1st and 99th percentile below which a page is blank
_MAX_SKEW_DEGREES = 3.0
_PROFILE_THRESHOLD = 0.04  # a row belongs to a line when its profile exceeds this fraction of a typical peak
_FRAGMENT_HEIGHT = 0.45  # bands thinner than this fraction of the median line are fragments (accents, dots)
_FRAGMENT_GAP = 0.6  # ... and are merged into a neighbor closer than this fraction of the median line
_MARGIN = 0.15  # margin around each line, as a fraction of its height


@dataclasses.dataclass(frozen=True)
class LineBox:
    """Where one text line lies in a page image, in pixels of that image.

    ``gray[top:bottom, left:right]`` holds the line: ``top``/``left`` are inclusive, ``bottom``/``right``
    exclusive, like slice bounds.

    Args:
        top: first row.
        bottom: one past the last row.
        left: first column.
        right: one past the last column.
        slope: the line's rise in rows per column (``tan`` of its skew angle, positive when it runs downwards to
            the right). When it is not 0, the text occupies a parallelogram whose bounding box is this box,
            ``thickness`` rows high; :func:`crop_lines` shears it back to horizontal.
    """

    top: int
    bottom: int
    left: int
    right: int
    slope: float = 0.0

    @property
    def height(self):
        """Rows spanned by the box."""
        return self.bottom - self.top

    @property
    def width(self):
        """Columns spanned by the box."""
        return self.right - self.left

    @property
    def thickness(self):
        """Height of the line itself in rows: the box height less what the slope adds."""
        return max(1, int(round(self.height - abs(self.slope) * self.width)))


def _as_gray(gray):
    if isinstance(gray, np.ndarray) and gray.dtype == np.uint8 and gray.ndim == 2:
        return gray
    from ocr.images import load_image

    return load_image(gray)


def _binarize(gray):
    """Ink mask (uint8 0/1, ink = 1) of a page, whichever its polarity; None for a blank page."""
    import cv2

    counts = np.cumsum(np.bincount(gray.ravel(), minlength=256))
    low, high = np.searchsorted(counts, [0.01 * counts[-1], 0.99 * counts[-1]])
    if int(high) - int(low) < _MIN_CONTRAST:
        return None
    smoothed = cv2.GaussianBlur(gray, (3, 3), 0)
    _, ink = cv2.threshold(smoothed, 0, 1, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    if np.count_nonzero(ink) > ink.size // 2:  # light text on a dark background
        ink = 1 - ink
    return ink


def _components(ink):
    """Bounding boxes ``(x0, y0, x1, y1)`` (exclusive ends) of the connected components that are not specks."""
    import cv2

    count, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    stats = stats[1:]
    if len(stats) == 0:
        return np.zeros((0, 4), dtype=np.int64)
    x, y, w, h, area = (stats[:, i].astype(np.int64) for i in range(5))
    sizeable = area > 2
    typical_height = float(np.median(h[sizeable])) if sizeable.any() else float(np.median(h))
    speck_area = max(2.0, (0.12 * typical_height) ** 2)
    keep = (area > speck_area) & (h <= 8 * max(typical_height, 1.0))
    if not keep.any():
        keep = area == area.max()
    return np.stack([x[keep], y[keep], x[keep] + w[keep], y[keep] + h[keep]], axis=1)


def _profile(boxes, slope, offset, length):
    """Horizontal projection of the component boxes along rows ``y' = y - slope * x``.

    Each box spreads its area evenly over the de-skewed rows it spans, so a slope that does not match the text
    smears the profile out (and lowers its sum of squares).
    """
    x0, y0, x1, y1 = boxes.T
    shift_a, shift_b = slope * x0, slope * (x1 - 1)
    starts = np.floor(y0 - np.maximum(shift_a, shift_b)).astype(np.int64) + offset
    ends = np.ceil(y1 - np.minimum(shift_a, shift_b)).astype(np.int64) + offset
    weights = ((x1 - x0) * (y1 - y0)).astype(np.float64) / np.maximum(ends - starts, 1)
    diff = np.bincount(starts, weights, minlength=length + 1) - np.bincount(ends, weights, minlength=length + 1)
    return np.cumsum(diff[:length])


def _estimate_slope(boxes, height, width):
    """The slope in [-tan 3 deg, tan 3 deg] that makes the row profile sharpest (sum of squares)."""
    max_slope = np.tan(np.deg2rad(_MAX_SKEW_DEGREES))
    offset = int(np.ceil(max_slope * width)) + 2
    length = height + 2 * offset + 2

    def score(slope):
        profile = _profile(boxes, slope, offset, length)
        return float(np.dot(profile, profile))

    coarse = np.tan(np.deg2rad(np.arange(-_MAX_SKEW_DEGREES, _MAX_SKEW_DEGREES + 1e-9, 0.25)))
    best = max(coarse, key=lambda s: (score(s), -abs(s)))
    step = np.tan(np.deg2rad(0.25))
    fine = np.clip(best + np.linspace(-step, step, 11), -max_slope, max_slope)
    best = max(fine, key=lambda s: (score(s), -abs(s)))
    if abs(best) * width < 1.0:  # less than a pixel of drift over the page
        best = 0.0
    return float(best), offset, length


def _runs(mask):
    """``(start, stop)`` pairs of the runs of True in a 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def _merge_fragments(bands):
    """Merge thin bands (accents, dots, stray marks) into the closer neighbor when it is near."""
    bands = [list(b) for b in bands]
    changed = True
    while changed and len(bands) > 1:
        changed = False
        median = float(np.median([b[1] - b[0] for b in bands]))
        for i, (start, stop) in enumerate(bands):
            if stop - start >= _FRAGMENT_HEIGHT * median:
                continue
            gap_above = start - bands[i - 1][1] if i > 0 else np.inf
            gap_below = bands[i + 1][0] - stop if i + 1 < len(bands) else np.inf
            j = i - 1 if gap_above <= gap_below else i + 1
            if min(gap_above, gap_below) < _FRAGMENT_GAP * median:
                bands[j] = [min(bands[j][0], start), max(bands[j][1], stop)]
                del bands[i]
                changed = True
                break
    return [tuple(b) for b in bands]


def _split_tall(bands, profile):
    """Split bands much taller than the median line at a deep valley of the profile (touching lines)."""
    if len(bands) < 3:
        return bands
    median = float(np.median([b[1] - b[0] for b in bands]))
    result = []
    pending = list(bands)
    while pending:
        start, stop = pending.pop(0)
        if stop - start > 1.8 * median:
            inner = profile[start + int(0.3 * median) : stop - int(0.3 * median)]
            if inner.size:
                cut = start + int(0.3 * median) + int(np.argmin(inner))
                if profile[cut] < 0.25 * profile[start:stop].max():
                    pending[:0] = [(start, cut), (cut + 1, stop)]
                    continue
        result.append((start, stop))
    return result


def find_lines(gray):
    """Find the text lines of a page, top to bottom.

    Parameters
    ----------
    gray : np.ndarray [shape=(H, W), dtype=uint8]
        A grayscale page (dark text on light paper, or light on dark). Anything
        :func:`ocr.images.load_image` accepts is loaded with it first.

    Returns
    -------
    boxes : list of LineBox
        One per text line, ordered top to bottom, in pixels of ``gray``, with a margin of about 15 % of the line
        height. An empty list for a blank page.

    Examples
    --------
    >>> page = np.full((100, 200), 255, np.uint8)
    >>> page[20:35, 10:190] = 0; page[60:75, 10:150] = 0
    >>> [(b.top, b.bottom) for b in find_lines(page)]
    [(18, 37), (58, 77)]
    """
    gray = _as_gray(gray)
    rows, cols = gray.shape
    ink = _binarize(gray)
    if ink is None:
        return []
    boxes = _components(ink)
    if len(boxes) == 0:
        return []
    slope, offset, length = _estimate_slope(boxes, rows, cols)
    profile = _profile(boxes, slope, offset, length)
    nonzero = profile[profile > 0]
    threshold = _PROFILE_THRESHOLD * float(np.percentile(nonzero, 90))
    bands = _runs(profile > threshold)
    if not bands:
        return []
    bands = _split_tall(_merge_fragments(bands), profile)

    # Assign each component to the band that holds (or is nearest to) its center, in de-skewed rows.
    x0, y0, x1, y1 = boxes.T
    center = (y0 + y1) / 2.0 - slope * (x0 + x1) / 2.0 + offset
    starts = np.array([b[0] for b in bands], dtype=np.float64)
    stops = np.array([b[1] for b in bands], dtype=np.float64)
    distance = np.maximum(starts[None, :] - center[:, None], 0) + np.maximum(center[:, None] - stops[None, :], 0)
    owner = np.argmin(distance, axis=1)

    shift_a, shift_b = slope * x0, slope * (x1 - 1)
    low = y0 - np.maximum(shift_a, shift_b)  # component extent in de-skewed rows
    high = y1 - np.minimum(shift_a, shift_b)
    result = []
    for index in range(len(bands)):
        members = owner == index
        if not members.any():
            continue
        band_low, band_high = float(low[members].min()), float(high[members].max())
        left, right = int(x0[members].min()), int(x1[members].max())
        margin = max(1, int(round(_MARGIN * (band_high - band_low))))
        band_low, band_high = band_low - margin, band_high + margin
        left, right = max(0, left - margin), min(cols, right + margin)
        drift = (slope * left, slope * (right - 1))
        top = max(0, int(np.floor(band_low + min(drift))))
        bottom = min(rows, int(np.ceil(band_high + max(drift))))
        if bottom > top and right > left:
            result.append(LineBox(top, bottom, left, right, slope))
    return result


def crop_lines(gray, boxes):
    """Cut line images out of a page.

    Parameters
    ----------
    gray : np.ndarray [shape=(H, W), dtype=uint8]
        The page the boxes were found in.
    boxes : list of LineBox
        As :func:`find_lines` returns them.

    Returns
    -------
    lines : list of np.ndarray [shape=(h_i, w_i), dtype=uint8]
        One copy per box. A box with a slope is sheared back to horizontal, ``box.thickness`` rows high; a box
        without one is the plain crop ``gray[top:bottom, left:right]``.
    """
    import cv2

    gray = _as_gray(gray)
    rows, cols = gray.shape
    lines = []
    for number, box in enumerate(boxes):
        if not isinstance(box, LineBox):
            raise InputError(
                f"Expected LineBox objects as returned by find_lines. Received: boxes[{number}]={box!r}"
            )
        top, bottom = max(0, int(box.top)), min(rows, int(box.bottom))
        left, right = max(0, int(box.left)), min(cols, int(box.right))
        if bottom <= top or right <= left:
            raise InputError(
                f"The box lies outside the {cols} x {rows} image or is empty; expected boxes found in this image. "
                f"Received: boxes[{number}]={box!r}"
            )
        crop = gray[top:bottom, left:right]
        if box.slope == 0.0:
            lines.append(crop.copy())
            continue
        slope, width = float(box.slope), right - left
        thickness = max(1, int(round((bottom - top) - abs(slope) * width)))
        # Output pixel (u, v) comes from crop pixel (u, v + slope * u - min(0, slope) * width).
        matrix = np.array([[1.0, 0.0, 0.0], [slope, 1.0, -min(0.0, slope) * width]], dtype=np.float64)
        lines.append(
            cv2.warpAffine(
                crop,
                matrix,
                (width, thickness),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
        )
    return lines


def looks_like_page(gray):
    """Whether an image holds more than one text line (for ``--layout auto``).

    Parameters
    ----------
    gray : np.ndarray [shape=(H, W), dtype=uint8]
        A grayscale image; anything :func:`ocr.images.load_image` accepts is loaded with it first.

    Returns
    -------
    bool
        True when :func:`find_lines` finds two lines or more.
    """
    return len(find_lines(gray)) > 1
