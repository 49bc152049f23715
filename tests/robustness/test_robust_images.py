"""Every kind of bad image ends in a valid result or one clear InputError: ``load_image``, ``Reader.read``,
``ocr read``.

Hand-made cases cover the kinds named in issue #6 (truncated, mislabelled, 0 x 0, 1 x 100,000, 16-bit, CMYK,
animated, huge EXIF, decompression bombs, ...); hypothesis mutates valid files byte by byte and draws arrays.
"""

import io
import struct
import zlib

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from common.errors import ConfigError, InputError
from ocr.cli import main as ocr_main
from ocr.images import DEFAULT_MAX_PIXELS, load_image
from robustness_support import FUZZ, mutated_files, outcome


def _line(height=40, width=300):
    gray = np.full((height, width), 230, np.uint8)
    gray[height // 4: 3 * height // 4, width // 10: 9 * width // 10: 3] = 20
    return gray


def _encode(image, fmt, **kwargs):
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


def _chunk(tag, data):
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)


def _png(width, height, idat=b"", *, depth=8, color=0):
    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _png_bomb(side):
    """A valid PNG of ``side x side`` black pixels: ~``side**2 / 1000`` bytes on disk."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (side + 1)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return _png(side, side, data)


def _gif(width, height):
    """A GIF whose logical screen and only frame are ``width x height`` (one LZW-coded pixel of data)."""
    screen = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0) + b"\x02\x02\x44\x01\x00"
    return screen + frame + b"\x3b"


def _bmp(width, height):
    pixels = b""
    header = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 14 + 40, 0, 0, 14 + 40) + header + pixels


def _exif(orientation=None, description=None):
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if description is not None:
        exif[0x010E] = description
    return exif.tobytes()


def _animated(fmt):
    frames = [Image.fromarray(_line()), Image.fromarray(255 - _line())]
    return _encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)


def _float_tiff(value):
    return _encode(Image.fromarray(np.full((40, 300), value, np.float32)), "TIFF")


LINE = Image.fromarray(_line())
PNG = _encode(LINE, "PNG")
JPEG = _encode(LINE, "JPEG")

# name -> (file name, bytes or a callable giving them, expectation, words the error must contain)
# expectation: "ok" (a valid grayscale image), "error" (one clear InputError), "either".
CASES = {
    "truncated_png_half": ("t1.png", lambda: PNG[: len(PNG) // 2], "error", "truncated or corrupt"),
    "truncated_png_header": ("t2.png", lambda: PNG[:20], "error", "truncated or corrupt"),
    "truncated_png_signature": ("t3.png", lambda: PNG[:5], "error", "not an image"),
    "truncated_jpeg": ("t4.jpg", lambda: JPEG[: len(JPEG) // 2], "error", "truncated or corrupt"),
    "truncated_gif": ("t5.gif", lambda: _animated("GIF")[:40], "error", "truncated or corrupt"),
    "truncated_tiff": ("t6.tif", lambda: _encode(LINE, "TIFF")[:100], "error", "corrupt"),
    "truncated_webp": ("t7.webp", lambda: _encode(LINE, "WEBP")[:60], "error", "corrupt"),
    "jpeg_named_png": ("m1.png", lambda: JPEG, "ok", ""),
    "png_named_jpg": ("m2.jpg", lambda: PNG, "ok", ""),
    "bmp_named_tif": ("m3.tif", lambda: _encode(LINE, "BMP"), "ok", ""),
    "text_named_png": ("m4.png", lambda: b"hello, I am a text file\n" * 20, "error", "not an image"),
    "text_starting_bm_named_png": ("m8.png", lambda: b"BMW annual report, not an image\n" * 10, "error",
                                   "not an image"),
    "wav_named_png": ("m5.png", lambda: b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(40), "error", "not an image"),
    "svg_named_png": ("m6.png", lambda: b"<svg xmlns='http://www.w3.org/2000/svg' width='9' height='9'/>",
                      "error", "not an image"),
    "eps_needs_ghostscript": ("m7.eps", lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 99 99\nshowpage\n",
                              "error", "not an image"),
    "empty_file": ("e1.png", lambda: b"", "error", "empty"),
    "png_0x0": ("z1.png", lambda: _png(0, 0), "error", "empty (0 pixels)"),
    "png_0x100": ("z2.png", lambda: _png(0, 100), "error", "empty (0 pixels)"),
    "gif_0x0": ("z3.gif", lambda: _gif(0, 0), "error", "0 pixels"),
    "bmp_0x0": ("z4.bmp", lambda: _bmp(0, 0), "error", ""),
    "wide_1x100000": ("w1.png", lambda: _encode(Image.new("L", (100_000, 1), 255), "PNG"), "error", "aspect ratio"),
    "tall_100000x1": ("w2.png", lambda: _encode(Image.new("L", (1, 100_000), 255), "PNG"), "error", "aspect ratio"),
    "one_pixel": ("w3.png", lambda: _encode(Image.new("L", (1, 1), 0), "PNG"), "ok", ""),
    "gray_16_bit_png": ("d1.png", lambda: _encode(Image.fromarray(_line().astype(np.uint16) * 257), "PNG"),
                        "ok", ""),
    "gray_16_bit_tiff": ("d2.tif", lambda: _encode(Image.fromarray(_line().astype(np.uint16) * 257), "TIFF"),
                         "ok", ""),
    "rgb_48_bit_png": ("d3.png", lambda: _png(2, 2, zlib.compress(bytes(2 * (1 + 2 * 6))), depth=16, color=2),
                       "ok", ""),
    "float_tiff": ("d4.tif", lambda: _float_tiff(0.5), "ok", ""),
    "float_tiff_nan": ("d5.tif", lambda: _float_tiff(np.nan), "error", "NaN"),
    "float_tiff_inf": ("d6.tif", lambda: _float_tiff(np.inf), "error", "NaN or infinite"),
    "cmyk_jpeg": ("c1.jpg", lambda: _encode(LINE.convert("CMYK"), "JPEG"), "ok", ""),
    "cmyk_tiff": ("c2.tif", lambda: _encode(LINE.convert("CMYK"), "TIFF"), "ok", ""),
    "palette_transparent_png": ("c3.png", lambda: _encode(LINE.convert("P"), "PNG", transparency=0), "ok", ""),
    "one_bit_png": ("c4.png", lambda: _encode(LINE.convert("1"), "PNG"), "ok", ""),
    "lab_tiff": ("c5.tif", lambda: _encode(LINE.convert("RGB").convert("LAB"), "TIFF"), "either", ""),
    "animated_gif": ("a1.gif", lambda: _animated("GIF"), "ok", ""),
    "animated_webp": ("a2.webp", lambda: _animated("WEBP"), "ok", ""),
    "animated_png": ("a3.png", lambda: _animated("PNG"), "ok", ""),
    "multipage_tiff": ("a4.tif", lambda: _animated("TIFF"), "ok", ""),
    "huge_exif_jpeg": ("x1.jpg", lambda: _encode(LINE, "JPEG", exif=_exif(6, "x" * 60_000)), "ok", ""),
    "huge_exif_png": ("x2.png", lambda: _encode(LINE, "PNG", exif=_exif(3, "y" * 200_000)), "ok", ""),
    "bad_exif_orientation": ("x3.jpg", lambda: _encode(LINE, "JPEG", exif=_exif(99)), "ok", ""),
    "garbage_exif": ("x4.jpg", lambda: _encode(LINE, "JPEG", exif=b"Exif\x00\x00" + bytes(range(256)) * 4),
                     "ok", ""),
    "bomb_png_declared_1e10": ("b1.png", lambda: _png(100_000, 100_000), "error", "decompression bombs"),
    "bomb_png_real_144M": ("b2.png", lambda: _png_bomb(12_000), "error", "decompression bombs"),
    "bomb_gif_declared": ("b3.gif", lambda: _gif(65_535, 65_535), "error", "decompression bombs"),
}


def _write(folder, name):
    filename, content, _, _ = CASES[name]
    path = folder / filename
    path.write_bytes(content())
    return path


@pytest.mark.parametrize("name", sorted(CASES))
def test_load_image_case(tmp_path, name):
    path = _write(tmp_path, name)
    kind, value = outcome(lambda: load_image(path), source=path)
    expected, words = CASES[name][2], CASES[name][3]
    if expected != "either":
        assert kind == expected, f"{name}: {value}"
    if kind == "ok":
        assert value.dtype == np.uint8 and value.ndim == 2 and value.size > 0
    else:
        assert words.lower() in value.lower(), value


def test_decompression_bomb_honours_max_pixels(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_bomb(10_000))  # 100 M pixels, 100 KB on disk
    with pytest.raises(InputError, match=r"100,000,000 pixels.*--max-pixels"):
        load_image(bomb)
    small = tmp_path / "small.png"
    small.write_bytes(_encode(Image.new("L", (100, 20), 255), "PNG"))
    with pytest.raises(InputError, match="2,000 pixels, more than the limit of 1,000 "):
        load_image(small, max_pixels=1_000)
    declared = tmp_path / "declared.png"
    declared.write_bytes(_png(30_000, 30_000))  # 900 M pixels: above twice Pillow's limit, so Pillow refuses first
    with pytest.raises(InputError, match=r"900,000,000 pixels, more than the limit of 89,478,485"):
        load_image(declared)
    with pytest.raises(InputError, match="truncated or corrupt"):  # a raised limit lets it through to decoding
        load_image(declared, max_pixels=10**9)
    with pytest.raises(ConfigError, match="max_pixels"):
        load_image(bomb, max_pixels=0)


def test_bomb_limit_is_restored_and_warning_silent(tmp_path):
    path = tmp_path / "big.png"
    path.write_bytes(_png_bomb(9_500))  # 90.25 M pixels: between 1x and 2x Pillow's limit, so Pillow would warn
    assert outcome(lambda: load_image(path, max_pixels=100_000_000))[0] == "ok"
    assert Image.MAX_IMAGE_PIXELS == DEFAULT_MAX_PIXELS


# --- the Reader and `ocr read` over a batch of all the cases -----------------------------------------------------


@pytest.fixture(scope="module")
def case_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("image_cases")
    return {name: _write(folder, name) for name in sorted(CASES)}


@pytest.mark.time_limit(60)
def test_reader_reads_the_rest_of_a_bad_batch(reader, case_files):
    names = sorted(case_files)
    results = reader.read([case_files[n] for n in names] + [_line()], layout="auto")
    assert len(results) == len(names) + 1
    for name, result in zip(names, results):
        expected = CASES[name][2]
        if expected == "ok":
            assert result.ok, f"{name}: {result.error}"
        elif expected == "error":
            assert not result.ok and str(case_files[name]) in result.error and "\n" not in result.error, name
        assert "unexpected" not in (result.error or ""), result.error
    assert results[-1].ok and results[-1].source == f"array #{len(names)}"


@pytest.mark.time_limit(60)
def test_ocr_read_cli_outputs_the_rest_and_exits_nonzero(tiny_models, case_files, capfd):
    names = sorted(case_files)
    status = ocr_main(["read", "--model", str(tiny_models["ocr"]), "--json", *(str(case_files[n]) for n in names)])
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "Warning" not in err
    good = [n for n in names if CASES[n][2] == "ok"]
    bad = [n for n in names if CASES[n][2] == "error"]
    assert status == min(len(bad), 100)  # the exit status counts the failed inputs
    printed = [line for line in out.splitlines() if line.startswith("{")]
    assert len(printed) >= len(good)
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    for name in bad:
        assert sum(str(case_files[name]) in line for line in errors) == 1, name
    assert f"of {len(names)} images failed" in err


def test_ocr_read_cli_max_pixels(tiny_models, tmp_path, capfd):
    path = tmp_path / "line.png"
    path.write_bytes(PNG)
    assert ocr_main(["read", "--model", str(tiny_models["ocr"]), "--max-pixels", "1000", str(path)]) == 1
    err = capfd.readouterr().err
    assert "12,000 pixels, more than the limit of 1,000" in err and "--max-pixels" in err
    assert ocr_main(["read", "--model", str(tiny_models["ocr"]), "--max-pixels", "20000", str(path)]) == 0
    with pytest.raises(SystemExit) as exit_info:  # argparse refuses it before anything loads
        ocr_main(["read", "--model", str(tiny_models["ocr"]), "--max-pixels", "0", str(path)])
    assert exit_info.value.code == 2 and "expected an integer >= 1" in capfd.readouterr().err


# --- hypothesis: mutated files and drawn arrays ------------------------------------------------------------------

SEEDS = {
    "png": PNG, "jpg": JPEG, "gif": _encode(LINE, "GIF"), "bmp": _encode(LINE, "BMP"),
    "tif": _encode(LINE, "TIFF"), "webp": _encode(LINE, "WEBP", lossless=True),
    "png16": _encode(Image.fromarray(_line().astype(np.uint16) * 257), "PNG"),
}




@FUZZ
@given(mutated_files(SEEDS, header_bytes=32, suffixes=lambda kind: [kind[:4].rstrip("1"), "png", "jpg", "bin"]))
def test_fuzzed_image_files(tmp_path_factory, case):
    data, suffix = case
    path = tmp_path_factory.mktemp("fuzz") / f"fuzzed.{suffix}"
    path.write_bytes(data)
    kind, value = outcome(lambda: load_image(path), source=path)
    if kind == "ok":
        assert value.dtype == np.uint8 and value.ndim == 2 and value.size > 0


_DTYPES = [np.uint8, np.uint16, np.int16, np.int64, np.float16, np.float32, np.float64, np.bool_, np.complex64]


@st.composite
def arrays(draw):
    shape = draw(st.sampled_from([(0,), (5,), (0, 5), (3, 0), (4, 6), (1, 2000), (4, 6, 1), (4, 6, 2), (4, 6, 3),
                                  (4, 6, 4), (4, 6, 5), (2, 3, 4, 5)]))
    dtype = draw(st.sampled_from(_DTYPES))
    fill = draw(st.sampled_from([0, 1, 0.5, 255, 65535, -1, np.nan, np.inf, 1e9]))
    with np.errstate(all="ignore"):
        array = np.full(shape, fill).astype(dtype)
    return array


@FUZZ
@given(arrays())
def test_drawn_arrays(array):
    kind, value = outcome(lambda: load_image(array))
    if kind == "ok":
        assert value.dtype == np.uint8 and value.shape == array.shape[:2]
