"""Tests of ocr.synth: font discovery, rendering clean and degraded lines, writing a data set that reads back."""

from pathlib import Path

import numpy as np
import pytest

from common.corpus import KINDS, PRINTABLE_ASCII, TextPool
from common.errors import ConfigError, DataError, InputError
from ocr.data import load_line_dataset
from ocr.synth import (DEGRADATIONS, DPIS, RASTERISERS, can_render, choose_degradations, degrade_line, find_fonts,
                       rasteriser_problem, render_line, synthesize_dataset)

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
    rows = [r.split("\t") for r in (out / "manifest.tsv").read_text(encoding="utf-8").splitlines()]
    assert rows[0] == ["image", "text", "font", "rasteriser", "dpi", "size", "degradations"] and len(rows) == 6
    assert [r[1] for r in rows[1:]] == [e.text for e in examples]
    assert all(r[2] == "DejaVuSans.ttf" and r[3] == "pillow" and int(r[4]) in DPIS and 14 <= int(r[5]) <= 56
               for r in rows[1:])
    assert all(r[6] == "none" or set(r[6].split(",")) <= set(DEGRADATIONS) for r in rows[1:])
    assert [e.text for e in load_line_dataset(out / "manifest.tsv")] == [e.text for e in examples]
    again = synthesize_dataset(tmp_path / "again", 5, fonts=[DEJAVU], seed=3, max_chars=30)
    assert [e.text for e in load_line_dataset(again)] == [e.text for e in examples]
    with pytest.raises(DataError, match="already holds"):
        synthesize_dataset(out, 2, fonts=[DEJAVU])


def test_synthesize_dataset_charset(tmp_path):
    out = synthesize_dataset(tmp_path / "digits", 4, fonts=[DEJAVU], charset="0123456789-.", degrade_fraction=0.0)
    texts = [e.text for e in load_line_dataset(out)]
    assert all(t and set(t) <= set("0123456789-.") for t in texts)
    assert all(r.endswith("\tnone") for r in (out / "manifest.tsv").read_text().splitlines()[1:])



# --- rasterisers -----------------------------------------------------------------------------------------------

def _ink_columns(image):
    dark = image < (int(image.max()) + int(image.min())) / 2
    columns = np.flatnonzero(dark.any(axis=0))
    return int(columns[-1] - columns[0] + 1)


def _skip_unless(rasteriser):
    problem = rasteriser_problem(rasteriser)
    if problem:
        pytest.skip(f"rasteriser {rasteriser}: {problem}")


@pytest.mark.parametrize("rasteriser", RASTERISERS)
def test_each_rasteriser_draws_the_line(rasteriser):
    _skip_unless(rasteriser)
    text = "substr(x) 0af21dcd l1I O0"
    image = render_line(text, DEJAVU, size=30, rng=np.random.default_rng(0), degrade=False, rasteriser=rasteriser,
                        dpi=200)
    assert image.dtype == np.uint8 and image.ndim == 2 and image.shape[0] >= 30
    assert image.min() < 100 and np.median(image) > 200  # dark ink on light paper
    reference = render_line(text, DEJAVU, size=30, rng=np.random.default_rng(0), degrade=False)
    assert abs(_ink_columns(image) / _ink_columns(reference) - 1) < 0.15  # the same text at the same size
    again = render_line(text, DEJAVU, size=30, rng=np.random.default_rng(0), degrade=False, rasteriser=rasteriser,
                        dpi=200)
    np.testing.assert_array_equal(image, again)


def test_imagemagick_draws_the_text_literally():
    _skip_unless("imagemagick")
    # label: would read a file, expand %w and \n, take a final [23] for a frame number (drawing "a[i] = b"), and
    # draw nothing for [x]
    for text in ("@notes %w %s \\n 100%", "a[i] = b[23]", "[x]", "back\\]"):
        drawn = render_line(text, DEJAVU, size=28, rng=np.random.default_rng(1), degrade=False,
                            rasteriser="imagemagick")
        reference = render_line(text, DEJAVU, size=28, rng=np.random.default_rng(1), degrade=False)
        assert abs(_ink_columns(drawn) / _ink_columns(reference) - 1) < 0.15, text


def test_ghostscript_draws_the_postscript_twin():
    _skip_unless("ghostscript")
    from ocr.synth import _type1_twins

    otf = Path("/usr/share/fonts/opentype/urw-base35/C059-Roman.otf")
    if not otf.exists() or "C059-Roman" not in _type1_twins():
        pytest.skip("fonts-urw-base35 is not installed")
    image = render_line("Quoted \u201ctext\u201d", otf, size=32, rng=np.random.default_rng(2), degrade=False,
                        rasteriser="ghostscript", dpi=300)
    assert image.min() < 100 and image.shape[1] > 100


def test_pango_refuses_a_font_fontconfig_would_replace(tmp_path):
    _skip_unless("pango")
    assert can_render("pango", DEJAVU)
    stranger = tmp_path / "Stranger.ttf"
    stranger.write_bytes(DEJAVU.read_bytes())  # not known to fontconfig: Pango would draw another file
    assert not can_render("pango", stranger)
    with pytest.raises(InputError, match="pango cannot draw this font"):
        render_line("x", stranger, rng=np.random.default_rng(0), rasteriser="pango")


def test_unknown_rasteriser():
    with pytest.raises(ConfigError, match="rasteriser='potrace'"):
        render_line("x", DEJAVU, rng=np.random.default_rng(0), rasteriser="potrace")
    with pytest.raises(ConfigError, match="dpi"):
        render_line("x", DEJAVU, rng=np.random.default_rng(0), dpi=0)


def test_synthesize_dataset_records_rasteriser_and_folds_typography(tmp_path):
    rasterisers = tuple(r for r in RASTERISERS if rasteriser_problem(r) is None)
    out = synthesize_dataset(tmp_path / "set", 8, fonts=[DEJAVU], seed=1, charset=PRINTABLE_ASCII,
                             texts=["He said \u201chi\u201d \u2014 don\u2019t\u2026", "a\u2003\u2003b"],
                             rasterisers=rasterisers)
    rows = [r.split("\t") for r in (out / "manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    assert {r[1] for r in rows} == {"He said \"hi\" - don't...", "a b"}
    assert {r[3] for r in rows} <= set(rasterisers)
    with pytest.raises(ConfigError, match="rasteriser"):
        synthesize_dataset(tmp_path / "bad", 1, fonts=[DEJAVU], rasterisers=("potrace",))


def test_a_line_its_rasteriser_cannot_draw_is_drawn_by_pillow(tmp_path, monkeypatch):
    """One failure of an external program (ImageMagick refused a line of a 50,000-line render) costs that line its
    rasteriser, not the render: Pillow draws it, the manifest says so, and a warning names the first failure."""
    import ocr.synth as synth

    def refuse(text, *args):
        if "b" in text:
            raise DataError("ImageMagick failed: convert: no images defined `png:-'")
        return synth._EXTERNAL_REAL(text, *args)

    monkeypatch.setattr(synth, "rasteriser_problem", lambda name: None)
    monkeypatch.setattr(synth, "can_render", lambda name, font: True)
    monkeypatch.setattr(synth, "_EXTERNAL_REAL", lambda text, font, size, dpi, rng: (
        np.pad(np.ones((size, size * len(text)), np.float32), 4), (4, size + 4)), raising=False)
    monkeypatch.setitem(synth._EXTERNAL, "imagemagick", refuse)
    with pytest.warns(UserWarning, match=r"2 of 4 line\(s\) drawn by Pillow .* no images defined"):
        out = synthesize_dataset(tmp_path / "set", 4, fonts=[DEJAVU], seed=0, texts=["a a", "b b"],
                                 rasterisers=("imagemagick",))
    rows = [r.split("\t") for r in (out / "manifest.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    assert [(r[1], r[3]) for r in rows] == [("a a", "imagemagick"), ("b b", "pillow")] * 2
    assert len(list(out.glob("*.png"))) == 4

# --- degradations ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clean_line():
    return render_line("Hamburgefonstiv 0123 (x)", DEJAVU, size=32, rng=np.random.default_rng(3), degrade=False)


@pytest.mark.parametrize("op", DEGRADATIONS)
def test_each_degradation_changes_the_line(clean_line, op):
    out = degrade_line(clean_line, rng=np.random.default_rng(4), size=32, ops=[op])
    assert out.dtype == np.uint8 and out.ndim == 2
    assert out.shape[1] == clean_line.shape[1] and out.shape[0] >= clean_line.shape[0]
    if out.shape == clean_line.shape:
        assert np.mean(np.abs(out.astype(int) - clean_line)) > 0.3
    np.testing.assert_array_equal(out, degrade_line(clean_line, rng=np.random.default_rng(4), size=32, ops=[op]))


def _dark(image):
    return image < 128


def test_degradations_do_what_they_say(clean_line):
    rng = np.random.default_rng
    ink = _dark(clean_line).sum()
    assert _dark(degrade_line(clean_line, rng=rng(0), ops=["ink_spread"])).sum() > 1.1 * ink
    binary = degrade_line(clean_line, rng=rng(0), ops=["binarize"])
    assert set(np.unique(binary)) <= {0, 255}
    inverted = degrade_line(clean_line, rng=rng(0), ops=["invert"])
    np.testing.assert_array_equal(inverted, 255 - clean_line)
    # bleed-through darkens the paper between the strokes, faintly
    paper = ~_dark(clean_line) & (clean_line > 200)
    ghost = degrade_line(clean_line, rng=rng(0), ops=["bleed_through"]).astype(int)
    assert (ghost[paper] < clean_line[paper] - 3).mean() > 0.05 and ghost[paper].min() > 100
    # uneven light: one end of the line is darker than the other
    lit = degrade_line(clean_line, rng=rng(0), ops=["light"]).astype(float)
    quarter = lit.shape[1] // 4
    assert abs(np.median(lit[:, :quarter]) - np.median(lit[:, -quarter:])) > 15
    # curvature: the ink's vertical centre moves along the line, more than after no degradation
    def centre_spread(image):
        dark = _dark(image)
        columns = np.flatnonzero(dark.sum(axis=0) > 2)
        centres = [np.mean(np.flatnonzero(dark[:, c])) for c in columns]
        return np.ptp(np.convolve(centres, np.ones(15) / 15, mode="valid"))
    bent = max(centre_spread(degrade_line(clean_line, rng=rng(s), ops=["curve"])) for s in range(3))
    assert bent > centre_spread(clean_line) + 1.5
    # motion blur smears edges: less horizontal gradient energy
    smeared = degrade_line(clean_line, rng=rng(0), ops=["motion_blur"]).astype(float)
    assert np.abs(np.diff(smeared, axis=1)).mean() < 0.8 * np.abs(np.diff(clean_line.astype(float), axis=1)).mean()
    # a low resolution scan upsampled loses fine detail in the same way
    low = degrade_line(clean_line, rng=rng(0), ops=["resample"]).astype(float)
    assert np.abs(np.diff(low, axis=1)).mean() < np.abs(np.diff(clean_line.astype(float), axis=1)).mean()
    with pytest.raises(ConfigError, match="coffee_stain"):
        degrade_line(clean_line, rng=rng(0), ops=["coffee_stain"])


def test_choose_degradations():
    chosen = [choose_degradations(np.random.default_rng(seed)) for seed in range(300)]
    assert all(c and list(c) == sorted(c, key=DEGRADATIONS.index) for c in chosen)
    assert set().union(*chosen) == set(DEGRADATIONS)  # every one of them happens
    assert chosen[:5] == [choose_degradations(np.random.default_rng(seed)) for seed in range(5)]


def test_fonts_that_draw_other_glyphs_for_ascii_are_not_used():
    matplotlib = pytest.importorskip("matplotlib")
    folder = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf"
    if not (folder / "cmr10.ttf").exists():
        pytest.skip("Matplotlib ships no TeX fonts here")
    from ocr.synth import _font_info

    assert ord("{") not in _font_info(str(folder / "cmr10.ttf"))[0]  # OT1 encoding: an em dash
    assert ord("a") in _font_info(str(folder / "cmr10.ttf"))[0]
    for junk in ("LastResortHE-Regular.ttf", "cmex10.ttf", "cmsy10.ttf"):  # placeholders, math symbols
        if (folder / junk).exists():
            assert ord("A") not in _font_info(str(folder / junk))[0]
    names = {f.name for f in find_fonts()}
    assert "DejaVuSans.ttf" in names and not names & {"LastResortHE-Regular.ttf", "cmr10.ttf", "cmsy10.ttf"}
