"""Tests of ocr.data: folders of .gt.txt pairs and TSV / CSV / JSONL manifests, and their error messages."""

import json
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.errors import DataError
from ocr.data import LineExample, load_line_dataset


def _image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 20), 255, np.uint8)).save(path)
    return path


def _pair(folder, name, text, suffix=".png"):
    image = _image(folder / f"{name}{suffix}")
    (folder / f"{name}.gt.txt").write_text(text, encoding="utf-8")
    return image


def test_folder_pairs(tmp_path):
    _pair(tmp_path, "b", "second\n")
    _pair(tmp_path, "a", "first")
    _pair(tmp_path / "sub", "c", "e\u0301t\u00e9\r\n", suffix=".JPG")
    _pair(tmp_path / "sub", "d", "tiff", suffix=".tif")
    examples = load_line_dataset(tmp_path)
    assert [e.image.relative_to(tmp_path).as_posix() for e in examples] == ["a.png", "b.png", "sub/c.JPG", "sub/d.tif"]
    assert [e.text for e in examples] == ["first", "second", unicodedata.normalize("NFC", "\u00e9t\u00e9"), "tiff"]
    assert isinstance(examples[0], LineExample) and isinstance(examples[0].image, Path)
    assert load_line_dataset(str(tmp_path)) == examples


def test_folder_ocropus_names(tmp_path):
    _image(tmp_path / "010001.bin.png")
    _image(tmp_path / "010001.nrm.png")
    (tmp_path / "010001.gt.txt").write_text("old style", encoding="utf-8")
    examples = load_line_dataset(tmp_path)
    assert [(e.image.name, e.text) for e in examples] == [("010001.bin.png", "old style")]


def test_folder_images_without_gt_warn(tmp_path):
    _pair(tmp_path, "a", "text")
    _image(tmp_path / "lonely.png")
    with pytest.warns(UserWarning, match="1 images have no .gt.txt"):
        assert len(load_line_dataset(tmp_path)) == 1


def test_folder_only_images_is_an_error(tmp_path):
    for i in range(7):
        _image(tmp_path / f"img{i}.png")
    with pytest.raises(DataError) as excinfo:
        load_line_dataset(tmp_path)
    message = str(excinfo.value)
    assert "7 images" in message and "img0.png" in message and "and 2 more" in message and ".gt.txt" in message


def test_empty_folder_and_missing_path(tmp_path):
    with pytest.raises(DataError, match=r"NAME\.png \+ NAME\.gt\.txt"):
        load_line_dataset(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        load_line_dataset(tmp_path / "missing")


def test_tsv_manifest(tmp_path):
    _image(tmp_path / "img" / "a.png")
    _image(tmp_path / "img" / "b.png")
    absolute = _image(tmp_path / "elsewhere" / "c.png")
    manifest = tmp_path / "train.tsv"
    manifest.write_text(f"image\ttext\nimg/a.png\tHello, world\n\nimg/b.png\ttab\there\n{absolute}\tcaf\u0065\u0301\n")
    examples = load_line_dataset(manifest)
    assert examples == [
        LineExample(tmp_path / "img" / "a.png", "Hello, world"),
        LineExample(tmp_path / "img" / "b.png", "tab\there"),
        LineExample(absolute, "caf\u00e9"),
    ]
    (tmp_path / "plain.tsv").write_text("img/a.png\tno header\n")
    assert load_line_dataset(tmp_path / "plain.tsv")[0].text == "no header"


def test_csv_manifest(tmp_path):
    _image(tmp_path / "a.png")
    _image(tmp_path / "b.png")
    (tmp_path / "train.csv").write_text('file,transcript,speaker\na.png,"Hi, ""you""",x\nb.png,plain,y\n')
    assert [e.text for e in load_line_dataset(tmp_path / "train.csv")] == ['Hi, "you"', "plain"]
    (tmp_path / "bad.csv").write_text("name,words\na.png,hi\n")
    with pytest.raises(DataError, match="header"):
        load_line_dataset(tmp_path / "bad.csv")


def test_jsonl_manifest(tmp_path):
    _image(tmp_path / "a.png")
    _image(tmp_path / "b.png")
    rows = [{"image": "a.png", "text": "one"}, {"path": "b.png", "text": "two\n"}]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert [e.text for e in load_line_dataset(tmp_path / "train.jsonl")] == ["one", "two"]
    (tmp_path / "bad.jsonl").write_text('{"image": "a.png", "text": "ok"}\n{"image": "a.png"\n')
    with pytest.raises(DataError, match=r"not JSON .*\(line 2\)"):
        load_line_dataset(tmp_path / "bad.jsonl")


def test_manifest_missing_files_are_all_listed(tmp_path):
    _image(tmp_path / "ok.png")
    lines = ["ok.png\tfine"] + [f"gone{i}.png\tlost" for i in range(7)]
    (tmp_path / "train.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as excinfo:
        load_line_dataset(tmp_path / "train.tsv")
    message = str(excinfo.value)
    assert "7 row(s) naming missing image files" in message and "line 2: gone0.png" in message
    assert "line 8: gone6.png" in message and "\n" not in message


def test_every_bad_row_is_reported_at_once(tmp_path):
    """One policy for both tasks (common.manifest): all bad rows, with their line numbers, in one error."""
    _image(tmp_path / "a.png")
    rows = ["a.png\tfine", "no tab", "gone.png\tx", "", "also no tab", "a.png\tok", "lost.png\ty"]
    (tmp_path / "train.tsv").write_text("\n".join(rows) + "\n")
    with pytest.raises(DataError) as excinfo:
        load_line_dataset(tmp_path / "train.tsv")
    message = str(excinfo.value)
    assert message.startswith(str(tmp_path / "train.tsv")) and "Received: bad_rows=5" in message
    assert "expected SOURCE<TAB>TEXT (lines 2, 5)" in message
    assert "the same image as line 1 with a different text (one image has one transcript) (line 6)" in message
    assert "line 3: gone.png" in message and "line 7: lost.png" in message


def test_manifest_malformed_rows(tmp_path):
    _image(tmp_path / "a.png")
    (tmp_path / "train.tsv").write_text("a.png\tfine\nno tab here\n")
    with pytest.raises(DataError, match=r"1 malformed row\(s\): expected SOURCE<TAB>TEXT \(line 2\)"):
        load_line_dataset(tmp_path / "train.tsv")
    (tmp_path / "short.csv").write_text("image,text,extra\na.png\n")
    with pytest.raises(DataError, match=r"expected 3 fields as in the header, found 1 \(line 2\)"):
        load_line_dataset(tmp_path / "short.csv")
    (tmp_path / "empty.tsv").write_text("image\ttext\n")
    with pytest.raises(DataError, match="no lines"):
        load_line_dataset(tmp_path / "empty.tsv")
    (tmp_path / "list.txt").write_text("a.png hi\n")
    with pytest.raises(DataError, match="manifest"):
        load_line_dataset(tmp_path / "list.txt")
