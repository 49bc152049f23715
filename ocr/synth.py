"""Rendered training lines: fonts on this machine, text from :class:`common.corpus.TextPool`, scanner-like noise.

:func:`find_fonts` lists the TrueType/OpenType fonts that can write a character set, :func:`render_line` draws
one line of text (clean, or degraded the way scans and photos are), and :func:`synthesize_dataset` writes a
folder of ``NNNNNN.png`` + ``NNNNNN.gt.txt`` pairs that :func:`ocr.data.load_line_dataset` reads.
"""

import functools
import os
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np

from common.corpus import PRINTABLE_ASCII, TextPool, filter_charset
from common.errors import ConfigError, DataError, InputError

__all__ = ["find_fonts", "resolve_fonts", "render_line", "degrade_line", "synthesize_dataset", "FONT_DIRS"]

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
"""Folders :func:`find_fonts` searches (recursively), besides Matplotlib's bundled fonts when it is installed."""

_FONT_SUFFIXES = (".ttf", ".otf")
# Fonts whose family or file name holds one of these draw pictures or math, not running text.
_EXCLUDED_FONT_WORDS = ("symbol", "dingbat", "emoji", "wingding", "webding", "keyboard", "math", "music", "d050000l")


class _Coverage:
    """The characters a font has glyphs for, usable as a ``charset`` (supports ``in``)."""

    def __init__(self, codepoints):
        self.codepoints = codepoints

    def __contains__(self, char):
        return ord(char) in self.codepoints or char.isspace() and 32 in self.codepoints


@functools.lru_cache(maxsize=1024)
def _font_info(path):
    """``(codepoints, family)`` of a font file, or None if it cannot be read or is a symbol font."""
    try:
        from fontTools.ttLib import TTFont

        with TTFont(path, lazy=True, fontNumber=0) as font:
            if any(table.platformID == 3 and table.platEncID == 0 for table in font["cmap"].tables):
                return None  # symbol-encoded: ASCII code points map to pictures
            codepoints = frozenset(font.getBestCmap() or ())
            family = font["name"].getBestFamilyName() or ""
    except Exception:  # fontTools raises many types for damaged or exotic files
        return None
    return codepoints, family


@functools.lru_cache(maxsize=256)
def _font(path, size):
    from PIL import ImageFont

    return ImageFont.truetype(path, size)


def _default_dirs():
    dirs = [os.path.expanduser(d) for d in FONT_DIRS]
    try:
        import matplotlib

        dirs.append(os.path.join(os.path.dirname(matplotlib.__file__), "mpl-data", "fonts", "ttf"))
    except ImportError:
        pass
    return tuple(dirs)


@functools.lru_cache(maxsize=32)
def _find_fonts(dirs, required):
    candidates = []
    for folder in dirs:
        if not os.path.isdir(folder):
            continue
        for root, _, files in os.walk(folder):
            candidates.extend(os.path.join(root, f) for f in files if f.lower().endswith(_FONT_SUFFIXES))
    fonts, seen_names = [], set()
    for path in sorted(candidates):
        name = os.path.basename(path)
        if name in seen_names:  # the same font installed twice (e.g. a system and a Matplotlib DejaVu)
            continue
        info = _font_info(path)
        if info is None:
            continue
        codepoints, family = info
        label = (family + " " + name).lower()
        if any(word in label for word in _EXCLUDED_FONT_WORDS):
            continue
        if not required <= codepoints:
            continue
        seen_names.add(name)
        fonts.append(Path(path))
    return tuple(fonts)


def resolve_fonts(specs, *, charset=None):
    """Font files for ``specs``, each a path or a name: a name picks the installed fonts (:func:`find_fonts`) whose
    file name contains it, ignoring case and spaces (``"DejaVu Sans"`` -> ``DejaVuSans.ttf``, ``DejaVuSans-Bold.ttf``).

    Raises:
        InputError: a spec that is neither an existing file nor the name of an installed font.
    """
    installed = None
    fonts = []
    for spec in specs:
        path = Path(os.path.expanduser(str(spec)))
        if path.is_file():
            fonts.append(path)
            continue
        if installed is None:
            installed = find_fonts(charset=charset)
        key = str(spec).replace(" ", "").lower()
        matches = [font for font in installed if key in font.name.replace(" ", "").lower()]
        if not matches:
            raise InputError(f"no such font file, and no installed font is named like it ({len(installed)} fonts "
                             f"found; pass a .ttf/.otf path, or a name such as 'DejaVuSans')", str(spec))
        fonts += matches
    return list(dict.fromkeys(fonts))


def find_fonts(*, charset=None, dirs=None):
    """TrueType/OpenType fonts on this machine that can write every character of ``charset``.

    Coverage is read from each font's character map (with fontTools); fonts that fail to load, symbol, emoji,
    dingbat and math fonts are skipped, and a file name found twice is kept once.

    Parameters
    ----------
    charset : str, optional
        The characters every font must have (whitespace is not checked). Default: printable ASCII.
    dirs : list of str or os.PathLike, optional
        Folders to search recursively. Default: :data:`FONT_DIRS` and Matplotlib's bundled fonts.

    Returns
    -------
    fonts : list of pathlib.Path
        Sorted by path; the same list on every call on a given machine.
    """
    charset = PRINTABLE_ASCII if charset is None else "".join(getattr(charset, "characters", charset))
    required = frozenset(ord(c) for c in unicodedata.normalize("NFC", "".join(charset)) if not c.isspace())
    dirs = _default_dirs() if dirs is None else tuple(os.path.expanduser(os.fspath(d)) for d in dirs)
    return list(_find_fonts(dirs, required))


# ---------------------------------------------------------------------------------------------------------------
# rendering
# ---------------------------------------------------------------------------------------------------------------


def _check_rng(rng):
    if rng is None:
        return np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise ConfigError(
            f"`rng` must be a numpy.random.Generator, e.g. np.random.default_rng(0). Received: rng={type(rng).__name__}"
        )
    return rng


def render_line(text, font_path, *, size=32, rng=None, degrade=True):
    """Draw one line of text as a scanned-looking grayscale image.

    The text is drawn dark on light paper with random padding and, one time in five, extra letter spacing
    (tracking). With ``degrade`` the result then goes through :func:`degrade_line`.

    Parameters
    ----------
    text : str
        One line (no newlines); it may be empty.
    font_path : str or os.PathLike
        A TrueType/OpenType font, e.g. from :func:`find_fonts`.
    size : int > 0
        Font size in pixels (the em height); the image is about 1.3 to 2 times as tall.
    rng : np.random.Generator, optional
        Source of randomness (a fresh unseeded one when None).
    degrade : bool
        Add scanner-like degradations; False gives a clean line.

    Returns
    -------
    image : np.ndarray [shape=(H, W), dtype=uint8]
        Dark text on a light background (or, rarely when degraded, inverted).
    """
    from PIL import Image, ImageDraw

    rng = _check_rng(rng)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ConfigError(f"Received an invalid value for `size`, expected a positive integer. Received: size={size!r}")
    if "\n" in text or "\r" in text:
        raise InputError(f"render_line draws one line; remove the line breaks. Received: text={text!r}")
    try:
        font = _font(os.fspath(font_path), int(size))
    except OSError as error:
        message = f"The font cannot be loaded ({error}); expected a TrueType or OpenType file."
        raise InputError(message, font_path) from None

    ascent, descent = font.getmetrics()
    tracking = float(rng.uniform(-0.03, 0.25) * size) if (len(text) > 1 and rng.random() < 0.2) else 0.0
    if tracking:
        advances = np.array([font.getlength(c) for c in text]) + tracking
        starts = np.concatenate([[0.0], np.cumsum(advances)[:-1]])
        right_edge = float(starts[-1] + font.getlength(text[-1]))
    else:
        right_edge = float(font.getlength(text)) if text else float(size) / 2
    left, top, right, bottom = font.getbbox(text) if text.strip() else (0, 0, 0, ascent + descent)
    ink_top, ink_bottom = min(0, top), max(ascent + descent, bottom)
    ink_left, ink_right = min(0, left), max(right_edge, right)

    pad_top, pad_bottom = (int(rng.integers(1, max(2, int(0.45 * size)))) for _ in range(2))
    pad_left, pad_right = (int(rng.integers(2, max(3, int(1.2 * size)))) for _ in range(2))
    width = int(np.ceil(ink_right - ink_left)) + pad_left + pad_right
    height = int(np.ceil(ink_bottom - ink_top)) + pad_top + pad_bottom
    paper = int(rng.integers(228, 256))
    ink = int(rng.integers(0, 50))

    image = Image.new("L", (width, height), paper)
    draw = ImageDraw.Draw(image)
    x0, y0 = pad_left - ink_left, pad_top - ink_top
    if tracking:
        for char, start in zip(text, starts):
            draw.text((x0 + float(start), y0), char, font=font, fill=ink)
    else:
        draw.text((x0, y0), text, font=font, fill=ink)
    gray = np.asarray(image)
    if degrade:
        gray = degrade_line(gray, rng=rng, size=size)
    return gray


def degrade_line(gray, *, rng=None, size=32):
    """Make a clean line image look scanned, photographed or faxed, with randomly chosen degradations.

    Each of these is applied with some probability and a random strength (at least one always is): small
    rotation (up to 1.5 degrees, on a canvas grown so no ink is cut), stroke thickening or thinning, uneven
    background, low contrast, downscale-then-upscale, gaussian blur, gaussian and salt-and-pepper noise, JPEG
    compression, and (rarely) inversion to light-on-dark.

    Parameters
    ----------
    gray : np.ndarray [shape=(H, W), dtype=uint8]
        Dark text on light paper.
    rng : np.random.Generator, optional
        Source of randomness.
    size : int > 0
        Font size the line was drawn at, in pixels (scales blur and stroke changes).

    Returns
    -------
    np.ndarray [shape=(H', W), dtype=uint8]
        ``H' >= H`` (rotation adds rows).
    """
    import cv2

    rng = _check_rng(rng)
    names = ("stroke", "rotate", "background", "contrast", "resample", "blur", "noise", "jpeg", "invert")
    chances = np.array([0.2, 0.35, 0.3, 0.25, 0.25, 0.35, 0.4, 0.3, 0.06])
    chosen = rng.random(len(names)) < chances
    if not chosen.any():
        chosen[int(rng.integers(len(names) - 1))] = True
    ops = {name for name, on in zip(names, chosen) if on}
    image = gray.astype(np.float32)
    paper = float(np.percentile(gray[:, : max(1, gray.shape[1] // 20)], 90)) if gray.size else 255.0

    if "stroke" in ops and size >= 18:
        kernel = np.ones((2, 2), np.uint8) if size < 40 else np.ones((3, 3), np.uint8)
        # On dark text, erosion (local minimum) thickens strokes and dilation thins them.
        if rng.random() < 0.5:
            image = cv2.erode(image, kernel)
        else:
            thinner = cv2.dilate(image, kernel)
            level = (float(image.min()) + paper) / 2
            if np.count_nonzero(thinner < level) >= 0.6 * np.count_nonzero(image < level):
                image = thinner  # only when the strokes survive (not for hairline fonts)
    if "rotate" in ops:
        angle = float(rng.uniform(-1.5, 1.5))
        rows, cols = image.shape
        grow = int(np.ceil(abs(np.tan(np.deg2rad(angle))) * cols / 2)) + 1
        image = cv2.copyMakeBorder(image, grow, grow, 0, 0, cv2.BORDER_CONSTANT, value=paper)
        matrix = cv2.getRotationMatrix2D((cols / 2, rows / 2 + grow), angle, 1.0)
        image = cv2.warpAffine(
            image, matrix, (cols, rows + 2 * grow), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
            borderValue=paper,
        )
    rows, cols = image.shape
    if "background" in ops:
        strength = float(rng.uniform(0.1, 0.35))
        grid = rng.uniform(1.0 - strength, 1.0, size=(3, int(rng.integers(2, 8)))).astype(np.float32)
        image *= cv2.resize(grid, (cols, rows), interpolation=cv2.INTER_CUBIC)
    if "contrast" in ops:
        low = float(rng.uniform(30, 130))
        high = float(rng.uniform(max(low + 50, 150), 245))
        image = low + image * ((high - low) / 255.0)
    if "resample" in ops and rows >= 16:
        factor = float(rng.uniform(max(0.35, 10.0 / rows), 0.8))
        shrunk = (max(1, int(cols * factor)), max(1, int(rows * factor)))
        small = cv2.resize(image, shrunk, interpolation=cv2.INTER_AREA)
        upscale = cv2.INTER_LINEAR if rng.random() < 0.7 else cv2.INTER_NEAREST
        image = cv2.resize(small, (cols, rows), interpolation=upscale)
    if "blur" in ops:
        sigma = float(rng.uniform(0.4, 1.2)) * max(size, 16) / 32.0
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    if "noise" in ops:
        image += rng.normal(0.0, float(rng.uniform(2, 16)), image.shape).astype(np.float32)
        if rng.random() < 0.25:
            salt = rng.random(image.shape) < float(rng.uniform(0.001, 0.006))
            image[salt] = rng.choice([0.0, 255.0], size=int(salt.sum()))
    image = np.clip(image, 0, 255).astype(np.uint8)
    if "jpeg" in ops:
        quality = int(rng.integers(15, 76))
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if ok:
            image = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    if "invert" in ops:
        image = 255 - image
    return np.ascontiguousarray(image)


# ---------------------------------------------------------------------------------------------------------------
# data sets
# ---------------------------------------------------------------------------------------------------------------


class _Progress:
    """A line on stderr every 5 % of the work (overwritten in place on a terminal)."""

    def __init__(self, total, enabled):
        self.total, self.enabled = total, enabled
        self.every = max(1, total // 20)
        self.start = time.monotonic()
        self.tty = enabled and sys.stderr.isatty()

    def update(self, done):
        if not self.enabled or (done % self.every and done != self.total):
            return
        rate = done / max(time.monotonic() - self.start, 1e-9)
        start, end = ("\r", "\n" if done == self.total else "") if self.tty else ("", "\n")
        message = f"{start}synth: {done}/{self.total} lines ({rate:.0f} lines/s)"
        print(message, end=end, file=sys.stderr, flush=True)


def synthesize_dataset(
    out_dir,
    num_lines,
    *,
    fonts=None,
    seed=0,
    degrade_fraction=0.7,
    min_chars=1,
    max_chars=50,
    charset=None,
    progress=None,
    texts=None,
):
    """Write ``num_lines`` rendered text lines as an OCR training set.

    Line ``i`` gets text from :class:`~common.corpus.TextPool`, a random font (one that has glyphs for every
    character of the text), a random size between 18 and 48 pixels, and with probability ``degrade_fraction``
    scanner-like degradations. Line ``i`` depends only on ``seed`` and ``i``.

    Parameters
    ----------
    out_dir : str or os.PathLike
        Folder to write; created if missing. It must not already hold ``*.gt.txt`` files.
    num_lines : int > 0
        Number of lines.
    fonts : list of str or os.PathLike, optional
        Fonts to draw with. Default: :func:`find_fonts` for ``charset``.
    seed : int
        Seed of the text and of every random choice.
    degrade_fraction : float in [0, 1]
        Share of degraded lines; the rest are clean.
    min_chars, max_chars : int > 0
        Length bounds of the texts, in characters.
    charset : str, optional
        Allowed characters of the texts (e.g. the model's alphabet); others are replaced or dropped.
        Default: whatever the text pool writes (printable ASCII plus a few symbols and accented letters).
    progress : bool, optional
        Print progress to stderr. Default: when ``num_lines >= 1000``.
    texts : sequence of str, optional
        The lines to render, used in order and cycled when fewer than ``num_lines`` (each with its own font, size
        and degradation); characters no drawn font has are dropped. Default: texts of the text pool.

    Returns
    -------
    out_dir : pathlib.Path
        Holding ``000000.png`` + ``000000.gt.txt`` (UTF-8, NFC, no trailing newline), ... and ``fonts.tsv``
        (columns ``file``, ``font``, ``degraded`` with ``yes``/``no``).
    """
    import cv2

    if isinstance(num_lines, bool) or not isinstance(num_lines, (int, np.integer)) or num_lines < 1:
        raise ConfigError(
            f"Received an invalid value for `num_lines`, expected a positive integer. Received: num_lines={num_lines!r}"
        )
    if not 0.0 <= float(degrade_fraction) <= 1.0:
        raise ConfigError(
            f"`degrade_fraction` is a fraction in [0, 1]. Received: degrade_fraction={degrade_fraction!r}"
        )
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(
            f"The output path exists and is not a folder; choose a folder. Received: out_dir={str(out_dir)!r}"
        )
    if out_dir.is_dir() and next(out_dir.glob("*.gt.txt"), None) is not None:
        raise DataError(
            "The output folder already holds a data set (*.gt.txt files); choose a new or empty folder so old and "
            f"new lines do not mix. Received: out_dir={str(out_dir)!r}"
        )
    if fonts is None:
        fonts = find_fonts(charset=charset)
        if not fonts:
            raise DataError(
                "No installed font covers the character set; install fonts (e.g. fonts-dejavu) or pass fonts=[...]. "
                f"Received: charset={charset!r}"
            )
    fonts = [os.fspath(f) for f in fonts]
    if not fonts:
        raise ConfigError("`fonts` is empty; pass at least one font file. Received: fonts=[]")
    coverage = []
    for font in fonts:
        info = _font_info(font)
        if info is None:
            raise InputError("The font cannot be read; expected a TrueType or OpenType file.", font)
        coverage.append(_Coverage(info[0]))

    if texts is not None:
        texts = [" ".join(str(t).split()) for t in texts]
        texts = [t for t in texts if t]
        if not texts:
            raise ConfigError("`texts` holds no text to render (only empty lines). Received: texts=[]")
    out_dir.mkdir(parents=True, exist_ok=True)
    pool = TextPool(seed)
    digits = max(6, len(str(num_lines - 1)))
    report = _Progress(num_lines, num_lines >= 1000 if progress is None else bool(progress))
    with open(out_dir / "fonts.tsv", "w", encoding="utf-8", newline="\n") as table:
        table.write("file\tfont\tdegraded\n")
        for index in range(num_lines):
            rng = np.random.default_rng([seed, index])
            text, choice = "", 0
            for _ in range(20):
                if texts is not None:
                    text = texts[index % len(texts)]
                else:
                    text = pool.line(rng, min_chars=min_chars, max_chars=max_chars, charset=charset)
                for _ in range(8):
                    choice = int(rng.integers(len(fonts)))
                    if all(c in coverage[choice] for c in text):
                        break
                else:  # no font drawn has every glyph: keep what the last one can write
                    text = filter_charset(text, coverage[choice])
                if text:
                    break
            degraded = bool(rng.random() < degrade_fraction)
            image = render_line(text, fonts[choice], size=int(rng.integers(18, 49)), rng=rng, degrade=degraded)
            name = f"{index:0{digits}d}"
            if not cv2.imwrite(str(out_dir / f"{name}.png"), image):
                raise DataError(
                    "Could not write an image into the output folder; check that it is writable and not full. "
                    f"Received: out_dir={str(out_dir)!r}"
                )
            (out_dir / f"{name}.gt.txt").write_text(unicodedata.normalize("NFC", text), encoding="utf-8")
            table.write(f"{name}.png\t{os.path.basename(fonts[choice])}\t{'yes' if degraded else 'no'}\n")
            report.update(index + 1)
    return out_dir
