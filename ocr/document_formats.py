"""Writers of the standard OCR document formats, from :class:`ocr.document.Page` trees.

- :func:`to_text`: plain text, pages separated by a form feed (as Tesseract's ``txt``).
- :func:`to_json`: the tree as JSON.
- :func:`to_hocr`: hOCR 1.2 (XHTML: ``ocr_page``, ``ocr_carea``, ``ocr_par``, ``ocr_line``, ``ocrx_word`` with
  ``bbox`` and ``x_wconf``).
- :func:`to_alto`: ALTO v4 (``alto-4-2.xsd``): ``Page/PrintSpace/TextBlock/TextLine/String`` + ``SP``.
- :func:`to_page_xml`: PAGE-XML 2019-07-15, one page per document, with reading order, regions, lines, words and
  glyphs (``Coords`` polygons, ``TextEquiv`` with ``conf``).
- :func:`to_tsv`: Tesseract's TSV columns (``level page_num block_num par_num line_num word_num left top width
  height conf text``).
- :func:`to_searchable_pdf`: the page images with an invisible text layer on the words (text render mode 3,
  Helvetica, each word stretched to its box), as ``tesseract ... pdf`` makes.

Each takes a list of pages (a document; :func:`to_page_xml` takes one page) and returns ``str`` (``bytes`` for the
PDF). :data:`FORMATS` maps the ``--format`` names to the file extensions written by ``ocr read --output-dir``.
"""

import datetime
import json
import zlib
from xml.sax.saxutils import escape, quoteattr

import numpy as np

__all__ = ["FORMATS", "TSV_COLUMNS", "to_text", "to_json", "to_hocr", "to_alto", "to_page_xml", "to_tsv", "to_searchable_pdf",
           "render_document"]

FORMATS = {"text": ".txt", "json": ".json", "hocr": ".hocr", "alto": ".alto.xml", "page": ".page.xml",
           "tsv": ".tsv", "pdf": ".pdf"}
SOFTWARE = "ctc-toolkit"
ALTO_NS = "http://www.loc.gov/standards/alto/ns-v4#"
PAGE_NS = "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"


def _size(box):
    left, top, right, bottom = box
    return int(left), int(top), int(right - left), int(bottom - top)


def _pages(pages):
    return [pages] if hasattr(pages, "blocks") else list(pages)


def to_text(pages):
    """Plain text: each page's blocks separated by a blank line, pages by a form feed."""
    return "\f".join(page.text + "\n" for page in _pages(pages))


def to_json(pages):
    """The trees as one JSON document: ``{"pages": [...]}``."""
    return json.dumps({"pages": [page.to_dict() for page in _pages(pages)]}, ensure_ascii=False)


# --- hOCR -------------------------------------------------------------------------------------------------------

def _bbox(box):
    return "bbox {} {} {} {}".format(*(int(v) for v in box))


def to_hocr(pages, *, title=""):
    """hOCR 1.2: one ``ocr_page`` div per page; blocks are ``ocr_carea`` with one ``ocr_par``; ``x_wconf`` 0-100."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
           '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">',
           '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">',
           " <head>",
           f"  <title>{escape(title)}</title>",
           '  <meta http-equiv="Content-Type" content="text/html;charset=utf-8"/>',
           f'  <meta name="ocr-system" content="{SOFTWARE}"/>',
           '  <meta name="ocr-capabilities" content="ocr_page ocr_carea ocr_par ocr_line ocrx_word ocrp_wconf"/>',
           f'  <meta name="ocr-number-of-pages" content="{len(_pages(pages))}"/>',
           " </head>",
           " <body>"]
    for p in _pages(pages):
        n = p.number
        image = p.source.replace('"', "'")
        page_title = f'image "{image}"; {_bbox((0, 0, p.width, p.height))}; ppageno {n - 1}'
        if p.dpi:
            page_title += f"; scan_res {int(round(p.dpi))} {int(round(p.dpi))}"
        out.append(f'  <div class="ocr_page" id="page_{n}" title={quoteattr(page_title)}>')
        word_number = 0
        for b, block in enumerate(p.blocks, start=1):
            out.append(f'   <div class="ocr_carea" id="block_{n}_{b}" title="{_bbox(block.box)}">')
            out.append(f'    <p class="ocr_par" id="par_{n}_{b}" lang="eng" title="{_bbox(block.box)}">')
            for i, line in enumerate(block.lines, start=1):
                height = line.box[3] - line.box[1]
                out.append(f'     <span class="ocr_line" id="line_{n}_{b}_{i}" '
                           f'title="{_bbox(line.box)}; baseline {line.slope:.4f} {-round(0.2 * height)}; '
                           f'x_size {height}">')
                for word in line.words:
                    word_number += 1
                    out.append(f'      <span class="ocrx_word" id="word_{n}_{word_number}" '
                               f'title="{_bbox(word.box)}; x_wconf {int(round(100 * word.confidence))}">'
                               f"{escape(word.text)}</span>")
                out.append("     </span>")
            out.append("    </p>")
            out.append("   </div>")
        out.append("  </div>")
    out += [" </body>", "</html>", ""]
    return "\n".join(out)


# --- ALTO v4 ----------------------------------------------------------------------------------------------------

def _position(box):
    left, top, width, height = _size(box)
    return f'HPOS="{left}" VPOS="{top}" WIDTH="{width}" HEIGHT="{height}"'


def to_alto(pages, *, filename=""):
    """ALTO v4 (valid against ``alto-4-2.xsd``): one ``Page`` per page; ``WC`` word confidences in [0, 1]."""
    pages = _pages(pages)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<alto xmlns="{ALTO_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
           f'xsi:schemaLocation="{ALTO_NS} http://www.loc.gov/alto/v4/alto-4-2.xsd">',
           "  <Description>",
           "    <MeasurementUnit>pixel</MeasurementUnit>",
           "    <sourceImageInformation>",
           f"      <fileName>{escape(filename or (pages[0].source if pages else ''))}</fileName>",
           "    </sourceImageInformation>",
           '    <OCRProcessing ID="OCR_0">',
           "      <ocrProcessingStep>",
           f"        <processingSoftware><softwareName>{SOFTWARE}</softwareName></processingSoftware>",
           "      </ocrProcessingStep>",
           "    </OCRProcessing>",
           "  </Description>",
           "  <Layout>"]
    for p in pages:
        n = p.number
        out.append(f'    <Page ID="page_{n}" PHYSICAL_IMG_NR="{n}" HEIGHT="{p.height}" WIDTH="{p.width}">')
        out.append(f'      <PrintSpace HPOS="0" VPOS="0" WIDTH="{p.width}" HEIGHT="{p.height}">')
        for b, block in enumerate(p.blocks, start=1):
            out.append(f'        <TextBlock ID="block_{n}_{b}" {_position(block.box)}>')
            for i, line in enumerate(block.lines, start=1):
                out.append(f'          <TextLine ID="line_{n}_{b}_{i}" {_position(line.box)}>')
                for w, word in enumerate(line.words, start=1):
                    if w > 1:
                        previous = line.words[w - 2]
                        gap = max(0, word.box[0] - previous.box[2])
                        out.append(f'            <SP WIDTH="{gap}" HPOS="{previous.box[2]}" VPOS="{line.box[1]}"/>')
                    out.append(f'            <String ID="word_{n}_{b}_{i}_{w}" {_position(word.box)} '
                               f'WC="{word.confidence:.4f}" CONTENT={quoteattr(word.text)}/>')
                out.append("          </TextLine>")
            out.append("        </TextBlock>")
        out.append("      </PrintSpace>")
        out.append("    </Page>")
    out += ["  </Layout>", "</alto>", ""]
    return "\n".join(out)


# --- PAGE-XML 2019 ----------------------------------------------------------------------------------------------

def _points(box, slope=0.0):
    """A box as PAGE ``Coords`` points (clockwise from top left); with a slope, the sheared parallelogram."""
    left, top, right, bottom = (int(v) for v in box)
    right, bottom = max(right - 1, left), max(bottom - 1, top)
    if slope:
        drift = int(round(slope * (right - left)))
        thickness = max(1, (bottom - top) - abs(drift))
        y_left = top if drift >= 0 else top - drift
        y_right = y_left + drift
        corners = [(left, y_left), (right, y_right), (right, y_right + thickness), (left, y_left + thickness)]
    else:
        corners = [(left, top), (right, top), (right, bottom), (left, bottom)]
    return " ".join(f"{x},{y}" for x, y in corners)


def _text_equiv(text, confidence=None, indent=""):
    conf = "" if confidence is None else f' conf="{min(max(confidence, 0.0), 1.0):.4f}"'
    return f"{indent}<TextEquiv{conf}><Unicode>{escape(text)}</Unicode></TextEquiv>"


def to_page_xml(page, *, created=None):
    """PAGE-XML 2019-07-15 of one page (valid against the PRImA schema): reading order, ``TextRegion`` per block,
    ``TextLine`` with ``Baseline``, ``Word`` and ``Glyph``, each with ``Coords`` and ``TextEquiv``."""
    created = created or datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    stamp = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           f'<PcGts xmlns="{PAGE_NS}" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
           f'xsi:schemaLocation="{PAGE_NS} {PAGE_NS}/pagecontent.xsd">',
           "  <Metadata>",
           f"    <Creator>{SOFTWARE}</Creator>",
           f"    <Created>{stamp}</Created>",
           f"    <LastChange>{stamp}</LastChange>",
           "  </Metadata>",
           f'  <Page imageFilename={quoteattr(page.source or "page")} imageWidth="{page.width}" '
           f'imageHeight="{page.height}">']
    if page.blocks:
        out.append("    <ReadingOrder>")
        out.append('      <OrderedGroup id="reading_order">')
        for b in range(1, len(page.blocks) + 1):
            out.append(f'        <RegionRefIndexed index="{b - 1}" regionRef="region_{b}"/>')
        out.append("      </OrderedGroup>")
        out.append("    </ReadingOrder>")
    for b, block in enumerate(page.blocks, start=1):
        out.append(f'    <TextRegion id="region_{b}" type="paragraph">')
        out.append(f'      <Coords points="{_points(block.box)}"/>')
        for i, line in enumerate(block.lines, start=1):
            left, top, right, bottom = line.box
            base = bottom - 1 - int(round(0.2 * (bottom - top)))
            out.append(f'      <TextLine id="region_{b}_line_{i}">')
            out.append(f'        <Coords points="{_points(line.box, line.slope)}"/>')
            out.append(f'        <Baseline points="{int(left)},{base} {max(int(right) - 1, int(left))},'
                       f'{base + int(round(line.slope * (right - left)))}"/>')
            for w, word in enumerate(line.words, start=1):
                word_id = f"region_{b}_line_{i}_word_{w}"
                out.append(f'        <Word id="{word_id}">')
                out.append(f'          <Coords points="{_points(word.box)}"/>')
                for g, char in enumerate(word.chars, start=1):
                    out.append(f'          <Glyph id="{word_id}_glyph_{g}">')
                    out.append(f'            <Coords points="{_points(char.box)}"/>')
                    out.append(_text_equiv(char.text, char.confidence, "            "))
                    out.append("          </Glyph>")
                out.append(_text_equiv(word.text, word.confidence, "          "))
                out.append("        </Word>")
            out.append(_text_equiv(line.text, line.confidence, "        "))
            out.append("      </TextLine>")
        out.append(_text_equiv(block.text, block.confidence, "      "))
        out.append("    </TextRegion>")
    out += ["  </Page>", "</PcGts>", ""]
    return "\n".join(out)


# --- TSV (Tesseract's columns) ----------------------------------------------------------------------------------

TSV_COLUMNS = ("level", "page_num", "block_num", "par_num", "line_num", "word_num", "left", "top", "width",
               "height", "conf", "text")


def to_tsv(pages):
    """Tesseract's TSV: levels 1 page, 2 block, 3 paragraph, 4 line, 5 word; ``conf`` -1 except for words
    (0-100)."""
    rows = ["\t".join(TSV_COLUMNS)]

    def row(level, n, b, par, i, w, box, conf, text):
        left, top, width, height = _size(box)
        clean = text.replace("\t", " ").replace("\n", " ")
        rows.append(f"{level}\t{n}\t{b}\t{par}\t{i}\t{w}\t{left}\t{top}\t{width}\t{height}\t{conf}\t{clean}")

    for p in _pages(pages):
        n = p.number
        row(1, n, 0, 0, 0, 0, (0, 0, p.width, p.height), -1, "")
        for b, block in enumerate(p.blocks, start=1):
            row(2, n, b, 0, 0, 0, block.box, -1, "")
            row(3, n, b, 1, 0, 0, block.box, -1, "")
            for i, line in enumerate(block.lines, start=1):
                row(4, n, b, 1, i, 0, line.box, -1, "")
                for w, word in enumerate(line.words, start=1):
                    row(5, n, b, 1, i, w, word.box, f"{100 * word.confidence:.6f}", word.text)
    return "\n".join(rows) + "\n"


# --- searchable PDF ---------------------------------------------------------------------------------------------

_HELVETICA_FILES = ("/usr/share/fonts/truetype/freefont/FreeSans.ttf",  # Helvetica's metrics (Nimbus Sans)
                    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
                    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


class _Widths:
    """Advance widths (in 1/1000 em) of Helvetica-like glyphs, for stretching words to their boxes."""

    def __init__(self):
        from pathlib import Path

        from PIL import ImageFont

        self.font = None
        for path in _HELVETICA_FILES:
            if Path(path).is_file():
                self.font = ImageFont.truetype(path, 1000)
                break

    def width(self, text):
        if self.font is None:
            return 556.0 * len(text)
        return max(float(self.font.getlength(text)), 1.0)


def _pdf_string(text):
    data = text.encode("cp1252", errors="replace")
    return b"(" + data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _jpeg(gray, quality):
    import cv2

    ok, encoded = cv2.imencode(".jpg", gray, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding of the page image failed")
    return encoded.tobytes()


def to_searchable_pdf(pages, images, *, dpi=None, jpeg_quality=85):
    """A PDF with each page image and an invisible, selectable and searchable text layer over its words.

    Parameters
    ----------
    pages : list of ocr.document.Page
    images : list of np.ndarray [shape=(H, W), dtype=uint8]
        The page images the trees were read from (same sizes).
    dpi : float or None
        Resolution of the images; ``None``: each page's ``dpi``, else 300.
    jpeg_quality : int
        Quality of the embedded JPEG images.

    Returns
    -------
    pdf : bytes
    """
    pages = _pages(pages)
    images = [images] if isinstance(images, np.ndarray) else list(images)
    if len(images) != len(pages):
        raise ValueError(f"Expected one image per page. Received: {len(pages)} pages, {len(images)} images")
    widths = _Widths()
    objects = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
               3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"}
    kids = []
    for index, (page, image) in enumerate(zip(pages, images)):
        if image.shape[:2] != (page.height, page.width):
            raise ValueError(f"Page {page.number}: the image is {image.shape[1]} x {image.shape[0]} pixels, the "
                             f"page {page.width} x {page.height}")
        resolution = float(dpi or page.dpi or 300)
        scale = 72.0 / resolution
        width_pt, height_pt = page.width * scale, page.height * scale
        page_id, content_id, image_id = 4 + 3 * index, 5 + 3 * index, 6 + 3 * index
        kids.append(page_id)
        jpeg = _jpeg(image, jpeg_quality)
        objects[image_id] = (f"<< /Type /XObject /Subtype /Image /Width {page.width} /Height {page.height} "
                             f"/ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /DCTDecode "
                             f"/Length {len(jpeg)} >>\nstream\n").encode() + jpeg + b"\nendstream"
        content = [f"q {width_pt:.3f} 0 0 {height_pt:.3f} 0 0 cm /Im0 Do Q".encode(), b"BT 3 Tr"]
        for line in page.lines:
            for word in line.words:
                left, top, right, bottom = word.box
                size = max((bottom - top) * scale * 0.8, 1.0)
                natural = widths.width(word.text) * size / 1000.0
                stretch = 100.0 * max((right - left) * scale, 0.5) / natural
                baseline = height_pt - (bottom - 0.2 * (bottom - top)) * scale
                content.append(f"/F1 {size:.2f} Tf {stretch:.2f} Tz 1 0 0 1 {left * scale:.2f} {baseline:.2f} Tm "
                               .encode() + _pdf_string(word.text) + b" Tj")
        content.append(b"ET")
        stream = zlib.compress(b"\n".join(content))
        objects[content_id] = (f"<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n".encode() + stream
                               + b"\nendstream")
        objects[page_id] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {width_pt:.3f} {height_pt:.3f}] "
                            f"/Resources << /Font << /F1 3 0 R >> /XObject << /Im0 {image_id} 0 R >> >> "
                            f"/Contents {content_id} 0 R >>").encode()
    objects[2] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>".encode()
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode() + objects[number] + b"\nendobj\n"
    start = len(out)
    count = max(objects) + 1
    out += f"xref\n0 {count}\n0000000000 65535 f \n".encode()
    for number in range(1, count):
        out += f"{offsets[number]:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {count} /Root 1 0 R >>\nstartxref\n{start}\n%%EOF\n".encode()
    return bytes(out)


def render_document(results, fmt, *, images=None, json_lines=False):
    """One read document (the :class:`~ocr.reader.ReadResult` of each page, from ``Reader.read_document``) in the
    format ``fmt`` (a :data:`FORMATS` name): a list of ``(suffix, content)``, where ``suffix`` tells the files of a
    one-page-per-file format apart (``"_p002"`` for PAGE-XML's second page, else ``""``) and ``content`` is ``str``
    (``bytes`` for the PDF). Failed pages are left out; no page read: ``[]``.

    Args:
        results: the document's page results.
        fmt: ``text``, ``json``, ``hocr``, ``alto``, ``page``, ``tsv`` or ``pdf``.
        images: the page images (``return_images=True``), needed by ``pdf`` only.
        json_lines: ``json`` as one ``ReadResult.to_dict()`` line per page (what ``ocr read --format json``
            prints) instead of the one :func:`to_json` document (what ``--output-dir`` writes).

    ``ocr read`` and the HTTP service (``ocr serve``) both write documents through this function.
    """
    if fmt not in FORMATS:
        raise ValueError(f"Unknown document format, expected one of {tuple(FORMATS)}. Received: fmt={fmt!r}")
    kept = [(index, result) for index, result in enumerate(results) if result.ok]
    pages = [result.page for _, result in kept]
    if not pages:
        return []
    if fmt == "page":
        return [(f"_p{page.number:03d}" if len(pages) > 1 else "", to_page_xml(page)) for page in pages]
    if fmt == "pdf":
        if images is None:
            raise ValueError("the pdf format needs the page images (read_document(..., return_images=True))")
        return [("", to_searchable_pdf(pages, [images[index] for index, _ in kept]))]
    if fmt == "json" and json_lines:
        return [("", "\n".join(json.dumps(result.to_dict(), ensure_ascii=False) for _, result in kept))]
    writer = {"text": to_text, "json": to_json, "hocr": to_hocr, "alto": to_alto, "tsv": to_tsv}[fmt]
    return [("", writer(pages))]
