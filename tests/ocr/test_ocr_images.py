"""Tests of ocr.images: loading every format and mode, refusing bad inputs clearly, preprocessing line strips."""


import cv2
import numpy as np
import pytest
from PIL import Image

from common.errors import ConfigError, InputError
from ocr import images
from ocr.images import load_image, preprocess_line, stretch_strip, strip_width


def _line(height=40, width=300, *, ink=20, paper=235):
    """A gray text line: dark text on light paper."""
    gray = np.full((height, width), paper, np.uint8)
    cv2.putText(gray, "Hello 123", (10, int(height * 0.75)), cv2.FONT_HERSHEY_SIMPLEX, height / 40, ink, 2)
    return gray


def _assert_text_like(gray, shape):
    """Loaded line: right shape, uint8, dark text on light paper."""
    assert gray.dtype == np.uint8 and gray.shape == shape
    assert gray.flags["C_CONTIGUOUS"]
    assert np.median(gray) > 200 and gray.min() < 80


def _one_line_error(excinfo, source=None):
    message = str(excinfo.value)
    assert "\n" not in message
    if source is not None:
        assert message.startswith(str(source))
    return message


# --- files -------------------------------------------------------------------------------------------------------

RGB_LINE = np.stack([_line()] * 3, axis=-1)


def _pil(mode):
    gray = Image.fromarray(_line())
    if mode == "L":
        return gray
    if mode == "1":
        return gray.point(lambda v: 255 if v > 128 else 0).convert("1")
    if mode == "I;16":
        return Image.fromarray(_line().astype(np.uint16) * 257)
    if mode == "P":
        return Image.fromarray(RGB_LINE).convert("P", palette=Image.Palette.ADAPTIVE)
    if mode == "CMYK":
        return Image.fromarray(RGB_LINE).convert("CMYK")
    if mode == "RGBA":
        rgba = Image.fromarray(RGB_LINE).convert("RGBA")
        rgba.putalpha(255)
        return rgba
    if mode == "LA":
        return gray.convert("LA")
    return Image.fromarray(RGB_LINE).convert(mode)


@pytest.mark.parametrize(
    "suffix, mode",
    [
        (".png", "L"), (".png", "RGB"), (".png", "RGBA"), (".png", "LA"), (".png", "P"), (".png", "1"),
        (".png", "I;16"), (".jpg", "L"), (".jpg", "RGB"), (".jpg", "CMYK"), (".tif", "L"), (".tif", "RGB"),
        (".tif", "CMYK"), (".tif", "I;16"), (".tif", "1"), (".bmp", "RGB"), (".bmp", "L"), (".webp", "RGB"),
        (".webp", "RGBA"), (".gif", "P"), (".gif", "L"),
    ],
)
def test_load_image_formats_and_modes(tmp_path, suffix, mode):
    path = tmp_path / f"line_{mode.replace(';', '')}{suffix}"
    _pil(mode).save(path)
    _assert_text_like(load_image(path), (40, 300))
    _assert_text_like(load_image(str(path)), (40, 300))


def test_load_image_transparency_composites_over_white(tmp_path):
    rgba = np.zeros((20, 30, 4), np.uint8)  # black but fully transparent ...
    rgba[5:15, 5:25, 3] = 255  # ... except an opaque black bar
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    gray = load_image(tmp_path / "a.png")
    assert gray[0, 0] == 255 and gray[10, 10] == 0
    assert load_image(rgba)[0, 0] == 255 and load_image(rgba)[10, 10] == 0
    palette = Image.new("P", (30, 20), 0)
    palette.putpalette([0, 0, 0] * 2)  # both entries black; entry 0 is transparent
    palette.paste(1, (5, 5, 25, 15))
    for suffix in (".png", ".gif"):
        palette.save(tmp_path / f"p{suffix}", transparency=0)
        gray = load_image(tmp_path / f"p{suffix}")
        assert gray[0, 0] == 255 and gray[10, 10] == 0


def test_load_image_16_bit_scales_to_8_bit(tmp_path):
    array = np.full((10, 20), 65535, np.uint16)
    array[:, :5] = 0
    Image.fromarray(array).save(tmp_path / "deep.png")
    gray = load_image(tmp_path / "deep.png")
    assert gray[0, 0] == 0 and gray[0, 10] == 255


def test_load_image_gif_first_frame(tmp_path):
    frames = [Image.fromarray(_line()), Image.fromarray(np.zeros((40, 300), np.uint8))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    _assert_text_like(load_image(tmp_path / "anim.gif"), (40, 300))


def test_load_image_applies_exif_orientation(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(_line()).save(tmp_path / "rotated.jpg", exif=exif)
    assert load_image(tmp_path / "rotated.jpg").shape == (300, 40)


def test_load_image_falls_back_to_opencv(tmp_path, monkeypatch):
    cv2.imwrite(str(tmp_path / "line.png"), _line())
    monkeypatch.setattr(images, "_read_with_pillow", lambda *args: (None, None))  # format unknown to Pillow
    _assert_text_like(load_image(tmp_path / "line.png"), (40, 300))


# --- arrays ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "array",
    [
        _line(),
        _line()[:, :, None],
        RGB_LINE,
        np.concatenate([RGB_LINE, np.full((40, 300, 1), 255, np.uint8)], axis=-1),
        _line().astype(np.uint16) * 257,
        _line() > 128,
        _line().astype(np.float32) / 255.0,
        _line().astype(np.float64) / 255.0,
    ],
    ids=["uint8", "hw1", "rgb", "rgba", "uint16", "bool", "float32", "float64"],
)
def test_load_image_arrays(array):
    _assert_text_like(load_image(array), (40, 300))


@pytest.mark.parametrize(
    "array, words",
    [
        (np.zeros((0, 0), np.uint8), "0 pixels"),
        (np.zeros((5, 0, 3), np.uint8), "0 pixels"),
        (np.zeros((4, 4), np.int64), "dtype"),
        (np.zeros((4, 4, 2), np.uint8), "shape"),
        (np.zeros((4,), np.uint8), "shape"),
        (np.full((4, 4), np.nan, np.float32), "NaN"),
        (np.full((4, 4), 200.0), "[0, 1]"),
    ],
)
def test_load_image_bad_arrays(array, words):
    with pytest.raises(InputError) as excinfo:
        load_image(array)
    assert words in _one_line_error(excinfo)


def test_load_image_rejects_other_sources():
    with pytest.raises(InputError):
        load_image(42)
    with pytest.raises(ConfigError):
        load_image(_line(), max_pixels=0)


# --- bad files ---------------------------------------------------------------------------------------------------


def test_load_image_missing_file(tmp_path):
    with pytest.raises(InputError) as excinfo:
        load_image(tmp_path / "nope.png")
    assert "No such file" in _one_line_error(excinfo, tmp_path / "nope.png")


def test_load_image_folder(tmp_path):
    with pytest.raises(InputError) as excinfo:
        load_image(tmp_path)
    assert "folder" in _one_line_error(excinfo, tmp_path)


def test_load_image_empty_file(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(InputError) as excinfo:
        load_image(path)
    assert "empty" in _one_line_error(excinfo, path)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_load_image_truncated_file(tmp_path, suffix):
    path = tmp_path / f"cut{suffix}"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200), dtype=np.uint8)).save(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError) as excinfo:
        load_image(path)
    assert "truncated or corrupt" in _one_line_error(excinfo, path)


def test_load_image_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    with pytest.raises(InputError) as excinfo:
        load_image(path)
    assert "not an image" in _one_line_error(excinfo, path)


def test_load_image_absurd_aspect(tmp_path):
    path = tmp_path / "sliver.png"
    Image.new("L", (100_000, 1), 255).save(path)
    with pytest.raises(InputError) as excinfo:
        load_image(path)
    assert "not a text line" in _one_line_error(excinfo, path)


def test_load_image_decompression_bomb(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (200, 100), 255).save(path)
    with pytest.raises(InputError) as excinfo:
        load_image(path, max_pixels=10_000)
    assert "max_pixels" in _one_line_error(excinfo, path)
    assert load_image(path, max_pixels=20_000).shape == (100, 200)


def test_load_image_pillow_bomb_limit_can_be_raised(tmp_path, monkeypatch):
    path = tmp_path / "big.png"
    Image.new("L", (300, 100), 255).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000)  # Pillow's guard alone would refuse this file
    assert load_image(path, max_pixels=100_000).shape == (100, 300)
    assert Image.MAX_IMAGE_PIXELS == 1_000


# --- preprocess_line ---------------------------------------------------------------------------------------------


def test_preprocess_line_shape_and_range():
    strip = preprocess_line(_line(), height=32)
    assert strip.dtype == np.float32 and strip.ndim == 2 and strip.shape[1] == 32
    assert 0.0 <= strip.min() and strip.max() <= 1.0
    assert strip.max() > 0.9  # ink is 1
    assert np.median(strip) < 0.1  # background is 0
    assert np.all(strip[:, 0] < 0.1) and np.all(strip[:, -1] < 0.1)  # margin above and below the ink


def test_preprocess_line_is_transposed():
    gray = np.full((40, 400), 255, np.uint8)
    gray[10:30, 50:60] = 0  # a short bar at the left of the line
    strip = preprocess_line(gray, height=16)
    assert strip.shape[1] == 16
    assert strip[: strip.shape[0] // 2].sum() > 0  # time axis runs along the width


def test_preprocess_line_light_on_dark_is_inverted():
    dark_on_light = preprocess_line(_line())
    light_on_dark = preprocess_line(255 - _line())
    assert light_on_dark.shape == dark_on_light.shape
    assert np.abs(light_on_dark - dark_on_light).mean() < 0.02


def test_preprocess_line_crops_to_ink():
    tight = _line(40, 300)
    padded = np.full((200, 900), 235, np.uint8)
    padded[80:120, 300:600] = tight
    assert abs(preprocess_line(padded).shape[0] - preprocess_line(tight).shape[0]) <= 3


def test_preprocess_line_return_box():
    gray = np.full((60, 400), 255, np.uint8)
    gray[20:36, 100:300] = 0  # ink rows 20..35, columns 100..299; margin = 16 / 8 = 2
    strip, box = preprocess_line(gray, height=32, return_box=True)
    assert box == (98, 18, 302, 38)
    assert strip.shape == (strip_width((box[3] - box[1], box[2] - box[0]), height=32), 32)
    np.testing.assert_array_equal(strip, preprocess_line(gray, height=32))
    edge = np.full((20, 50), 255, np.uint8)
    edge[:, :10] = 0  # ink touches the image edges: the box runs past them
    assert preprocess_line(edge, return_box=True)[1][:2] == (-2, -2)  # margin round(20 / 8) = 2
    blank, whole = preprocess_line(np.full((20, 50), 255, np.uint8), return_box=True)
    assert whole == (0, 0, 50, 20) and not blank.any()


def test_preprocess_line_keeps_end_punctuation_and_ignores_specks_off_the_text_rows():
    """A period after the last letter (a few ink pixels per column, under a tenth of a stem's) stays inside the
    box; the stage-6 model lost line-final periods to the old 10%-of-peak column bar. A speck above the text rows
    does not widen the box."""
    gray = np.full((40, 300), 255, np.uint8)
    gray[8:30, 20:200] = 0  # letters: ink rows 8..29, 22 pixels per column
    gray[28:30, 210:212] = 0  # a period: 2 pixels per column, 2 columns
    gray[1:3, 280:282] = 0  # a speck in the top margin, off the text rows
    box = preprocess_line(gray, return_box=True)[1]
    assert box[0] == 20 - 3 and box[2] == 212 + 3  # the period's last column, plus a margin of round(22 / 8)
    assert box[2] < 280


def test_preprocess_line_contrast_normalization():
    faint = preprocess_line(_line(ink=150, paper=190))
    assert faint.max() > 0.9 and (faint < 0.1).mean() > 0.4


@pytest.mark.parametrize("height", [16, 32, 48, 64])
def test_preprocess_line_heights(height):
    strip = preprocess_line(_line(), height=height)
    assert strip.shape[1] == height and strip.shape[0] >= 8


def test_preprocess_line_blank_gives_tiny_strip():
    strip = preprocess_line(np.full((40, 300), 250, np.uint8), height=32)
    assert strip.shape == (8, 32) and not strip.any()


def test_preprocess_line_tiny_and_other_inputs(tmp_path):
    assert preprocess_line(np.array([[0, 255], [255, 255]], np.uint8)).shape[1] == 32
    cv2.imwrite(str(tmp_path / "l.png"), _line())
    assert preprocess_line(tmp_path / "l.png").shape == preprocess_line(_line()).shape
    assert preprocess_line(RGB_LINE).shape == preprocess_line(_line()).shape
    with pytest.raises(ConfigError):
        preprocess_line(_line(), height=0)


def test_strip_width():
    assert strip_width((40, 400), height=32) == 320
    assert strip_width((40, 4), height=32) == 8


def test_stretch_strip_widens_along_time_only():
    strip = np.zeros((40, 32), np.float32)
    strip[10:20, 8:24] = 1.0  # a block of ink 10 columns wide
    wider = stretch_strip(strip, 1.5)
    assert wider.shape == (60, 32) and wider.dtype == np.float32 and wider.flags.c_contiguous
    columns = np.flatnonzero(wider.max(axis=1) > 0.5)
    assert 14 <= columns.size <= 16 and 14 <= columns[0] <= 16  # the ink, 1.5 times as wide, 1.5 times as far in
    assert np.array_equal(wider.max(axis=0) > 0.5, strip.max(axis=0) > 0.5)  # rows untouched
    assert stretch_strip(np.ones((1, 32), np.float32), 1.5).shape == (2, 32)
