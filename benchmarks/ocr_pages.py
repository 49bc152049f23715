"""Page layout benchmark: our Reader (``layout="page"``) against Tesseract 5 on rendered pages.

    python benchmarks/ocr_pages.py                      # 72 pages (9 kinds x 8), shipped model, Tesseract 1 thread
    python benchmarks/ocr_pages.py --pages-per-kind 2 --skip-tesseract --layout-only

Renders pages with known lines (texts: ``common.corpus.TextPool.sentences`` prose, wrapped to the column width;
fonts: DejaVu Sans/Serif, FreeSans/FreeSerif, 20-30 px), nine kinds:

- ``leading-0.9`` ... ``leading-1.5``: one column, a paragraph or two, line pitch 0.9 / 1.1 / 1.3 / 1.5 x the font
  size (at 0.9 and 1.1 ascenders and descenders of neighbouring lines touch);
- ``two-columns``: a heading across two columns of paragraphs;
- ``headings``: headings, paragraphs, a caption, a horizontal rule and a picture (non-text, to be left out);
- ``scan``: a paragraph page photographed badly: uneven light, blur, noise, skew up to 5 degrees, slight
  perspective, JPEG quality 35-70;
- ``screenshot-light`` / ``screenshot-dark``: interface-like pages, small sans text on flat and banded backgrounds,
  dark mode with light text.

Both systems read the same files. Reported per kind and overall: the share of pages with the right number of lines
(ours: lines in the result; Tesseract: non-empty text lines of its page segmentation, ``PSM.AUTO``) and the page
CER (edit distance over the page text in reading order, after ``fold_text``: whitespace and line breaks collapse).
Tesseract runs in-process through tesserocr in a child process with ``OMP_THREAD_LIMIT=1``.
"""

import argparse
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (fold_text, markdown_table, print_header, run_json_worker, set_tf_threads,  # noqa: E402
                               stopwatch)

KINDS = ("leading-0.9", "leading-1.1", "leading-1.3", "leading-1.5", "two-columns", "headings", "scan",
         "screenshot-light", "screenshot-dark")
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype/freefont")
FONT_NAMES = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "FreeSans.ttf", "FreeSerif.ttf")
BOLD_NAMES = {"DejaVuSans.ttf": "DejaVuSans-Bold.ttf", "DejaVuSerif.ttf": "DejaVuSerif-Bold.ttf",
              "FreeSans.ttf": "FreeSansBold.ttf", "FreeSerif.ttf": "FreeSerifBold.ttf"}
INSTALL_TESSERACT = ("apt-get install tesseract-ocr tesseract-ocr-eng libtesseract-dev libleptonica-dev pkg-config "
                     "&& pip install --no-binary tesserocr tesserocr")


def _font_path(name):
    for folder in FONT_DIRS:
        if Path(folder, name).is_file():
            return str(Path(folder, name))
    return None


def available_fonts():
    """``(regular, bold)`` font file pairs of the benchmark that are installed."""
    pairs = []
    for name in FONT_NAMES:
        regular, bold = _font_path(name), _font_path(BOLD_NAMES[name])
        if regular:
            pairs.append((regular, bold or regular))
    return pairs


class Canvas:
    """A white page on which text lines are drawn and recorded, in reading order, as the ground truth."""

    def __init__(self, width, height, background=255):
        from PIL import Image, ImageDraw

        self.image = Image.new("L", (width, height), background)
        self.draw = ImageDraw.Draw(self.image)
        self.lines = []

    def text_line(self, x, y, text, font, fill=0):
        self.draw.text((x, y), text, font=font, fill=fill)
        self.lines.append(text)

    def paragraph(self, x, y, width, text, font, pitch, fill=0):
        """Wrap ``text`` into ``width`` pixels, draw it from ``y`` with ``pitch`` px between baselines; returns the
        y below it."""
        words, line = text.split(), ""
        for word in words:
            candidate = f"{line} {word}".strip()
            if line and self.draw.textlength(candidate, font=font) > width:
                self.text_line(x, y, line, font, fill)
                y += pitch
                line = word
            else:
                line = candidate
        if line:
            self.text_line(x, y, line, font, fill)
            y += pitch
        return y


def _sentences(pool, rng, count):
    return " ".join(pool.sentences(count, seed=int(rng.integers(2**31)), min_words=5, max_words=20))


def _fonts(rng, fonts, size):
    from PIL import ImageFont

    regular, bold = fonts[int(rng.integers(len(fonts)))]
    return ImageFont.truetype(regular, size), lambda s: ImageFont.truetype(bold, s)


def render_page(kind, rng, pool, fonts):
    """``(image as np.ndarray, ground-truth lines)`` for one page of ``kind``."""
    import numpy as np

    if kind.startswith("leading-") or kind == "scan":
        leading = float(kind.split("-")[1]) if kind != "scan" else float(rng.uniform(1.1, 1.4))
        size = int(rng.integers(20, 31))
        font, bold = _fonts(rng, fonts, size)
        canvas = Canvas(1100, 1300)
        y = 60
        if rng.random() < 0.5:
            canvas.text_line(60, y, pool.line(rng, max_chars=40, kind="prose").rstrip("."), bold(int(size * 1.4)))
            y += int(size * 2.2)
        for _ in range(int(rng.integers(2, 4))):
            y = canvas.paragraph(60, y, 980, _sentences(pool, rng, int(rng.integers(3, 6))), font,
                                 int(round(leading * size))) + int(size * 0.8)
            if y > 1100:
                break
        image = np.asarray(canvas.image)
        if kind == "scan":
            image = degrade_scan(image, rng)
        return image, canvas.lines
    if kind == "two-columns":
        size = int(rng.integers(20, 27))
        font, bold = _fonts(rng, fonts, size)
        canvas = Canvas(1400, 1300)
        canvas.text_line(60, 50, pool.line(rng, max_chars=45, kind="prose").rstrip("."), bold(int(size * 1.6)))
        pitch = int(round(float(rng.uniform(1.2, 1.4)) * size))
        for left in (60, 740):
            y = 50 + int(size * 3)
            for _ in range(2):
                y = canvas.paragraph(left, y, 600, _sentences(pool, rng, 3), font, pitch) + int(size * 0.9)
        return np.asarray(canvas.image), canvas.lines
    if kind == "headings":
        size = int(rng.integers(20, 27))
        font, bold = _fonts(rng, fonts, size)
        canvas = Canvas(1100, 1500)
        pitch = int(round(float(rng.uniform(1.2, 1.4)) * size))
        canvas.text_line(60, 50, pool.line(rng, max_chars=35, kind="prose").rstrip("."), bold(int(size * 1.8)))
        y = canvas.paragraph(60, 50 + int(size * 3), 980, _sentences(pool, rng, 2), font, pitch) + size
        canvas.draw.rectangle((60, y, 1040, y + 2), fill=0)  # a rule
        y += size
        canvas.text_line(60, y, pool.line(rng, max_chars=30, kind="prose").rstrip("."), bold(int(size * 1.3)))
        y = canvas.paragraph(60, y + int(size * 2), 980, _sentences(pool, rng, 1), font, pitch) + size
        # A picture: a framed drawing with shapes and shading, then its caption.
        top, height = y, 260
        canvas.draw.rectangle((300, top, 800, top + height), outline=0, width=3, fill=200)
        canvas.draw.ellipse((360, top + 30, 560, top + 230), fill=90)
        canvas.draw.polygon([(600, top + 220), (700, top + 40), (780, top + 220)], fill=40)
        caption_font = _fonts(rng, fonts, int(size * 0.8))[0]
        canvas.text_line(300, top + height + 15, pool.line(rng, max_chars=40, kind="prose"), caption_font)
        return np.asarray(canvas.image), canvas.lines
    if kind.startswith("screenshot"):
        return render_screenshot(rng, pool, fonts, dark=kind.endswith("dark"))
    raise ValueError(f"Unknown page kind. Received: kind={kind!r}")


def render_screenshot(rng, pool, fonts, *, dark):
    """An interface-like page: a title bar, a menu column, body text and a footer, in light or dark colors."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageFont

    sans = [pair for pair in fonts if "Sans" in pair[0]] or fonts
    regular, bold = sans[int(rng.integers(len(sans)))]
    size = int(rng.integers(16, 21))
    font, title_font = ImageFont.truetype(regular, size), ImageFont.truetype(bold, int(size * 1.3))
    paper, ink, band, band_ink = ((30, 30, 34), (220, 220, 220), (52, 54, 60), (235, 235, 235)) if dark else (
        (255, 255, 255), (20, 20, 20), (225, 230, 240), (10, 10, 60))
    image = Image.new("RGB", (1000, 700), paper)
    draw = ImageDraw.Draw(image)
    lines = []
    draw.rectangle((0, 0, 1000, 56), fill=band)
    title = pool.line(rng, max_chars=40, kind="prose").rstrip(".")
    draw.text((24, 14), title, font=title_font, fill=band_ink)
    lines.append(title)
    pitch = int(size * 1.5)
    canvas = Canvas(10, 10)  # only for its wrapping, with this draw
    canvas.draw, canvas.image = draw, image
    canvas.lines = lines
    y = canvas.paragraph(40, 90, 900, _sentences(pool, rng, 2), font, pitch, fill=ink) + size
    for _ in range(int(rng.integers(2, 4))):
        item = pool.line(rng, max_chars=50, kind=str(rng.choice(["name", "date", "price", "web"])))
        draw.rectangle((40, y + size // 3, 40 + size // 2, y + size // 3 + size // 2), fill=ink)  # a bullet
        canvas.text_line(40 + size, y, item, font, fill=ink)
        y += pitch
    y = canvas.paragraph(40, y + size, 900, _sentences(pool, rng, 1), font, pitch, fill=ink)
    draw.rectangle((0, 640, 1000, 700), fill=band)
    footer = pool.line(rng, max_chars=40, kind="web")
    canvas.text_line(24, 655, footer, font, fill=band_ink)
    return np.asarray(image), canvas.lines


def degrade_scan(gray, rng):
    """A page as a poor scan or photo: uneven light, blur, slight perspective, skew, noise, JPEG."""
    import cv2
    import numpy as np

    rows, cols = gray.shape
    image = gray.astype(np.float32)
    # Uneven light: a linear gradient times a soft spot, down to about half the brightness.
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * xx / cols + np.sin(angle) * yy / rows)
    ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1e-6)
    cx, cy = rng.uniform(0, cols), rng.uniform(0, rows)
    spot = np.exp(-(((xx - cx) / cols) ** 2 + ((yy - cy) / rows) ** 2) * 2.0)
    light = 0.5 + 0.35 * ramp + 0.15 * spot
    image = image * light + rng.uniform(0, 25)
    image = cv2.GaussianBlur(image, (0, 0), float(rng.uniform(0.5, 1.1)))
    # Skew up to 5 degrees, and a slight perspective (corners moved by up to 1.5 % of the page).
    matrix = cv2.getRotationMatrix2D((cols / 2, rows / 2), float(rng.uniform(-5, 5)), 1.0)
    image = cv2.warpAffine(image, matrix, (cols, rows), borderMode=cv2.BORDER_REPLICATE)
    corners = np.float32([[0, 0], [cols, 0], [cols, rows], [0, rows]])
    moved = corners + rng.uniform(-0.015, 0.015, (4, 2)).astype(np.float32) * np.float32([cols, rows])
    image = cv2.warpPerspective(image, cv2.getPerspectiveTransform(corners, moved), (cols, rows),
                                borderMode=cv2.BORDER_REPLICATE)
    image = image + rng.normal(0, float(rng.uniform(6, 14)), image.shape)
    image = np.clip(image, 0, 255).astype(np.uint8)
    quality = int(rng.integers(35, 71))
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)


def render_set(out_dir, pages_per_kind, seed):
    """Write ``NNN-kind.png`` + ``NNN-kind.gt.txt`` (one line per text line, reading order); returns the list of
    ``(path, kind, lines)``."""
    import cv2
    import numpy as np
    from common.corpus import TextPool

    fonts = available_fonts()
    if not fonts:
        raise SystemExit("No benchmark font installed: apt-get install fonts-dejavu-core fonts-freefont-ttf")
    pool, pages = TextPool(seed), []
    out_dir.mkdir(parents=True, exist_ok=True)
    for number in range(pages_per_kind * len(KINDS)):
        kind = KINDS[number % len(KINDS)]
        rng = np.random.default_rng([seed, number])
        image, lines = render_page(kind, rng, pool, fonts)
        path = out_dir / f"{number:03d}-{kind}.png"
        cv2.imwrite(str(path), image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        path.with_suffix(".gt.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        pages.append((path, kind, lines))
    return pages


def tesseract_worker(paths_file, out_file):
    """Child process: Tesseract's page segmentation and text of each page; writes JSON."""
    import tesserocr
    from PIL import Image

    paths = json.loads(Path(paths_file).read_text())
    results = []
    with tesserocr.PyTessBaseAPI(lang="eng", psm=tesserocr.PSM.AUTO, oem=tesserocr.OEM.LSTM_ONLY) as api:
        api.SetVariable("debug_file", "/dev/null")
        with stopwatch() as watch:
            for path in paths:
                with Image.open(path) as image:
                    api.SetImage(image)
                    text = api.GetUTF8Text()
                    lines = 0
                    iterator = api.GetIterator()
                    level = tesserocr.RIL.TEXTLINE
                    for item in tesserocr.iterate_level(iterator, level) if iterator is not None else ():
                        try:
                            words = item.GetUTF8Text(level)
                        except RuntimeError:  # "No text returned": an empty line
                            words = ""
                        if words and words.strip():
                            lines += 1
                results.append({"text": text, "lines": lines})
    version = tesserocr.tesseract_version().split()[1]
    Path(out_file).write_text(json.dumps({"results": results, "seconds": watch.seconds, "version": version}))


def run_tesseract(paths, scratch):
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    return run_json_worker(__file__, paths, scratch, "tesseract.json", env)


GROUPS = KINDS + ("all", "all but scan")


def _members(pages, group):
    """Indices of the pages of a kind, or of a group of kinds (``all``, ``all but scan``)."""
    if group == "all":
        return list(range(len(pages)))
    if group == "all but scan":
        return [i for i, page in enumerate(pages) if page[1] != "scan"]
    return [i for i, page in enumerate(pages) if page[1] == group]


def summarize(pages, outputs):
    """Rows per kind and overall: ``{system: {kind: (right line count share, page CER)}}``."""
    from common.metrics import cer

    table = {}
    for system, results in outputs.items():
        rows = {}
        for kind in GROUPS:
            index = _members(pages, kind)
            if not index:
                continue
            right = sum(results[i]["lines"] == len(pages[i][2]) for i in index) / len(index)
            rate = None
            if results[index[0]]["text"] is not None:
                rate = cer([fold_text(" ".join(pages[i][2])) for i in index],
                           [fold_text(results[i]["text"]) for i in index])
            rows[kind] = (right, rate)
        table[system] = rows
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="OCR model file (default: the shipped model)")
    parser.add_argument("--pages-per-kind", type=int, default=8, help=f"pages of each of the {len(KINDS)} kinds")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tf-threads", type=int, help="TensorFlow threads for our model (default: TF's own)")
    parser.add_argument("--work", help="keep the rendered pages here (default: a temporary folder, deleted)")
    parser.add_argument("--skip-tesseract", action="store_true", help="our rows only")
    parser.add_argument("--layout-only", action="store_true", help="line counts of our layout only (no model)")
    parser.add_argument("--show-failures", action="store_true", help="list the pages with a wrong line count")
    parser.add_argument("--tesseract-worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tesseract_worker:
        return tesseract_worker(*args.tesseract_worker)
    if args.pages_per_kind < 1:
        parser.error(f"--pages-per-kind must be a positive integer. Received: {args.pages_per_kind}")

    print_header("OCR pages: layout and page text, ours vs Tesseract 5", ("tensorflow", "keras", "tesserocr"))
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="ocr-pages-"))
    try:
        pages = render_set(work, args.pages_per_kind, args.seed)
        print(f"{len(pages)} pages: {args.pages_per_kind} of each of {len(KINDS)} kinds; seed {args.seed}; "
              f"{sum(len(p[2]) for p in pages)} lines\n", flush=True)
        paths = [p[0] for p in pages]
        outputs, seconds = {}, {}
        if args.layout_only:
            from ocr.images import load_image
            from ocr.layout import find_lines

            with stopwatch() as watch:
                outputs["ours (layout only)"] = [{"lines": len(find_lines(load_image(str(p)))), "text": None}
                                                 for p in paths]
            seconds["ours (layout only)"] = watch.seconds
        else:
            set_tf_threads(args.tf_threads)
            from ocr import Reader

            reader = Reader.load(args.model)
            reader.read([str(paths[0])], layout="page")  # warm-up
            with stopwatch() as watch:
                results = reader.read([str(p) for p in paths], layout="page")
            for result in results:
                if not result.ok:
                    print(f"error: {result.error}", file=sys.stderr)
            outputs["ours"] = [{"lines": len(r.lines), "text": r.text} for r in results]
            seconds["ours"] = watch.seconds
        if not args.skip_tesseract:
            if importlib.util.find_spec("tesserocr") is None:
                print(f"No Tesseract rows (tesserocr is not installed). Install it with:\n    {INSTALL_TESSERACT}\n")
            else:
                found = run_tesseract(paths, work)
                name = f"Tesseract {found['version']} (1 thread)"
                outputs[name], seconds[name] = found["results"], found["seconds"]

        table = summarize(pages, outputs)
        headers = ["kind", "pages", "lines/page"]
        for system in outputs:
            headers += [f"{system}: right line count", f"{system}: page CER"]
        rows = []
        for kind in GROUPS:
            index = _members(pages, kind)
            row = [f"**{kind}**" if kind.startswith("all") else kind, str(len(index)),
                   f"{sum(len(pages[i][2]) for i in index) / len(index):.1f}"]
            for system in outputs:
                right, rate = table[system][kind]
                row += [f"{right:.1%}", "n/a" if rate is None else f"{rate:.2%}"]
            rows.append(row)
        print(markdown_table(headers, rows))
        print("\nSeconds per page (reading the PNG included): " + ", ".join(
            f"{system} {seconds[system] / len(pages):.2f}" for system in outputs))
        if args.show_failures:
            for system, results in outputs.items():
                for (path, kind, lines), result in zip(pages, results):
                    if result["lines"] != len(lines):
                        print(f"{system}: {path.name}: {result['lines']} lines, truth {len(lines)}")
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
