"""Tests of ocr.layout: lines of a rendered paragraph are found in order, also skewed, noisy or inverted."""

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from ocr.layout import LineBox, crop_lines, find_lines, looks_like_page

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
LINES = (
    "Über die Brücke, ïn jüly: accents & dots.",
    "The quick brown fox jumps over the dog",
    "pay $1,234.56 by 12/03/2024 (net 30)",
    "ÉTÉ À PARIS, ÇA VA? Oui.",
    "minimum running ace",  # no ascenders: i-dots form their own thin band
)
PITCH = 42


@pytest.fixture(scope="module")
def page():
    if not FONT.exists():
        pytest.skip("DejaVu Sans is not installed")
    font = ImageFont.truetype(str(FONT), 24)
    image = Image.new("L", (640, PITCH * len(LINES) + 40), 250)
    draw = ImageDraw.Draw(image)
    for i, text in enumerate(LINES):
        draw.text((24, 20 + PITCH * i), text, font=font, fill=15)
    return np.asarray(image)


def _rotate(gray, degrees):
    rows, cols = gray.shape
    matrix = cv2.getRotationMatrix2D((cols / 2, rows / 2), degrees, 1.0)
    return cv2.warpAffine(gray, matrix, (cols, rows), borderValue=250)


def _assert_five_lines_in_order(gray, boxes):
    assert len(boxes) == len(LINES)
    centers = [(b.top + b.bottom) / 2 for b in boxes]
    assert centers == sorted(centers)
    for i, box in enumerate(boxes):
        assert abs(centers[i] - (20 + PITCH * i + 14)) < PITCH / 2
        assert 0 <= box.top < box.bottom <= gray.shape[0] and 0 <= box.left < box.right <= gray.shape[1]


def test_find_lines_paragraph(page):
    boxes = find_lines(page)
    _assert_five_lines_in_order(page, boxes)
    assert all(b.slope == 0.0 for b in boxes)
    # Each box holds its whole line: no dark pixel of the line lies outside it.
    for i, box in enumerate(boxes):
        band = page[20 + PITCH * i - 4 : 20 + PITCH * i + 34]
        rows, cols = np.nonzero(band < 128)
        rows = rows + 20 + PITCH * i - 4
        assert rows.min() >= box.top and rows.max() < box.bottom
        assert cols.min() >= box.left and cols.max() < box.right


@pytest.mark.parametrize("degrees", [-2.0, -1.0, 1.0, 2.0])
def test_find_lines_skewed(page, degrees):
    skewed = _rotate(page, degrees)
    boxes = find_lines(skewed)
    _assert_five_lines_in_order(skewed, boxes)
    assert all(abs(abs(np.degrees(np.arctan(b.slope))) - abs(degrees)) < 0.5 for b in boxes)
    strips = crop_lines(skewed, boxes)
    assert [s.shape[1] for s in strips] == [b.width for b in boxes]
    assert all(s.shape[0] == b.thickness for s, b in zip(strips, boxes))
    assert all(s.shape[0] < PITCH * 1.2 for s in strips)  # straightened: about one line high


def test_find_lines_noisy(page):
    rng = np.random.default_rng(0)
    noisy = page.astype(np.float32) + rng.normal(0, 20, page.shape)
    specks = rng.random(page.shape) < 0.002
    noisy[specks] = 0
    noisy = np.clip(noisy, 0, 255).astype(np.uint8)
    _assert_five_lines_in_order(noisy, find_lines(noisy))


def test_find_lines_light_on_dark(page):
    inverted = 255 - page
    _assert_five_lines_in_order(inverted, find_lines(inverted))


def test_single_line_and_looks_like_page(page):
    line = page[12 : 12 + PITCH, :]
    boxes = find_lines(line)
    assert len(boxes) == 1
    assert looks_like_page(line) is False
    assert looks_like_page(page) is True


def test_blank_page():
    assert find_lines(np.full((100, 200), 240, np.uint8)) == []
    assert looks_like_page(np.full((100, 200), 240, np.uint8)) is False


def test_crop_lines_plain(page):
    boxes = find_lines(page)
    strips = crop_lines(page, boxes)
    assert len(strips) == len(boxes)
    for strip, box in zip(strips, boxes):
        assert strip.dtype == np.uint8 and strip.shape == (box.height, box.width)
        np.testing.assert_array_equal(strip, page[box.top : box.bottom, box.left : box.right])


def test_line_box_is_frozen():
    box = LineBox(1, 5, 2, 10)
    assert (box.height, box.width, box.thickness) == (4, 8, 4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        box.top = 0
