"""Tests of the document path: page layout on hard pages, PDF and multi-page TIFF input, the document tree and its
writers (hOCR, ALTO v4, PAGE-XML 2019 against their schemas, TSV, searchable PDF)."""

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from common.errors import ConfigError, InputError
from ocr.binarize import ink_mask
from ocr.document import Block, Char, Line, Page, Word
from ocr.document_formats import (TSV_COLUMNS, to_alto, to_hocr, to_json, to_page_xml, to_searchable_pdf, to_text,
                                  to_tsv)
from ocr.layout import analyze_page, find_lines
from ocr.pages import iter_pages, page_count, parse_page_ranges, select_pages

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
SCHEMAS = Path(__file__).resolve().parent / "schemas"
WORDS = ("the quick brown fox jumps over a lazy dog while seven bright judges quietly hum "
         "public hymns beyond the gray hill and every playful kitten naps").split()

pytestmark = pytest.mark.skipif(not FONT.exists(), reason="DejaVu Sans is not installed")


def _font(size):
    return ImageFont.truetype(str(FONT), size)


def _paragraph(draw, x, y, lines, size, leading, fill=15):
    for i, text in enumerate(lines):
        draw.text((x, y + int(round(i * leading * size))), text, font=_font(size), fill=fill)


def _lines(count, words_per_line=7, offset=0):
    return [" ".join(WORDS[(offset + i * 3 + k) % len(WORDS)] for k in range(words_per_line)) for i in range(count)]


# --- layout ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("leading", [0.9, 1.0, 1.5])
def test_touching_lines_are_split(leading):
    """At leading 0.9 descenders of a line touch the ascenders of the next: still one box per line, in order."""
    image = Image.new("L", (760, 300), 250)
    _paragraph(ImageDraw.Draw(image), 20, 20, _lines(7), 24, leading)
    gray = np.asarray(image)
    if leading < 1.0:  # the page really has touching lines: no blank row between the first two
        assert (gray[20 + 14:20 + 14 + 24] < 128).any(axis=1).all()
    boxes = find_lines(gray)
    assert len(boxes) == 7
    centers = [(b.top + b.bottom) / 2 for b in boxes]
    expected = [20 + i * leading * 24 + 14 for i in range(7)]
    assert np.allclose(centers, expected, atol=0.3 * leading * 24)


def test_capital_heading_is_one_line():
    """The crossbars of E, H, F make a profile with several peaks; the cut would go through every letter."""
    image = Image.new("L", (700, 200), 255)
    draw = ImageDraw.Draw(image)
    draw.text((20, 20), "HE LEFT THE FEE", font=ImageFont.truetype(str(FONT.with_name("DejaVuSans-Bold.ttf"))
                                                                 if FONT.with_name("DejaVuSans-Bold.ttf").exists()
                                                                 else str(FONT), 40), fill=0)
    _paragraph(draw, 20, 90, _lines(3), 20, 1.3, fill=0)
    assert len(find_lines(np.asarray(image))) == 4


def test_two_columns_heading_reading_order():
    image = Image.new("L", (1000, 420), 255)
    draw = ImageDraw.Draw(image)
    draw.text((30, 20), "A heading across both columns", font=_font(34), fill=0)
    _paragraph(draw, 30, 90, _lines(6, 5), 22, 1.3, fill=0)
    _paragraph(draw, 540, 90, _lines(5, 5, offset=40), 22, 1.3, fill=0)
    layout = analyze_page(np.asarray(image))
    lines = layout.lines
    assert len(lines) == 12
    assert len(layout.blocks) == 3
    assert lines[0].top < 70 and lines[0].right > 500  # the heading first, across
    left, right = lines[1:7], lines[7:]
    assert all(b.right < 520 for b in left) and all(b.left > 520 for b in right)  # whole left column first
    assert [b.top for b in left] == sorted(b.top for b in left)


def test_pictures_and_rules_are_left_out():
    image = Image.new("L", (900, 560), 255)
    draw = ImageDraw.Draw(image)
    _paragraph(draw, 30, 20, _lines(3), 22, 1.3, fill=0)
    draw.rectangle((30, 120, 870, 123), fill=0)  # a rule
    draw.rectangle((200, 150, 600, 420), outline=0, width=3, fill=190)  # a framed picture with shapes inside
    draw.ellipse((260, 180, 420, 380), fill=60)
    draw.polygon([(450, 400), (520, 190), (580, 400)], fill=20)
    draw.text((200, 440), "Figure 1: a caption under the picture", font=_font(20), fill=0)
    lines = find_lines(np.asarray(image))
    assert len(lines) == 4
    assert not any(150 <= (b.top + b.bottom) / 2 <= 420 for b in lines)


def _scan(gray, degrees, seed=0):
    rng = np.random.default_rng(seed)
    rows, cols = gray.shape
    light = np.linspace(0.45, 1.0, cols, dtype=np.float32)[None, :] * np.linspace(1.0, 0.7, rows)[:, None]
    image = gray.astype(np.float32) * light
    matrix = cv2.getRotationMatrix2D((cols / 2, rows / 2), degrees, 1.0)
    image = cv2.warpAffine(image, matrix, (cols, rows), borderMode=cv2.BORDER_REPLICATE)
    image = np.clip(image + rng.normal(0, 12, image.shape), 0, 255).astype(np.uint8)
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 40])[1], cv2.IMREAD_GRAYSCALE)


@pytest.mark.parametrize("degrees", [-4.5, 3.0])
def test_scan_with_uneven_light_noise_and_skew(degrees):
    image = Image.new("L", (800, 400), 245)
    _paragraph(ImageDraw.Draw(image), 40, 40, _lines(8), 22, 1.25, fill=20)
    scan = _scan(np.asarray(image), degrees)
    layout = analyze_page(scan)
    assert len(layout.lines) == 8
    assert abs(abs(layout.skew_degrees) - abs(degrees)) < 0.6


def test_binarization_flattens_uneven_light():
    """A dark corner of empty paper is not ink, while faint text in it is."""
    paper = np.full((300, 400), 230, np.float32) * np.linspace(0.35, 1.0, 400, dtype=np.float32)[None, :]
    image = Image.fromarray(paper.astype(np.uint8))
    ImageDraw.Draw(image).text((10, 130), "faint text", font=_font(28), fill=40)
    ink = ink_mask(np.asarray(image))
    assert ink[:100, :80].sum() == 0  # dark, empty paper
    assert ink[130:170, 10:150].sum() > 150  # the text on it
    assert ink_mask(np.full((50, 50), 128, np.uint8)) is None


def test_list_bullets_are_not_text():
    image = Image.new("L", (700, 200), 255)
    draw = ImageDraw.Draw(image)
    for i, text in enumerate(_lines(3, 5)):
        draw.rectangle((20, 28 + 40 * i, 30, 38 + 40 * i), fill=0)  # a square bullet before each item
        draw.text((44, 20 + 40 * i), text, font=_font(20), fill=0)
    lines = find_lines(np.asarray(image))
    assert len(lines) == 3 and all(b.left > 34 for b in lines)


def test_light_text_on_dark_screenshot():
    image = Image.new("RGB", (700, 200), (30, 30, 34))
    draw = ImageDraw.Draw(image)
    for i, text in enumerate(_lines(4, 6)):
        draw.text((20, 20 + 40 * i), text, font=_font(18), fill=(220, 220, 220))
    assert len(find_lines(np.asarray(image.convert("L")))) == 4


# --- multi-page inputs --------------------------------------------------------------------------------------------

def test_parse_page_ranges():
    assert parse_page_ranges("1-3,5") == [(1, 3), (5, 5)]
    assert parse_page_ranges(" 2 , 4- ") == [(2, 2), (4, None)]
    assert select_pages(parse_page_ranges("2,4-"), 6) == [2, 4, 5, 6]
    assert select_pages(None, 3) == [1, 2, 3]
    for bad in ("0", "3-1", "a-b", "1,,2", "-2"):
        with pytest.raises(ConfigError, match=r"--pages.*Received: pages="):
            parse_page_ranges(bad)


def _numbered_pages(count, size=(300, 120)):
    pages = []
    for number in range(1, count + 1):
        image = Image.new("L", size, 255)
        ImageDraw.Draw(image).text((20, 40), f"page {number}", font=_font(28), fill=0)
        pages.append(image)
    return pages


def test_multipage_tiff(tmp_path):
    path = tmp_path / "three.tif"
    first, *rest = _numbered_pages(3)
    first.save(path, save_all=True, append_images=rest)
    assert page_count(path) == 3
    pages = list(iter_pages(path, pages="2-3"))
    assert [n for n, _ in pages] == [2, 3]
    expected = np.asarray(_numbered_pages(3)[1])
    np.testing.assert_array_equal(pages[0][1], expected)
    with pytest.raises(InputError, match="None of the requested pages exists; the document has 3"):
        list(iter_pages(path, pages="7"))


def test_pdf_pages_render_at_the_dpi(tmp_path):
    path = tmp_path / "two.pdf"
    first, second = _numbered_pages(2)
    first.save(path, save_all=True, append_images=[second], resolution=100.0)
    assert page_count(path) == 2
    [(number, gray)] = list(iter_pages(path, pages="2", dpi=200))
    assert number == 2 and gray.dtype == np.uint8
    assert abs(gray.shape[1] - 600) <= 2 and abs(gray.shape[0] - 240) <= 2  # 3 x 1.2 inches at 200 dpi
    assert gray.min() < 60 and np.median(gray) > 240  # text on white


def test_damaged_pdf_is_an_input_error(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ngarbage")
    with pytest.raises(InputError, match=r"broken.pdf: The PDF cannot be opened"):
        list(iter_pages(path))


# --- writers on a known tree ------------------------------------------------------------------------------------

def _word(text, left, top, confidence=0.9):
    chars = tuple(Char(c, confidence, (left + 10 * i, top, left + 10 * i + 9, top + 20)) for i, c in enumerate(text))
    return Word(text, confidence, (left, top, left + 10 * len(text), top + 20), chars)


@pytest.fixture()
def tree():
    line1 = Line("Hello <world> & co", 0.8, (10, 10, 200, 30),
                 (_word("Hello", 10, 10), _word("<world>", 70, 10, 0.5), _word("&", 150, 10), _word("co", 170, 10)))
    line2 = Line("Tschüß 42", 0.95, (10, 40, 120, 60), (_word("Tschüß", 10, 40), _word("42", 80, 40)), 0.01)
    block1 = Block((10, 10, 200, 60), (line1, line2), 0.875)
    line3 = Line("second", 0.7, (300, 10, 360, 30), (_word("second", 300, 10, 0.7),))
    block2 = Block((300, 10, 360, 30), (line3,), 0.7)
    return Page(400, 100, (block1, block2), 0.5, 1, "scan.png", 300.0)


def test_text_and_json(tree):
    assert to_text(tree) == "Hello <world> & co\nTschüß 42\n\nsecond\n"
    assert to_text([tree, tree]).count("\f") == 1
    assert '"Tschüß"' in to_json(tree)


def test_hocr_follows_the_spec(tree):
    from lxml import etree

    root = etree.fromstring(to_hocr([tree]).encode("utf-8"))
    ns = {"x": "http://www.w3.org/1999/xhtml"}
    capabilities = root.find(".//x:meta[@name='ocr-capabilities']", ns).get("content").split()
    assert {"ocr_page", "ocr_carea", "ocr_line", "ocrx_word"} <= set(capabilities)
    [page] = root.findall(".//x:div[@class='ocr_page']", ns)
    assert re.fullmatch(r'image "scan.png"; bbox 0 0 400 100; ppageno 0; scan_res 300 300', page.get("title"))
    areas = page.findall("x:div[@class='ocr_carea']", ns)
    assert len(areas) == 2
    lines = page.findall(".//x:span[@class='ocr_line']", ns)
    assert [ln.getparent().get("class") for ln in lines] == ["ocr_par"] * 3  # lines sit in paragraphs in areas
    words = page.findall(".//x:span[@class='ocrx_word']", ns)
    assert [w.text for w in words] == ["Hello", "<world>", "&", "co", "Tschüß", "42", "second"]
    for element in page.iter("{http://www.w3.org/1999/xhtml}*"):
        if element.get("class", "").startswith("ocr"):
            title = element.get("title")
            assert re.match(r"(image \"[^\"]*\"; )?bbox \d+ \d+ \d+ \d+(; [a-z_]+ [^;]+)*$", title), title
    assert re.search(r"; x_wconf 50$", words[1].get("title"))
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))


def _schema(name):
    from lxml import etree

    return etree.XMLSchema(etree.parse(str(SCHEMAS / name)))


def test_alto_is_valid_v4(tree):
    from lxml import etree

    schema = _schema("alto-4-subset.xsd")
    document = etree.fromstring(to_alto([tree, Page(50, 50, (), number=2)]).encode("utf-8"))
    schema.assertValid(document)
    ns = {"a": "http://www.loc.gov/standards/alto/ns-v4#"}
    strings = document.findall(".//a:String", ns)
    assert [s.get("CONTENT") for s in strings][:3] == ["Hello", "<world>", "&"]
    assert strings[1].get("WC") == "0.5000" and strings[1].get("HPOS") == "70"
    assert len(document.findall(".//a:Page", ns)) == 2
    # The schema really checks: a String without CONTENT is refused.
    del strings[0].attrib["CONTENT"]
    assert not schema.validate(document)


def test_page_xml_is_valid_2019(tree):
    from lxml import etree

    schema = _schema("pagecontent-2019-07-15.xsd")
    document = etree.fromstring(to_page_xml(tree).encode("utf-8"))
    schema.assertValid(document)
    ns = {"p": "http://schema.primaresearch.org/PAGE/gts/pagecontent/2019-07-15"}
    order = [r.get("regionRef") for r in document.findall(".//p:RegionRefIndexed", ns)]
    regions = [r.get("id") for r in document.findall(".//p:TextRegion", ns)]
    assert order == regions and len(regions) == 2
    line_texts = [e.text for e in document.findall(".//p:TextLine/p:TextEquiv/p:Unicode", ns)]
    assert line_texts == ["Hello <world> & co", "Tschüß 42", "second"]
    assert len(document.findall(".//p:Glyph", ns)) == sum(len(w.chars) for w in tree.words)
    schema.assertValid(etree.fromstring(to_page_xml(Page(10, 10)).encode("utf-8")))  # an empty page too
    document.find(".//p:Page", ns).attrib.pop("imageWidth")
    assert not schema.validate(document)


def test_tsv_has_tesseracts_columns(tree):
    rows = [r.split("\t") for r in to_tsv(tree).splitlines()]
    assert tuple(rows[0]) == TSV_COLUMNS
    assert all(len(r) == 12 for r in rows)
    levels = [int(r[0]) for r in rows[1:]]
    assert levels[:5] == [1, 2, 3, 4, 5] and levels.count(5) == 7 and levels.count(4) == 3
    word = rows[1 + levels.index(5) + 1]
    assert word[1:6] == ["1", "1", "1", "1", "2"] and word[6:10] == ["70", "10", "70", "20"]
    assert float(word[10]) == pytest.approx(50.0) and word[11] == "<world>"
    assert all(r[10] == "-1" for r in rows[1:] if r[0] != "5")


def test_searchable_pdf_text_comes_back(tree):
    import pypdfium2

    image = np.full((100, 400), 255, np.uint8)
    data = to_searchable_pdf([tree], [image])
    document = pypdfium2.PdfDocument(data)
    assert len(document) == 1
    width, height = document[0].get_size()
    assert (width, height) == pytest.approx((400 * 72 / 300, 100 * 72 / 300), abs=0.01)
    text = document[0].get_textpage().get_text_range()
    assert text.split() == "Hello <world> & co Tschüß 42 second".split()
    with pytest.raises(ValueError, match="one image per page"):
        to_searchable_pdf([tree], [])


# --- the Reader on documents (shipped model) ------------------------------------------------------------------

def _cer(reference, hypothesis):
    from common.metrics import cer

    return cer([" ".join(reference.split())], [" ".join(hypothesis.split())])


@pytest.fixture(scope="module")
def reader():
    from ocr.reader import DEFAULT_MODEL, Reader

    if not DEFAULT_MODEL.exists():
        pytest.skip("the shipped OCR model is missing")
    return Reader.load()


def _text_page(lines, size=26):
    image = Image.new("L", (900, 60 + len(lines) * int(1.4 * size)), 255)
    _paragraph(ImageDraw.Draw(image), 30, 30, lines, size, 1.4, fill=0)
    return image


def test_reader_pdf_to_tree_and_searchable_pdf(reader, tmp_path):
    import pypdfium2

    texts = [["Invoice 2024 paid in full", "Thank you for your order"], ["Second page with one line"]]
    source = tmp_path / "doc.pdf"
    first, second = (_text_page(t) for t in texts)
    first.save(source, save_all=True, append_images=[second], resolution=150.0)
    results, images = reader.read_document(source, pages="1-2", dpi=150, return_images=True)
    assert [r.page.number for r in results] == [1, 2] and all(r.ok for r in results)
    assert [len(r.page.lines) for r in results] == [2, 1]
    assert _cer(" ".join(texts[0]), results[0].page.text) < 0.1
    assert results[0].page.words[0].box[0] < results[0].page.words[1].box[0]
    data = to_searchable_pdf([r.page for r in results], images)
    back = pypdfium2.PdfDocument(data)
    for index, result in enumerate(results):
        assert back[index].get_textpage().get_text_range().split() == result.page.text.split()


def test_cli_writes_one_file_per_input(reader, tmp_path, capsys):
    from ocr.cli import main

    page = tmp_path / "page.png"
    _text_page(["Hello there general", "A second line of text"]).save(page)
    tiff = tmp_path / "scan.tif"
    first, *rest = _numbered_pages(2)
    first.save(tiff, save_all=True, append_images=rest)
    out = tmp_path / "out"
    assert main(["read", str(page), str(tiff), "--format", "hocr", "--output-dir", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["page.hocr", "scan.hocr"]
    assert (out / "scan.hocr").read_text().count('class="ocr_page"') == 2
    assert main(["read", str(tiff), "--pages", "2", "--format", "page", "--output-dir", str(out)]) == 0
    _schema("pagecontent-2019-07-15.xsd").assertValid(
        __import__("lxml.etree").etree.parse(str(out / "scan.page.xml")))
    assert main(["read", str(page), "--format", "pdf"]) == 2
    assert "--output-dir" in capsys.readouterr().err
