"""Tests of ocr.synth: font discovery, rendering clean and degraded lines, writing a data set that reads back."""

from pathlib import Path

import numpy as np
import pytest

from common.corpus import KINDS, TextPool
from common.errors import ConfigError, DataError
from ocr.data import load_line_dataset
from ocr.synth import find_fonts, render_line, synthesize_dataset

DEJAVU_DIR = Path("/usr/share/fonts/truetype/dejavu")
DEJAVU = DEJAVU_DIR / "DejaVuSans.ttf"
pytestmark = pytest.mark.skipif(not DEJAVU.exists(), reason="DejaVu Sans is not installed")


def test_find_fonts():
    fonts = find_fonts(dirs=[DEJAVU_DIR])
    assert DEJAVU in fonts
    assert fonts == sorted(fonts) and all(isinstance(f, Path) for f in fonts)
    assert not any("Math" in f.name for f in fonts)  # math fonts are skipped
    assert find_fonts(dirs=[DEJAVU_DIR]) == fonts
    assert find_fonts(charset="\u4e00\u4e01", dirs=[DEJAVU_DIR]) == []  # no CJK glyphs in DejaVu
    assert find_fonts(charset="abc\u20ac", dirs=[DEJAVU_DIR])


@pytest.mark.parametrize("kind", KINDS)
def test_render_line_of_each_kind(kind):
    rng = np.random.default_rng(KINDS.index(kind))
    text = TextPool(seed=0).line(rng, kind=kind, max_chars=40)
    for degrade in (False, True):
        image = render_line(text, DEJAVU, size=28, rng=rng, degrade=degrade)
        assert image.dtype == np.uint8 and image.ndim == 2
        assert image.shape[0] >= 28 and image.shape[1] > 10
        assert int(image.max()) - int(image.min()) > 60  # there is visible text


def test_clean_line_is_clean():
    rng = np.random.default_rng(1)
    image = render_line("Clean text 123", DEJAVU, size=32, rng=rng, degrade=False)
    paper = np.bincount(image.ravel()).argmax()
    assert paper >= 228 and image[0].min() == image[0].max() == paper  # uniform paper, no noise
    assert image.min() < 60  # dark ink


def test_render_line_is_deterministic():
    first = render_line("Same text", DEJAVU, rng=np.random.default_rng(5))
    second = render_line("Same text", DEJAVU, rng=np.random.default_rng(5))
    np.testing.assert_array_equal(first, second)
    assert render_line("", DEJAVU, rng=np.random.default_rng(0), degrade=False).ndim == 2
    with pytest.raises(ConfigError):
        render_line("x", DEJAVU, size=0, rng=np.random.default_rng(0))


def test_synthesize_dataset_reads_back(tmp_path):
    out = synthesize_dataset(tmp_path / "synth", 5, fonts=[DEJAVU], seed=3, max_chars=30)
    assert out == tmp_path / "synth"
    examples = load_line_dataset(out)
    assert [e.image.name for e in examples] == [f"00000{i}.png" for i in range(5)]
    for example in examples:
        gt = example.image.with_name(example.image.stem + ".gt.txt").read_text(encoding="utf-8")
        assert example.text == gt and gt and not gt.endswith("\n") and len(gt) <= 30
    rows = (out / "fonts.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "file\tfont\tdegraded" and len(rows) == 6
    assert all(r.split("\t")[1] == "DejaVuSans.ttf" and r.split("\t")[2] in ("yes", "no") for r in rows[1:])
    again = synthesize_dataset(tmp_path / "again", 5, fonts=[DEJAVU], seed=3, max_chars=30)
    assert [e.text for e in load_line_dataset(again)] == [e.text for e in examples]
    with pytest.raises(DataError, match="already holds"):
        synthesize_dataset(out, 2, fonts=[DEJAVU])


def test_synthesize_dataset_charset(tmp_path):
    out = synthesize_dataset(tmp_path / "digits", 4, fonts=[DEJAVU], charset="0123456789-.", degrade_fraction=0.0)
    texts = [e.text for e in load_line_dataset(out)]
    assert all(t and set(t) <= set("0123456789-.") for t in texts)
    assert all(r.endswith("\tno") for r in (out / "fonts.tsv").read_text().splitlines()[1:])
