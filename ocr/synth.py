"""Rendered training lines: fonts on this machine, text from :class:`common.corpus.TextPool`, scanner-like noise.

:func:`find_fonts` lists the TrueType/OpenType fonts that can write a character set, :func:`render_line` draws
one line of text with one of several rasterisers (:data:`RASTERISERS`: Pillow/FreeType, Pango/Cairo, ImageMagick,
Ghostscript), clean or degraded the way scans and photos are (:func:`degrade_line`, :data:`DEGRADATIONS`), and
:func:`synthesize_dataset` writes a folder of ``NNNNNN.png`` + ``NNNNNN.gt.txt`` pairs that
:func:`ocr.data.load_line_dataset` reads, with a ``manifest.tsv`` that records how each line was made.
"""

import functools
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unicodedata
import warnings
from pathlib import Path

import numpy as np

from common.corpus import PRINTABLE_ASCII, TYPOGRAPHIC, WIDE_GAP, TextPool, filter_charset
from common.errors import ConfigError, DataError, InputError

__all__ = ["find_fonts", "resolve_fonts", "render_line", "degrade_line", "choose_degradations", "synthesize_dataset",
           "rasteriser_problem", "can_render", "FONT_DIRS", "RASTERISERS", "DEGRADATIONS", "DPIS"]

FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")
"""Folders :func:`find_fonts` searches (recursively), besides Matplotlib's bundled fonts when it is installed."""

RASTERISERS = ("pillow", "pango", "imagemagick", "ghostscript")
"""The programs :func:`render_line` can draw with: Pillow (FreeType, in-process), Pango/Cairo (``pango-view``,
Debian ``pango1.0-tools``), ImageMagick (``convert``, Debian ``imagemagick``) and Ghostscript (``gs``, Debian
``ghostscript``; it draws the PostScript Type 1 twin of a font when one is installed, e.g. fonts-urw-base35's)."""

DPIS = (100, 150, 200, 300, 400)
"""Scan resolutions :func:`synthesize_dataset` draws: a line set at ``pt`` points and scanned at ``dpi`` is
``pt * dpi / 72`` pixels per em."""

_FONT_SUFFIXES = (".ttf", ".otf")
_TYPE1_DIRS = ("/usr/share/fonts/type1", "/usr/local/share/fonts/type1")
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
            cmap = dict(font.getBestCmap() or {})
            family = font["name"].getBestFamilyName() or ""
    except Exception:  # fontTools raises many types for damaged or exotic files
        return None
    return _truly_covered(cmap), family


_AGL_NAMES = {code: name for code, name in ((c, {"0": "zero", "1": "one", "2": "two", "3": "three", "4": "four",
                                                  "5": "five", "6": "six", "7": "seven", "8": "eight",
                                                  "9": "nine"}.get(chr(c), chr(c))) for c in range(48, 123))}


def _truly_covered(cmap):
    """The code points of ``cmap`` whose glyphs draw them: not ASCII code points whose glyph is named for another
    character (TeX-encoded fonts such as Matplotlib's cmr10 draw an em dash for ``{``), and nothing of a font that
    draws one placeholder for every letter (Matplotlib's LastResortHE)."""
    from fontTools.agl import AGL2UV

    ascii_glyphs = {code: name for code, name in cmap.items() if 33 <= code <= 126}
    if ascii_glyphs and len(set(ascii_glyphs.values())) < 0.9 * len(ascii_glyphs):
        return frozenset()
    alnum = [(code, name) for code, name in ascii_glyphs.items() if chr(code).isalnum()]
    named_for = lambda code, name: name.split(".")[0].split("_")[0] in (  # noqa: E731
        chr(code), _AGL_NAMES.get(code), f"uni{code:04X}", f"u{code:04X}")
    if sum(not named_for(code, name) for code, name in alnum) > 0.1 * max(len(alnum), 1):
        return frozenset()  # letters and digits named for other things: math extension or symbol glyphs
    wrong = {code for code, name in ascii_glyphs.items() if AGL2UV.get(name, code) != code}
    return frozenset(cmap) - wrong


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


def _tool(name):
    """Path of an external rasteriser's program, or None."""
    if name == "pango":
        return shutil.which("pango-view")
    if name == "ghostscript":
        return shutil.which("gs")
    if name == "imagemagick":
        for program in ("magick", "convert"):
            path = shutil.which(program)
            if path:
                return path
    return None


@functools.lru_cache(maxsize=None)
def rasteriser_problem(name):
    """Why rasteriser ``name`` cannot draw here (its program is missing), or None when it can.

    Raises:
        ConfigError: ``name`` is not one of :data:`RASTERISERS`.
    """
    if name not in RASTERISERS:
        raise ConfigError(f"Unknown rasteriser; expected one of {', '.join(RASTERISERS)}. Received: rasteriser={name!r}")
    if name == "pillow":
        return None
    packages = {"pango": "pango1.0-tools", "imagemagick": "imagemagick", "ghostscript": "ghostscript"}
    path = _tool(name)
    if path is None:
        return f"{name} is not installed (apt-get install {packages[name]})"
    if name == "imagemagick":  # `convert` may be another program (GraphicsMagick, a stand-in)
        try:
            version = subprocess.run([path, "-version"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError) as error:
            return f"{path} does not run ({error})"
        if "ImageMagick" not in version:
            return f"{path} is not ImageMagick (apt-get install imagemagick)"
    return None


@functools.lru_cache(maxsize=1)
def _type1_twins():
    """``{stem: path}`` of the PostScript Type 1 fonts installed (``C059-Roman`` -> ``.../C059-Roman.t1``)."""
    twins = {}
    for folder in _TYPE1_DIRS:
        for root, _, files in os.walk(folder):
            for name in sorted(files):
                stem, suffix = os.path.splitext(name)
                if suffix.lower() in (".t1", ".pfb", ".pfa"):
                    twins.setdefault(stem, os.path.join(root, name))
    return twins


@functools.lru_cache(maxsize=1024)
def _glyph_names(path):
    """``{codepoint: glyph name}`` of a font whose glyphs Ghostscript can name, else None."""
    try:
        from fontTools.ttLib import TTFont

        with TTFont(path, lazy=True, fontNumber=0) as font:
            if "post" in font and font["post"].formatType == 3 and "CFF " not in font:
                return None  # TrueType without glyph names
            return dict(font.getBestCmap() or {})
    except Exception:
        return None


_PANGO_WEIGHTS = ((150, "Thin", "thin"), (250, "Ultra-Light", "extralight"), (325, "Light", "light"),
                  (375, "Book", "book"), (450, "", "regular"), (550, "Medium", "medium"),
                  (650, "Semi-Bold", "semibold"), (750, "Bold", "bold"), (850, "Ultra-Bold", "extrabold"),
                  (10_000, "Heavy", "black"))
_PANGO_WIDTHS = ("Ultra-Condensed", "Extra-Condensed", "Condensed", "Semi-Condensed", "", "Semi-Expanded",
                 "Expanded", "Extra-Expanded", "Ultra-Expanded")
_FC_WIDTHS = ("ultracondensed", "extracondensed", "condensed", "semicondensed", "normal", "semiexpanded",
              "expanded", "extraexpanded", "ultraexpanded")


@functools.lru_cache(maxsize=1024)
def _pango_style(path):
    """``"Family, Bold Italic"`` for Pango when fontconfig resolves that description to this very font, else None."""
    try:
        from fontTools.ttLib import TTFont

        with TTFont(path, lazy=True, fontNumber=0) as font:
            names = font["name"]
            family = (names.getDebugName(16) or names.getDebugName(1) or "").strip()
            os2 = font["OS/2"] if "OS/2" in font else None
            weight = os2.usWeightClass if os2 else 400
            width = min(max(os2.usWidthClass if os2 else 5, 1), 9)
            subfamily = (names.getDebugName(17) or names.getDebugName(2) or "").lower()
            slant = "oblique" if "oblique" in subfamily else (
                "italic" if "italic" in subfamily or (os2 and os2.fsSelection & 1) else "roman")
    except Exception:
        return None
    if not family or "," in family:
        return None
    pango_weight, fc_weight = next((p, f) for limit, p, f in _PANGO_WEIGHTS if weight <= limit)
    words = [pango_weight, {"roman": "", "italic": "Italic", "oblique": "Oblique"}[slant], _PANGO_WIDTHS[width - 1]]
    pattern = f"{family.replace('-', chr(92) + '-')}:weight={fc_weight}:slant={slant}:width={_FC_WIDTHS[width - 1]}"
    try:
        found = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True,
                               timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    if Path(found).stem != Path(path).stem:
        return None  # fontconfig would draw another font (a fallback, or a sibling weight)
    return f"{family}, {' '.join(w for w in words if w)}".rstrip(", ")


def can_render(rasteriser, font_path):
    """Whether ``rasteriser`` can draw with ``font_path`` here (its program is installed; Pango: fontconfig finds this
    very font by its description; Ghostscript: its glyphs have names)."""
    if rasteriser_problem(rasteriser) is not None:
        return False
    path = os.fspath(font_path)
    if rasteriser == "pango":
        return _pango_style(path) is not None
    if rasteriser == "ghostscript":
        return _glyph_names(path) is not None
    return True


def _run_tool(command, what, *, stdin=None):
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as error:
        raise DataError(f"{what} failed to run ({error}); check the installation. Received: command={command[0]!r}") from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise DataError(f"{what} failed: {lines[-1] if lines else f'exit {done.returncode}'}. "
                        f"Received: command={command[0]!r}")
    return done.stdout


def _decode_gray(data, what):
    import cv2

    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE) if data else None
    if image is None:
        raise DataError(f"{what} wrote no readable image. Received: bytes={len(data or b'')}")
    return image


def _pango_coverage(text, font_path, size, dpi, rng):
    points = size * 72.0 / dpi
    options = [f"--hinting={rng.choice(['none', 'slight', 'full'])}",
               f"--antialias={'none' if rng.random() < 0.2 else 'gray'}"]
    if rng.random() < 0.5:
        options.append("--subpixel-positions")
    margin = 8
    with tempfile.TemporaryDirectory(prefix="ocr-pango-") as scratch:
        source, target = Path(scratch, "line.txt"), Path(scratch, "line.png")
        source.write_text(text, encoding="utf-8")
        _run_tool([_tool("pango"), "--no-display", "--no-auto-dir", f"--font={_pango_style(font_path)} {points:.2f}",
                   f"--dpi={dpi}", f"--margin={margin}", "--background=white", "--foreground=black", *options,
                   "-o", str(target), str(source)], "pango-view")
        gray = _decode_gray(target.read_bytes(), "pango-view")
    return (255.0 - gray.astype(np.float32)) / 255.0, (margin, gray.shape[0] - margin)


def _imagemagick_escape(text):
    """``label:`` text as ImageMagick takes it literally: ``\\`` and ``%`` doubled, a leading ``@`` escaped, and a
    final ``]`` escaped (``label:a[23]`` would draw ``a``, reading ``[23]`` as a frame number, and ``label:[x]``
    nothing at all)."""
    text = text.replace("\\", "\\\\").replace("%", "%%")
    if text.endswith("]"):
        text = text[:-1] + "\\]"
    return "\\" + text if text.startswith("@") else text


def _imagemagick_coverage(text, font_path, size, dpi, rng):
    points = size * 72.0 / dpi
    antialias = "+antialias" if rng.random() < 0.2 else "-antialias"
    data = _run_tool([_tool("imagemagick"), antialias, "-background", "white", "-fill", "black", "-density", str(dpi),
                      "-pointsize", f"{points:.2f}", "-font", os.fspath(font_path), f"label:{_imagemagick_escape(text)}",
                      "-colorspace", "Gray", "-depth", "8", "png:-"], "ImageMagick")
    gray = _decode_gray(data, "ImageMagick")
    return (255.0 - gray.astype(np.float32)) / 255.0, (0, gray.shape[0])


def _ghostscript_coverage(text, font_path, size, dpi, rng):
    path = os.fspath(font_path)
    names = _glyph_names(path)
    if names is None:
        raise InputError("Ghostscript cannot name this font's glyphs (a TrueType font without a post table)", path)
    drawn = _type1_twins().get(Path(path).stem, path)  # the PostScript Type 1 twin when installed
    font = _font(path, int(size))
    ascent, descent = font.getmetrics()
    margin = size
    width = int(font.getlength(text) * 1.15) + 2 * margin + 8
    height = ascent + descent + 2 * margin
    glyphs = []
    for char in text:
        name = names.get(ord(char)) or names.get(32)
        glyphs.append(f"/{name} glyphshow")
    scale = 72.0 / dpi
    program = (f"/OCRLineFont findfont {size * scale:.4f} scalefont setfont\n"
               f"{margin * scale:.4f} {(margin + descent) * scale:.4f} moveto\n" + "\n".join(glyphs) + "\nshowpage\n")
    alpha = int(rng.choice([1, 2, 4, 4, 4]))
    with tempfile.TemporaryDirectory(prefix="ocr-gs-") as scratch:
        fontmap = Path(scratch, "Fontmap")
        fontmap.write_text(f"/OCRLineFont ({drawn}) ;\n", encoding="latin-1")
        data = _run_tool([_tool("ghostscript"), "-q", "-dSAFER", "-dBATCH", "-dNOPAUSE", "-sDEVICE=pnggray",
                          f"-r{dpi}", f"-dDEVICEWIDTHPOINTS={width * scale:.3f}",
                          f"-dDEVICEHEIGHTPOINTS={height * scale:.3f}", "-dFIXEDMEDIA", f"-dTextAlphaBits={alpha}",
                          f"-sFONTMAP={fontmap}", f"--permit-file-read={os.path.dirname(drawn)}/",
                          "-sOutputFile=-", "-"], "Ghostscript", stdin=program.encode("latin-1"))
    gray = _decode_gray(data, "Ghostscript")
    top = int(round(gray.shape[0] - (margin + descent) - ascent))
    return (255.0 - gray.astype(np.float32)) / 255.0, (max(0, top), min(gray.shape[0], top + ascent + descent))


_EXTERNAL = {"pango": _pango_coverage, "imagemagick": _imagemagick_coverage, "ghostscript": _ghostscript_coverage}


def _compose(coverage, box, size, rng):
    """Ink coverage in [0, 1] -> a line image: cropped to the ink's columns and to the line box's rows (grown to
    any ink outside it), with random padding, paper and ink levels as :func:`render_line` draws them."""
    inked = coverage > 0.02
    rows, cols = np.flatnonzero(inked.any(axis=1)), np.flatnonzero(inked.any(axis=0))
    top, bottom = box
    if cols.size:
        top, bottom = min(top, int(rows[0])), max(bottom, int(rows[-1]) + 1)
        coverage = coverage[top:bottom, int(cols[0]): int(cols[-1]) + 1]
    else:
        coverage = coverage[top:bottom, : max(1, size // 2)] * 0
    pad_top, pad_bottom = (int(rng.integers(1, max(2, int(0.45 * size)))) for _ in range(2))
    pad_left, pad_right = (int(rng.integers(2, max(3, int(1.2 * size)))) for _ in range(2))
    coverage = np.pad(coverage, ((pad_top, pad_bottom), (pad_left, pad_right)))
    paper, ink = float(rng.integers(228, 256)), float(rng.integers(0, 50))
    return np.clip(np.rint(paper - coverage * (paper - ink)), 0, 255).astype(np.uint8)


def render_line(text, font_path, *, size=32, rng=None, degrade=True, rasteriser="pillow", dpi=300):
    """Draw one line of text as a scanned-looking grayscale image.

    The text is drawn dark on light paper with random padding by one of :data:`RASTERISERS` (Pillow: one time in
    five with extra letter spacing, one in ten without anti-aliasing; the others with their own random hinting and
    anti-aliasing settings). With ``degrade`` the result then goes through :func:`degrade_line`.

    Parameters
    ----------
    text : str
        One line (no newlines); it may be empty. :data:`common.corpus.WIDE_GAP` is drawn as three spaces.
    font_path : str or os.PathLike
        A TrueType/OpenType font, e.g. from :func:`find_fonts` (Ghostscript draws its Type 1 twin if installed).
    size : int > 0
        Font size in pixels (the em height); the image is about 1.3 to 2 times as tall.
    rng : np.random.Generator, optional
        Source of randomness (a fresh unseeded one when None).
    degrade : bool
        Add scanner-like degradations; False gives a clean line.
    rasteriser : str
        One of :data:`RASTERISERS`; see :func:`rasteriser_problem` and :func:`can_render`.
    dpi : int > 0
        Resolution the external rasterisers are told (they get ``size * 72 / dpi`` points); Pillow draws pixels.

    Returns
    -------
    image : np.ndarray [shape=(H, W), dtype=uint8]
        Dark text on a light background (or, rarely when degraded, inverted).
    """
    from PIL import Image, ImageDraw

    rng = _check_rng(rng)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ConfigError(f"Received an invalid value for `size`, expected a positive integer. Received: size={size!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, np.integer)) or not 10 <= dpi <= 4800:
        raise ConfigError(f"Received an invalid value for `dpi`, expected an integer in [10, 4800]. Received: dpi={dpi!r}")
    if "\n" in text or "\r" in text:
        raise InputError(f"render_line draws one line; remove the line breaks. Received: text={text!r}")
    text = text.replace(WIDE_GAP, "   ")
    problem = rasteriser_problem(rasteriser)
    if problem is not None:
        raise ConfigError(f"The rasteriser cannot draw here: {problem}. Received: rasteriser={rasteriser!r}")
    try:
        font = _font(os.fspath(font_path), int(size))
    except OSError as error:
        message = f"The font cannot be loaded ({error}); expected a TrueType or OpenType file."
        raise InputError(message, font_path) from None
    if rasteriser != "pillow" and text.strip():
        if not can_render(rasteriser, font_path):
            raise InputError(f"{rasteriser} cannot draw this font here (see ocr.synth.can_render)", font_path)
        coverage, box = _EXTERNAL[rasteriser](text, font_path, int(size), int(dpi), rng)
        gray = _compose(coverage, box, int(size), rng)
        return degrade_line(gray, rng=rng, size=size) if degrade else gray

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
    if rng.random() < 0.1:
        draw.fontmode = "1"  # no anti-aliasing, as some printers and fax machines
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


DEGRADATIONS = ("ink_spread", "stroke", "bleed_through", "rotate", "curve", "background", "light", "contrast",
                "resample", "blur", "motion_blur", "noise", "binarize", "jpeg", "invert")
"""What :func:`degrade_line` can do to a line, in the order it does it (print, paper, scan geometry, lighting,
optics, sensor, processing):

- ``ink_spread``: toner and ink spread: strokes thicken and round off, with toner specks beside them;
- ``stroke``: strokes one or two pixels thicker or thinner;
- ``bleed_through``: the mirrored text of the other side of the page shows faintly through the paper;
- ``rotate``: skew, up to 1.5 degrees (on a canvas grown so that no ink is cut);
- ``curve``: the line bends slightly (a book's page near the spine, a photographed page), up to an eighth of its
  height;
- ``background``: uneven paper, a smooth random pattern;
- ``light``: uneven light of a photo: a brightness ramp across the line and sometimes a shadow's edge;
- ``contrast``: low contrast (gray ink on gray paper);
- ``resample``: a low-resolution scan upsampled: shrunk to 35-80% and enlarged again;
- ``blur``: out of focus (gaussian);
- ``motion_blur``: a hand-held photo: the image smeared along a short line, mostly horizontal;
- ``noise``: sensor noise (gaussian), sometimes salt and pepper;
- ``binarize``: a black-and-white scan or fax: a global or local threshold, with broken and merged strokes;
- ``jpeg``: JPEG compression at quality 15-75;
- ``invert``: light text on dark.
"""

_CHANCES = {"ink_spread": 0.1, "stroke": 0.18, "bleed_through": 0.1, "rotate": 0.3, "curve": 0.12,
            "background": 0.25, "light": 0.15, "contrast": 0.22, "resample": 0.25, "blur": 0.3, "motion_blur": 0.08,
            "noise": 0.35, "binarize": 0.08, "jpeg": 0.28, "invert": 0.05}


def choose_degradations(rng=None):
    """A random set of :data:`DEGRADATIONS` (each with its own chance; at least one, never only ``invert``), in the
    order :func:`degrade_line` applies them: a tuple of names."""
    rng = _check_rng(rng)
    chosen = rng.random(len(DEGRADATIONS)) < np.array([_CHANCES[name] for name in DEGRADATIONS])
    if not chosen.any():
        chosen[int(rng.integers(len(DEGRADATIONS) - 1))] = True
    return tuple(name for name, on in zip(DEGRADATIONS, chosen) if on)


def _ink_coverage(image, paper):
    """Ink in [0, 1] (1 = the darkest ink) of a dark-on-light float image, and the ink level."""
    ink = float(np.percentile(image, 1)) if image.size else 0.0
    depth = max(paper - ink, 1.0)
    return np.clip((paper - image) / depth, 0.0, 1.0), ink


def _ink_spread(image, paper, rng, size):
    import cv2

    coverage, ink = _ink_coverage(image, paper)
    blurred = cv2.GaussianBlur(coverage, (0, 0), float(rng.uniform(0.03, 0.07)) * max(size, 12))
    level = float(rng.uniform(0.16, 0.3))
    spread = np.maximum(coverage, np.clip((blurred - level) / 0.15 + 0.5, 0.0, 1.0))
    if rng.random() < 0.6:  # toner specks near the strokes
        near = cv2.dilate((coverage > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
        specks = near & (rng.random(image.shape) < float(rng.uniform(0.002, 0.012)))
        spread = np.maximum(spread, cv2.GaussianBlur(specks.astype(np.float32), (0, 0), 0.6) * 2.5)
    return paper - np.clip(spread, 0.0, 1.0) * (paper - ink)


def _bleed_through(image, paper, rng, size):
    import cv2

    coverage, ink = _ink_coverage(image, paper)
    rows, cols = image.shape
    ghost = np.fliplr(coverage)
    ghost = np.roll(ghost, (int(rng.integers(-rows // 3, rows // 3 + 1)), int(rng.integers(-cols // 4, cols // 4 + 1))),
                    axis=(0, 1))
    ghost = cv2.GaussianBlur(ghost, (0, 0), float(rng.uniform(0.6, 2.0)) * max(size, 16) / 32.0)
    strength = float(rng.uniform(0.1, 0.3))
    return image - ghost * strength * (paper - ink) * (1.0 - coverage)


def _curve(image, paper, rng):
    import cv2

    rows, cols = image.shape
    amplitude = float(rng.uniform(0.04, 0.125)) * rows
    x = np.arange(cols, dtype=np.float32) / max(cols - 1, 1)
    if rng.random() < 0.5:  # a bow: the ends up or down
        shift = amplitude * (2 * x - 1) ** 2 * rng.choice([-1.0, 1.0])
    else:  # a wave
        period = float(rng.uniform(0.7, 2.0))
        shift = amplitude * np.sin(2 * np.pi * x / period + float(rng.uniform(0, 2 * np.pi)))
    shift = shift - shift.mean()
    grow = int(np.ceil(np.abs(shift).max())) + 1
    canvas = cv2.copyMakeBorder(image, grow, grow, 0, 0, cv2.BORDER_CONSTANT, value=paper)
    map_x = np.tile(np.arange(cols, dtype=np.float32), (rows + 2 * grow, 1))
    map_y = np.arange(rows + 2 * grow, dtype=np.float32)[:, None] - shift[None, :].astype(np.float32)
    return cv2.remap(canvas, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                     borderValue=paper)


def _light(image, rng, size):
    import cv2

    rows, cols = image.shape
    x = np.linspace(0.0, 1.0, cols, dtype=np.float32)
    if rng.random() < 0.5:
        x = x[::-1]
    shade = float(rng.uniform(0.15, 0.45)) * x ** float(rng.uniform(0.7, 2.0))
    light = np.tile(1.0 - shade, (rows, 1))
    if rng.random() < 0.4:  # the soft edge of a shadow (a hand, a phone) across the line
        edge = np.zeros((rows, cols), np.float32)
        edge[:, int(rng.integers(cols // 5, max(cols // 5 + 1, 4 * cols // 5))):] = 1.0
        if rng.random() < 0.5:
            edge = edge[:, ::-1]
        softness = float(rng.uniform(0.3, 1.5)) * max(size, 12)
        light *= 1.0 - float(rng.uniform(0.15, 0.4)) * cv2.GaussianBlur(edge, (0, 0), softness)
    return image * light


def _motion_blur(image, rng, size):
    import cv2

    length = max(3, int(round(float(rng.uniform(0.06, 0.16)) * max(size, 16))))
    angle = float(rng.uniform(-15, 15)) if rng.random() < 0.7 else float(rng.uniform(0, 180))
    kernel = np.zeros((length, length), np.float32)
    kernel[length // 2, :] = 1.0
    rotation = cv2.getRotationMatrix2D(((length - 1) / 2, (length - 1) / 2), angle, 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (length, length))
    return cv2.filter2D(image, -1, kernel / max(float(kernel.sum()), 1e-6), borderType=cv2.BORDER_REPLICATE)


def _binarize(image, rng, size):
    import cv2

    gray = np.clip(image, 0, 255).astype(np.uint8)
    if rng.random() < 0.5:
        gray = cv2.GaussianBlur(gray, (0, 0), float(rng.uniform(0.3, 0.9)))
    if rng.random() < 0.4:  # local threshold, as a scanner's "text" mode
        block = max(3, (int(size * float(rng.uniform(0.8, 2.0))) // 2) * 2 + 1)
        binary = cv2.adaptiveThreshold(gray, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, block,
                                       float(rng.uniform(4, 16)))
    else:  # Otsu's threshold moved up (bolder, merged strokes) or down (thinner, broken strokes)
        level, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        _, binary = cv2.threshold(gray, float(np.clip(level + rng.uniform(-35, 35), 10, 245)), 255, cv2.THRESH_BINARY)
    return binary.astype(np.float32)


def degrade_line(gray, *, rng=None, size=32, ops=None):
    """Make a clean line image look scanned, photographed or faxed.

    Applies ``ops`` (default: :func:`choose_degradations`) from :data:`DEGRADATIONS`, each with a random strength,
    in the order of :data:`DEGRADATIONS`.

    Parameters
    ----------
    gray : np.ndarray [shape=(H, W), dtype=uint8]
        Dark text on light paper.
    rng : np.random.Generator, optional
        Source of randomness.
    size : int > 0
        Font size the line was drawn at, in pixels (scales blur, ink spread and stroke changes).
    ops : iterable of str, optional
        The degradations to apply (names of :data:`DEGRADATIONS`, any order). Default: a random choice.

    Returns
    -------
    np.ndarray [shape=(H', W), dtype=uint8]
        ``H' >= H`` (``rotate`` and ``curve`` add rows); the width is kept.
    """
    import cv2

    rng = _check_rng(rng)
    ops = choose_degradations(rng) if ops is None else tuple(ops)
    unknown = sorted(set(ops) - set(DEGRADATIONS))
    if unknown:
        raise ConfigError(f"Unknown degradation; expected names of {', '.join(DEGRADATIONS)}. Received: ops={unknown!r}")
    ops = set(ops)
    image = gray.astype(np.float32)
    paper = float(np.percentile(gray[:, : max(1, gray.shape[1] // 20)], 90)) if gray.size else 255.0

    if "ink_spread" in ops:
        image = _ink_spread(image, paper, rng, size)
    if "stroke" in ops and size >= 18:
        kernel = np.ones((2, 2), np.uint8) if size < 40 else np.ones((3, 3), np.uint8)
        # On dark text, erosion (local minimum) thickens strokes and dilation thins them.
        if rng.random() < 0.5:
            image = cv2.erode(image, kernel)
        else:
            thinner = cv2.dilate(image, kernel)
            level = (float(image.min()) + paper) / 2
            # only when the strokes survive (not for hairline fonts); else thicker
            survives = np.count_nonzero(thinner < level) >= 0.6 * np.count_nonzero(image < level)
            image = thinner if survives else cv2.erode(image, kernel)
    if "bleed_through" in ops:
        image = _bleed_through(image, paper, rng, size)
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
    if "curve" in ops:
        image = _curve(image, paper, rng)
    rows, cols = image.shape
    if "background" in ops:
        strength = float(rng.uniform(0.1, 0.35))
        grid = rng.uniform(1.0 - strength, 1.0, size=(3, int(rng.integers(2, 8)))).astype(np.float32)
        image *= cv2.resize(grid, (cols, rows), interpolation=cv2.INTER_CUBIC)
    if "light" in ops:
        image = _light(image, rng, size)
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
    if "motion_blur" in ops:
        image = _motion_blur(image, rng, size)
    if "noise" in ops:
        image += rng.normal(0.0, float(rng.uniform(2, 16)), image.shape).astype(np.float32)
        if rng.random() < 0.25:
            salt = rng.random(image.shape) < float(rng.uniform(0.001, 0.006))
            image[salt] = rng.choice([0.0, 255.0], size=int(salt.sum()))
    if "binarize" in ops:
        image = _binarize(image, rng, size)
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
    rasterisers=("pillow",),
    pool=None,
):
    """Write ``num_lines`` rendered text lines as an OCR training set.

    Line ``i`` gets text from ``pool``, a rasteriser drawn from ``rasterisers``, a random font (one that has glyphs
    for every character of the text and that the rasteriser can draw), a scan resolution from :data:`DPIS` and a
    type size of 6-14 points, clipped so that the em is 14-56 pixels, and with probability ``degrade_fraction``
    degradations (:func:`choose_degradations`). Line ``i`` depends only on ``seed`` and ``i``.

    Typographic characters (:data:`common.corpus.TYPOGRAPHIC`: curly quotes, dashes, the ellipsis, superscript
    footnote digits, wide table gaps) are drawn as they are and labelled with what :func:`filter_charset` maps
    them onto in ``charset`` (``"``, ``-``, ``...``, ``1``, one space), so a model with an ASCII alphabet learns to
    read them.

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
        Allowed characters of the labels (e.g. the model's alphabet); others are replaced or dropped.
        Default: whatever the text pool writes (printable ASCII plus a few symbols and accented letters).
    progress : bool, optional
        Print progress to stderr. Default: when ``num_lines >= 1000``.
    texts : sequence of str, optional
        The lines to render, used in order and cycled when fewer than ``num_lines`` (each with its own font, size
        and degradation); characters no drawn font has are dropped. Default: texts of ``pool``.
    rasterisers : sequence of str
        Names from :data:`RASTERISERS`, drawn uniformly per line (repeat a name to draw it more often).
    pool : common.corpus.TextPool, optional
        Where the texts come from (e.g. with real prose and other kind weights). Default: ``TextPool(seed)``.

    Returns
    -------
    out_dir : pathlib.Path
        Holding ``000000.png`` + ``000000.gt.txt`` (UTF-8, NFC, no trailing newline), ... and ``manifest.tsv``
        (columns ``image``, ``text``, ``font``, ``rasteriser``, ``dpi``, ``size`` (pixels per em),
        ``degradations`` (comma-separated, ``none`` for a clean line)), which ``ocr train --data`` also reads.
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
    rasterisers = tuple(rasterisers)
    if not rasterisers:
        raise ConfigError("`rasterisers` is empty; name at least one of " + ", ".join(RASTERISERS) +
                          ". Received: rasterisers=()")
    for name in rasterisers:
        problem = rasteriser_problem(name)
        if problem is not None:
            raise ConfigError(f"The rasteriser cannot draw here: {problem}. Received: rasteriser={name!r}")
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
    drawable = {name: [i for i, font in enumerate(fonts) if can_render(name, font)] for name in set(rasterisers)}
    unusable = sorted(name for name, usable in drawable.items() if not usable)
    if unusable:
        raise ConfigError(f"No font of `fonts` can be drawn by {', '.join(unusable)} here (see ocr.synth.can_render); "
                          f"pass other fonts or rasterisers. Received: rasterisers={rasterisers!r}")

    if texts is not None:
        texts = [" ".join(str(t).split()) for t in texts]
        texts = [t for t in texts if t]
        if not texts:
            raise ConfigError("`texts` holds no text to render (only empty lines). Received: texts=[]")
    render_charset = None if charset is None else set(charset) | set(TYPOGRAPHIC)
    out_dir.mkdir(parents=True, exist_ok=True)
    pool = TextPool(seed) if pool is None else pool
    digits = max(6, len(str(num_lines - 1)))
    report = _Progress(num_lines, num_lines >= 1000 if progress is None else bool(progress))
    failed = []
    with open(out_dir / "manifest.tsv", "w", encoding="utf-8", newline="\n") as table:
        table.write("image\ttext\tfont\trasteriser\tdpi\tsize\tdegradations\n")
        for index in range(num_lines):
            rng = np.random.default_rng([seed, index])
            rasteriser = rasterisers[int(rng.integers(len(rasterisers)))]
            usable = drawable[rasteriser]
            text, label, choice = "", "", usable[0]
            for _ in range(20):
                if texts is not None:
                    text = texts[index % len(texts)]
                else:
                    text = pool.line(rng, min_chars=min_chars, max_chars=max_chars, charset=render_charset)
                for _ in range(8):
                    choice = usable[int(rng.integers(len(usable)))]
                    if all(c in coverage[choice] for c in text):
                        break
                else:  # no font drawn has every glyph: keep what the last one can write
                    text = filter_charset(text, coverage[choice])
                label = " ".join(text.split()) if charset is None else filter_charset(text, charset)
                if text.strip() and label:
                    break
            dpi = int(DPIS[int(rng.integers(len(DPIS)))])
            low, high = max(6.0, 14 * 72 / dpi), min(14.0, 56 * 72 / dpi)
            size = int(round(float(rng.uniform(low, high)) * dpi / 72))
            degradations = choose_degradations(rng) if rng.random() < degrade_fraction else ()
            try:
                image = render_line(text, fonts[choice], size=size, rng=rng, degrade=False, rasteriser=rasteriser,
                                    dpi=dpi)
            except DataError as error:  # one line an external program could not draw: Pillow draws it, noted
                failed.append(f"{rasteriser} on {os.path.basename(fonts[choice])} and {text!r}: {error}")
                rasteriser = "pillow"
                image = render_line(text, fonts[choice], size=size, rng=rng, degrade=False, dpi=dpi)
            if degradations:
                image = degrade_line(image, rng=rng, size=size, ops=degradations)
            name = f"{index:0{digits}d}"
            if not cv2.imwrite(str(out_dir / f"{name}.png"), image):
                raise DataError(
                    "Could not write an image into the output folder; check that it is writable and not full. "
                    f"Received: out_dir={str(out_dir)!r}"
                )
            label = unicodedata.normalize("NFC", label)
            (out_dir / f"{name}.gt.txt").write_text(label, encoding="utf-8")
            table.write(f"{name}.png\t{label}\t{os.path.basename(fonts[choice])}\t{rasteriser}\t{dpi}\t{size}\t"
                        f"{','.join(degradations) or 'none'}\n")
            report.update(index + 1)
    if failed:
        warnings.warn(f"{out_dir}: {len(failed)} of {num_lines} line(s) drawn by Pillow because their rasteriser "
                      f"failed (the manifest says pillow for them); the first: {failed[0]}", stacklevel=2)
    return out_dir
