"""The OCR worker of ``ocr batch`` (ocr/batch.py): the records of ``ocr read --json``, documents refused per file."""

import pytest
from PIL import Image

from ocr.batch import reader_worker
from ocr.reader import Reader

LINE = "ocr/samples/line.png"


def test_the_worker_gives_reads_records_and_refuses_documents_per_file(tmp_path):
    image = Image.open(LINE).convert("RGB")
    pdf, tiff = tmp_path / "scan.pdf", tmp_path / "pages.tiff"
    image.save(pdf)
    image.save(tiff, save_all=True, append_images=[image])
    missing = str(tmp_path / "missing.png")
    process = reader_worker(layout="line")
    records = process([str(pdf), LINE, str(tiff), missing])
    assert [r["path"] for r in records] == [str(pdf), LINE, str(tiff), missing]
    expected = [r.to_dict() for r in Reader.load().read([LINE, missing], layout="line")]
    assert records[1] == expected[0] and records[3] == expected[1]
    for record, path in ((records[0], pdf), (records[2], tiff)):
        assert record["text"] == ""
        assert record["error"].startswith(f"{path}: this is a document (a PDF or a multi-page TIFF)")
        assert "ocr read FILE --output-dir DIR" in record["error"]


def test_the_worker_checks_its_settings_when_it_loads():
    from common.errors import ConfigError

    with pytest.raises(ConfigError, match=r"max_pixels"):
        reader_worker(max_pixels=0)
