"""Page layout: a page image -> text blocks in reading order -> text lines.

:func:`analyze_page` binarizes the page (:mod:`ocr.binarize`: background normalisation and a Sauvola threshold,
either polarity), keeps the connected components that look like text (specks, rules and pictures are left out),
estimates the skew (up to 5 degrees) from the components and shears the text upright, cuts the page into blocks
with a recursive XY-cut that prefers column gutters (two columns, headings across them, captions), merges the
leaves that belong to one paragraph, and finds the lines of each block on its smoothed row profile: one line per
peak of ink, separated at the deepest valley between peaks, so lines whose ascenders touch the line above (tight
leading) are still split; accents and i-dots, which make weak peaks of their own, stay with their line.

:func:`find_lines` returns the lines of all blocks in reading order, :func:`crop_lines` cuts them out (shearing
slightly skewed lines back to horizontal), and :func:`looks_like_page` tells a page from a single line.

Scope: printed pages, screenshots and photographed pages with little perspective; text in pictures, tables as
tables and vertical text are not handled.
"""

import dataclasses

import numpy as np

from common.errors import InputError

__all__ = ["LineBox", "BlockBox", "PageLayout", "analyze_page", "find_lines", "crop_lines", "looks_like_page",
           "reads_as_page"]

_MAX_SKEW_DEGREES = 5.0
_SPECK = 0.12  # components with an area below (this x text height)^2 are specks
_PICTURE_HEIGHT = 4.5  # components taller than this many text heights are pictures (or frames, or big blots)
_RULE_LENGTH = 8.0  # ... longer than this many text heights and thinner than half of one are rules
_COLUMN_GAP = 1.5  # a gutter is at least this many text heights wide ...
_COLUMN_MIN_HEIGHT = 2.5  # ... in a region at least this many text heights high
_PARAGRAPH_GAP = 1.1  # leaves closer than this many text heights (vertically) and overlapping are one block
_VALLEY_RATIO = 0.55  # two profile peaks are two lines when the valley between them is below this x the lower one
_PEAK_DISTANCE = 0.75  # ... and they are at least this many text heights apart
_FRAGMENT_HEIGHT = 0.5  # bands with less ink height than this x the text height are fragments (accents, dots)
_FRAGMENT_GAP = 0.8  # ... merged into a neighbor closer than this x the text height
_MIN_LINE_HEIGHT = 0.35  # bands with less ink height than this x the text height are not lines
_MARGIN = 0.15  # margin around each line, as a fraction of its height (within the valleys that bound it)
_PAGE_LINE_ASPECT = 1.5  # --layout auto: the median line of a page is at least this many times wider than high
_STRIP_ASPECT = 3.0  # --layout auto: an image this many times wider than high must also show separate bands of ink
_BAND_VALLEY = 0.35  # ... two bands when the row profile between them falls below this x the lower one


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


@dataclasses.dataclass(frozen=True)
class BlockBox:
    """A text block (paragraph, heading, caption, a column's run of lines): its box and its lines.

    Args:
        top, bottom, left, right: the bounding box of its lines in pixels of the page (slice bounds).
        lines: its :class:`LineBox` objects, top to bottom.
    """

    top: int
    bottom: int
    left: int
    right: int
    lines: tuple = ()


@dataclasses.dataclass(frozen=True)
class PageLayout:
    """The layout of one page: ``width`` x ``height`` pixels, the ``slope`` of its text (rise per column; the skew
    angle is ``atan(slope)``) and its text ``blocks`` in reading order."""

    width: int
    height: int
    slope: float = 0.0
    blocks: tuple = ()

    @property
    def lines(self):
        """All lines in reading order."""
        return [line for block in self.blocks for line in block.lines]

    @property
    def skew_degrees(self):
        return float(np.degrees(np.arctan(self.slope)))


def _as_gray(gray):
    if isinstance(gray, np.ndarray) and gray.dtype == np.uint8 and gray.ndim == 2:
        return gray
    from ocr.images import load_image

    return load_image(gray)


def _weighted_median(values, weights):
    order = np.argsort(values)
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


def _text_components(ink):
    """``(labels, keep, boxes, text_height)``: the component labels of ``ink``, a mask over label numbers of the
    components that look like text, their boxes ``(x0, y0, x1, y1)`` and the typical text height in pixels."""
    import cv2

    count, labels, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    x, y, w, h, area = (stats[:, i].astype(np.int64) for i in range(5))
    keep = np.zeros(count, dtype=bool)
    if count <= 1:
        return labels, keep, np.zeros((0, 4), np.int64), 0.0
    index = np.arange(1, count)
    sizeable = index[area[1:] > 2]
    if len(sizeable) == 0:
        sizeable = index
    # Typical text height: the median height weighted by box area, so that many specks do not outvote letters,
    # each weight capped at the 90th percentile, so that one big picture does not outvote them either.
    weights = (w * h)[sizeable].astype(np.float64)
    weights = np.minimum(weights, np.percentile(weights, 90))
    text_height = max(_weighted_median(h[sizeable], weights), 1.0)
    speck = max(2.0, (_SPECK * text_height) ** 2)
    keep[1:] = area[1:] > speck
    rules = ((w >= _RULE_LENGTH * text_height) & (h <= 0.5 * text_height)) | (
        (h >= _RULE_LENGTH * text_height) & (w <= 0.5 * text_height))
    pictures = (h > _PICTURE_HEIGHT * text_height) | ((w > 12 * text_height) & (h > 2.5 * text_height))
    pictures[0] = rules[0] = False
    keep &= ~rules & ~pictures
    # Whatever lies inside a picture (its texture, a frame's contents) is left out with it.
    for p in np.flatnonzero(pictures):
        inside = (x >= x[p]) & (y >= y[p]) & (x + w <= x[p] + w[p]) & (y + h <= y[p] + h[p])
        keep &= ~inside
    keep[0] = False
    boxes = np.stack([x, y, x + w, y + h], axis=1)
    keep &= ~_bullets(boxes, area, keep, text_height)
    return labels, keep, boxes, text_height


def _bullets(boxes, area, keep, text_height):
    """Solid, square marks about a letter high that start a line, set apart from the text after them (list
    bullets, check boxes): not text."""
    x0, y0, x1, y1 = boxes.T
    w, h = x1 - x0, y1 - y0
    candidates = np.flatnonzero(keep & (area > 0.88 * w * h) & (w >= 0.75 * h) & (w <= 1.33 * h)
                                & (h >= 0.3 * text_height) & (h <= 1.2 * text_height))
    found = np.zeros(len(boxes), dtype=bool)
    for c in candidates[:1000]:
        same_row = keep & (y0 < y1[c]) & (y1 > y0[c])
        before = same_row & (x1 <= x0[c]) & (x1 > x0[c] - 1.5 * text_height)
        after = same_row & (x0 >= x1[c]) & (x0 < x1[c] + 2.0 * text_height)
        # First on its line, with text after a gap wider than a letter's spacing (a one-letter word "a" whose
        # counter closed up in a small font is not a bullet).
        if not before.any() and after.any() and x0[after].min() - x1[c] >= 0.4 * text_height:
            found[c] = True
    return found


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
    """The slope in [-tan 5 deg, tan 5 deg] that makes the row profile sharpest (sum of squares)."""
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


def _shear_upright(mask, slope):
    """``(sheared, offset)``: ``mask`` with rows ``y' = y - slope * x + offset`` made horizontal (nearest pixel)."""
    import cv2

    rows, cols = mask.shape
    if slope == 0.0:
        return mask, 0
    offset = int(np.ceil(max(slope, 0.0) * cols)) + 1
    height = rows + int(np.ceil(abs(slope) * cols)) + 2
    matrix = np.array([[1.0, 0.0, 0.0], [slope, 1.0, -float(offset)]], dtype=np.float64)
    sheared = cv2.warpAffine(mask, matrix, (cols, height), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                             borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return sheared, offset


def _gaps(starts, stops, min_gap):
    """``(gap_start, gap_stop)`` of the uncovered stretches at least ``min_gap`` long between intervals."""
    order = np.argsort(starts, kind="stable")
    starts, stops = starts[order], stops[order]
    reach = np.maximum.accumulate(stops)
    gap_sizes = starts[1:] - reach[:-1]
    found = np.flatnonzero(gap_sizes >= min_gap)
    return [(int(reach[i]), int(starts[i + 1])) for i in found]


def _column_cuts(boxes, text_height):
    """Gutters that split ``boxes`` into columns (empty when the region is too low or has none)."""
    if len(boxes) < 2 or boxes[:, 3].max() - boxes[:, 1].min() < _COLUMN_MIN_HEIGHT * text_height:
        return []
    return _gaps(boxes[:, 0], boxes[:, 2], _COLUMN_GAP * text_height)


def _xy_cut(boxes, index, text_height, depth=0):
    """Leaves of a recursive XY-cut of ``boxes[index]`` in reading order (lists of indices into ``boxes``).

    A region with a column gutter is split there (columns left to right); otherwise it is split at one row gap:
    the one below or above which a column split becomes possible over the tallest height (a heading over two
    columns), else the widest (paragraphs).
    """
    region = boxes[index]
    if len(index) <= 1 or depth > 200:
        return [index]
    cuts = _column_cuts(region, text_height)
    if cuts:
        centers = np.array([(a + b) / 2.0 for a, b in cuts])
        column = np.searchsorted(centers, (region[:, 0] + region[:, 2]) / 2.0)
        leaves = []
        for number in range(len(cuts) + 1):
            members = index[column == number]
            if len(members):
                leaves += _xy_cut(boxes, members, text_height, depth + 1)
        return leaves
    gaps = _gaps(region[:, 1], region[:, 3], 1)
    if not gaps:
        return [index]
    widths = np.array([b - a for a, b in gaps], dtype=np.float64)
    best, best_height = int(np.argmax(widths)), 0.0
    for candidate in np.argsort(-widths)[:8]:
        middle = sum(gaps[candidate]) / 2.0
        for side in (region[:, 3] <= middle, region[:, 1] >= middle):
            part = region[side]
            if len(part) and _column_cuts(part, text_height):
                height = float(part[:, 3].max() - part[:, 1].min())
                if height > best_height:
                    best, best_height = int(candidate), height
    middle = sum(gaps[best]) / 2.0
    above = (region[:, 1] + region[:, 3]) / 2.0 < middle
    return (_xy_cut(boxes, index[above], text_height, depth + 1)
            + _xy_cut(boxes, index[~above], text_height, depth + 1))


def _merge_leaves(boxes, leaves, text_height):
    """Join consecutive leaves that continue one another (a paragraph's lines) into blocks."""
    blocks = []
    for leaf in leaves:
        x0, y0 = boxes[leaf, 0].min(), boxes[leaf, 1].min()
        x1, y1 = boxes[leaf, 2].max(), boxes[leaf, 3].max()
        if blocks:
            members, (bx0, by0, bx1, by1) = blocks[-1]
            overlap = min(x1, bx1) - max(x0, bx0)
            if (0 <= y0 - by1 < _PARAGRAPH_GAP * text_height and overlap > 0.5 * min(x1 - x0, bx1 - bx0)
                    and abs(x0 - bx0) < 2 * text_height):
                blocks[-1] = (np.concatenate([members, leaf]), (min(x0, bx0), by0, max(x1, bx1), max(y1, by1)))
                continue
        blocks.append((leaf, (x0, y0, x1, y1)))
    return blocks


def _smooth(values, width):
    if width <= 1:
        return values.astype(np.float64)
    kernel = np.ones(int(width), dtype=np.float64) / int(width)
    return np.convolve(values.astype(np.float64), kernel, mode="same")


def _peaks(profile):
    """Indices of the local maxima of a 1-D profile (the middle of a plateau)."""
    padded = np.concatenate([[-1.0], profile, [-1.0]])
    rising = np.flatnonzero(np.diff(padded) > 0)  # index i: padded[i + 1] > padded[i]
    peaks = []
    for start in rising:
        stop = start + 1
        while stop < len(padded) - 1 and padded[stop + 1] == padded[start + 1]:
            stop += 1
        if padded[stop + 1] < padded[start + 1]:
            peaks.append((start + stop) // 2)
    return sorted(set(peaks))


def _line_peaks(profile, text_height):
    """Peaks of a block's smoothed row profile that are lines of their own."""
    peaks = [p for p in _peaks(profile) if profile[p] > 0]
    changed = True
    while changed and len(peaks) > 1:
        changed = False
        for i in range(len(peaks) - 1):
            a, b = peaks[i], peaks[i + 1]
            valley = float(profile[a:b + 1].min())
            if valley > _VALLEY_RATIO * min(profile[a], profile[b]) or b - a < _PEAK_DISTANCE * text_height:
                del peaks[i + 1 if profile[a] >= profile[b] else i]
                changed = True
                break
    return peaks


def _valley(profile, start, stop):
    """Row between two peaks where to cut: the middle of the longest run at the minimum of the profile."""
    segment = profile[start:stop + 1]
    low = float(segment.min())
    at_min = segment <= low + 1e-9 + 0.02 * (float(segment.max()) - low)
    edges = np.diff(np.concatenate([[0], at_min.astype(np.int8), [0]]))
    runs = list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)))
    first, last = max(runs, key=lambda run: run[1] - run[0])
    return start + int((first + last) // 2)


def _cut_through_letters(boxes, top, cut, bottom, text_height):
    """Whether a cut at row ``cut`` between the peaks at ``top`` and ``bottom`` passes through most of the
    components there (the strokes of one line of capitals) rather than between two lines (where it crosses only
    the descenders and ascenders that reach it)."""
    near = boxes[(boxes[:, 1] < bottom) & (boxes[:, 3] > top)]
    if len(near) == 0:
        return False
    slack = max(1.0, 0.1 * text_height)
    crossing = (near[:, 1] < cut - slack) & (near[:, 3] > cut + slack)
    return int(crossing.sum()) > 0.5 * len(near)


def _block_lines(labels, members, bounds, text_height, boxes):
    """Line extents ``(top, bottom, left, right)`` (upright coordinates) of one block."""
    x0, y0, x1, y1 = (int(v) for v in bounds)
    mask = np.isin(labels[y0:y1, x0:x1], members + 1)
    raw = mask.sum(axis=1).astype(np.float64)
    profile = _smooth(raw, max(1, int(round(0.25 * text_height))))
    peaks = _line_peaks(profile, text_height)
    if not peaks:
        return []
    inner = []
    block_boxes = boxes[members] - np.array([x0, y0, x0, y0])
    for a, b in zip(peaks[:-1], peaks[1:]):
        cut = _valley(profile, a, b)
        if not _cut_through_letters(block_boxes, a, cut, b, text_height):
            inner.append(cut)
    cuts = [0] + inner + [len(raw)]
    bands = []  # [cut_top, cut_bottom, ink_top, ink_bottom]
    for top, bottom in zip(cuts[:-1], cuts[1:]):
        rows = np.flatnonzero(raw[top:bottom] > 0)
        if len(rows):
            bands.append([top, bottom, top + int(rows[0]), top + int(rows[-1]) + 1])
    bands = _merge_fragments(bands, text_height)
    lines = []
    for top, bottom, ink_top, ink_bottom in bands:
        if ink_bottom - ink_top < _MIN_LINE_HEIGHT * text_height:
            continue
        columns = np.flatnonzero(mask[ink_top:ink_bottom].any(axis=0))
        margin = max(1, int(round(_MARGIN * (ink_bottom - ink_top))))
        lines.append((max(top, ink_top - margin) + y0, min(bottom, ink_bottom + margin) + y0,
                      int(columns[0]) + x0, int(columns[-1]) + 1 + x0, margin))
    return lines


def _merge_fragments(bands, text_height):
    """Merge bands of little ink height (accents, i-dots, stray marks) into the nearer neighbor when it is close;
    a far one is dropped. Bands are ``[cut_top, cut_bottom, ink_top, ink_bottom]`` lists, top to bottom."""
    while bands:
        heights = [b[3] - b[2] for b in bands]
        i = int(np.argmin(heights))
        if heights[i] >= _FRAGMENT_HEIGHT * text_height:
            break
        gap_above = bands[i][2] - bands[i - 1][3] if i > 0 else np.inf
        gap_below = bands[i + 1][2] - bands[i][3] if i + 1 < len(bands) else np.inf
        j = i - 1 if gap_above <= gap_below else i + 1
        if min(gap_above, gap_below) < _FRAGMENT_GAP * text_height:
            a, b = bands[min(i, j)], bands[max(i, j)]
            bands[min(i, j)] = [a[0], b[1], min(a[2], b[2]), max(a[3], b[3])]
            del bands[max(i, j)]
        else:
            if len(bands) == 1:
                break
            del bands[i]
    return bands


def analyze_page(gray):
    """Find the text blocks of a page, in reading order, and the lines of each.

    Parameters
    ----------
    gray : np.ndarray [shape=(H, W), dtype=uint8]
        A grayscale page (dark text on light paper, or light on dark). Anything
        :func:`ocr.images.load_image` accepts is loaded with it first.

    Returns
    -------
    layout : PageLayout
        Blocks in reading order (columns left to right, top to bottom within each), each with its lines top to
        bottom; boxes in pixels of ``gray`` with a margin of about 15 % of the line height. No blocks for a blank
        page.

    Examples
    --------
    >>> page = np.full((100, 200), 255, np.uint8)
    >>> page[20:35, 10:190] = 0; page[60:75, 10:150] = 0
    >>> [(b.top, b.bottom) for b in analyze_page(page).lines]
    [(18, 37), (58, 77)]
    """
    from ocr.binarize import ink_mask
    import cv2

    gray = _as_gray(gray)
    rows, cols = gray.shape
    empty = PageLayout(cols, rows, 0.0, ())
    ink = ink_mask(gray)
    if ink is None:
        return empty
    labels, keep, boxes, text_height = _text_components(ink)
    if not keep.any():
        return empty
    slope, _, _ = _estimate_slope(boxes[keep], rows, cols)
    upright, offset = _shear_upright(keep[labels].astype(np.uint8), slope)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(upright, connectivity=8)
    if count <= 1:
        return empty
    x, y, w, h = (stats[1:, i].astype(np.int64) for i in range(4))
    boxes = np.stack([x, y, x + w, y + h], axis=1)
    leaves = _xy_cut(boxes, np.arange(len(boxes)), text_height)
    blocks = []
    for members, bounds in _merge_leaves(boxes, leaves, text_height):
        lines = []
        for top, bottom, left, right, margin in _block_lines(labels, members, bounds, text_height, boxes):
            left, right = max(0, left - margin), min(cols, right + margin)
            drift = (slope * left, slope * (right - 1))
            top_o = max(0, int(np.floor(top - offset + min(drift))))
            bottom_o = min(rows, int(np.ceil(bottom - offset + max(drift))))
            if bottom_o > top_o and right > left:
                lines.append(LineBox(top_o, bottom_o, int(left), int(right), slope))
        if lines:
            blocks.append(BlockBox(min(b.top for b in lines), max(b.bottom for b in lines),
                                   min(b.left for b in lines), max(b.right for b in lines), tuple(lines)))
    return PageLayout(cols, rows, slope, tuple(blocks))


def find_lines(gray):
    """Find the text lines of a page in reading order (see :func:`analyze_page` for the blocks).

    Parameters
    ----------
    gray : np.ndarray [shape=(H, W), dtype=uint8]
        A grayscale page (dark text on light paper, or light on dark). Anything
        :func:`ocr.images.load_image` accepts is loaded with it first.

    Returns
    -------
    boxes : list of LineBox
        One per text line, in reading order, in pixels of ``gray``, with a margin of about 15 % of the line
        height. An empty list for a blank page.

    Examples
    --------
    >>> page = np.full((100, 200), 255, np.uint8)
    >>> page[20:35, 10:190] = 0; page[60:75, 10:150] = 0
    >>> [(b.top, b.bottom) for b in find_lines(page)]
    [(18, 37), (58, 77)]
    """
    return analyze_page(gray).lines


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


def _ink_bands(gray):
    """How many bands of ink, one above the other, the rows of ``gray`` show: peaks of its row profile of ink
    (averaged over every column, so that noise and broken letters average out; smoothed over 1/15 of the height)
    with a valley below :data:`_BAND_VALLEY` x the lower peak between them."""
    g = gray.astype(np.float32)
    dark = 255.0 - g if np.median(g) >= 128 else g
    rows = dark.mean(axis=1)
    profile = _smooth(np.clip(rows - np.percentile(rows, 10), 0.0, None), max(1, gray.shape[0] // 15))
    peaks = [p for p in _peaks(profile) if profile[p] > 0.2 * profile.max()]
    return (1 if peaks else 0) + sum(
        1 for a, b in zip(peaks[:-1], peaks[1:]) if profile[a:b + 1].min() < _BAND_VALLEY * min(profile[a], profile[b]))


def reads_as_page(layout, gray):
    """Whether ``--layout auto`` reads an image of this :class:`PageLayout` as a page rather than as one line.

    A page has two lines or more, and they look like text lines: the median one is at least 1.5 times wider than
    it is high. A strip (``gray``, the image, 3 times wider than high or more) must also show two bands of ink or
    more, one above the other, in its row profile. Measured on 1,200 held-out line images
    (``benchmarks/ocr_vs_tesseract.py`` slices), the analysis alone took 3-8% of the degraded ones for pages:
    blurred, faint or noisy letters binarise into fragments, which it reads as a line split in two halves or as
    dozens of tiny "lines"; read as one line they read well.
    """
    lines = layout.lines
    if len(lines) < 2:
        return False
    aspects = [(line.right - line.left) / max(1, line.bottom - line.top) for line in lines]
    if float(np.median(aspects)) < _PAGE_LINE_ASPECT:
        return False
    if gray.shape[1] >= _STRIP_ASPECT * gray.shape[0]:
        return _ink_bands(gray) >= 2
    return True


def looks_like_page(gray):
    """Whether an image holds more than one text line (for ``--layout auto``).

    Parameters
    ----------
    gray : np.ndarray [shape=(H, W), dtype=uint8]
        A grayscale image; anything :func:`ocr.images.load_image` accepts is loaded with it first.

    Returns
    -------
    bool
        True when :func:`analyze_page` finds two lines or more that look like text lines (:func:`reads_as_page`).
    """
    gray = _as_gray(gray)
    return reads_as_page(analyze_page(gray), gray)
