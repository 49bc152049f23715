"""``POST /ocr/read`` (ocr/serve.py): the served text is the Reader's, every format is the CLI's, every refusal
names its problem, and concurrent requests share a batch."""

import io
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from common.serving.app import create_app  # noqa: E402
from common.serving.options import ServeSettings  # noqa: E402
from ocr.document_formats import render_document  # noqa: E402
from ocr.reader import Reader  # noqa: E402
from ocr.serve import OcrService  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "ocr" / "samples"
LINE, PARAGRAPH = SAMPLES / "line.png", SAMPLES / "paragraph.png"


def serve(**settings):
    settings = ServeSettings(tasks=("ocr",), **settings)
    return TestClient(create_app(settings, services=[OcrService(settings)]))



@pytest.fixture(scope="module")
def client(wait_ready):
    with serve(max_pixels=4_000_000, max_pages=2) as client:
        wait_ready(client)
        yield client


@pytest.fixture(scope="module")
def reader():
    return Reader.load()


def post(client, path, query="", name=None, data=None):
    data = path.read_bytes() if data is None else data
    return client.post(f"/ocr/read{query}", files={"file": (name or path.name, data, "application/octet-stream")})


@pytest.mark.parametrize("sample", [LINE, PARAGRAPH])
def test_served_text_and_json_are_the_readers(client, reader, sample):
    expected = reader.read([sample])[0]
    text = post(client, sample)
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    assert text.text == expected.text + "\n"
    answer = post(client, sample, "?format=json").json()
    expected_dict = dict(expected.to_dict(), path=sample.name)
    if "page" in expected_dict:  # the document tree names the upload, not a path on the server
        expected_dict["page"] = dict(expected_dict["page"], source=sample.name)
    assert answer == expected_dict
    assert answer["lines"][0]["words"][0]["box"] == list(expected.lines[0].words[0].box)


def test_uploads_prepared_in_threads_read_the_same(reader, wait_ready):
    """``--processes 0``: uploads are decoded and laid out in the server's threads instead of its preparation
    processes (the default), with the same answers, refusals included."""
    with serve(processes=0) as client:
        wait_ready(client)
        answer = post(client, PARAGRAPH, "?format=json").json()
        assert answer["text"] == reader.read([PARAGRAPH])[0].text
        refused = post(client, PARAGRAPH, data=b"not an image")
        assert refused.status_code == 415 and refused.json()["error"].startswith("not an image or PDF")

def test_options_reach_the_reader(client, reader):
    expected = reader.read([PARAGRAPH], layout="line", beam_width=4)[0].text
    assert post(client, PARAGRAPH, "?layout=line&beam=4").text == expected + "\n"
    assert post(client, LINE, "?hotwords=quick:3").status_code == 200


@pytest.mark.parametrize("fmt", ["hocr", "alto", "page", "tsv"])
def test_document_formats_are_the_clis(client, reader, fmt):
    answer = post(client, PARAGRAPH, f"?format={fmt}")
    assert answer.status_code == 200, answer.text
    results = reader.read_document(str(PARAGRAPH), layout="auto")
    [(_, expected)] = render_document(results, fmt)
    created = re.compile(r"<(Created|LastChange)>[^<]*</\1>")  # PAGE-XML's time stamps (the clock may tick between)
    assert created.sub("", answer.text) == created.sub("", expected.replace(str(PARAGRAPH), PARAGRAPH.name))
    assert answer.headers["content-disposition"].startswith('inline; filename="paragraph.')


def test_pdfs_in_and_out(client):
    searchable = post(client, PARAGRAPH, "?format=pdf")
    assert searchable.status_code == 200 and searchable.headers["content-type"] == "application/pdf"
    assert searchable.content.startswith(b"%PDF")
    answer = post(client, PARAGRAPH, "?format=json", name="scan.pdf", data=searchable.content)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["path"] == "scan.pdf" and len(body["pages"]) == 1 and body["errors"] == []
    assert "Invoice" in body["text"]


def three_page_pdf():
    buffer = io.BytesIO()
    pages = [Image.open(LINE).convert("RGB") for _ in range(3)]
    pages[0].save(buffer, format="PDF", save_all=True, append_images=pages[1:])
    return buffer.getvalue()


def test_refusals_name_the_problem(client):
    garbage = post(client, LINE, name="notes.txt", data=b"just some text, not an image")
    assert garbage.status_code == 415
    assert garbage.json()["error"].startswith("not an image or PDF this server reads: notes.txt: ")
    big = np.full((2100, 2000), 255, np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, format="PNG")
    too_many = post(client, LINE, name="big.png", data=buffer.getvalue())
    assert too_many.status_code == 422
    assert too_many.json()["error"] == ("big.png: the image has 4,200,000 pixels (2000 x 2100), more than this "
                                        "server's limit of 4,000,000 (serve --max-pixels)")
    pages = post(client, LINE, name="three.pdf", data=three_page_pdf())
    assert pages.status_code == 422 and "3 pages to read, more than this server's limit of 2" in pages.json()["error"]
    assert post(client, LINE, "?pages=1-2", name="three.pdf", data=three_page_pdf()).status_code == 200
    bad_range = post(client, LINE, "?pages=3-1")
    assert bad_range.status_code == 422 and "page range" in bad_range.json()["error"]
    no_lm = post(client, LINE, "?lm=default")
    assert no_lm.status_code == 422 and "ships no default language model" in no_lm.json()["error"]
    truncated = post(client, LINE, name="cut.png", data=LINE.read_bytes()[:200])
    assert truncated.status_code == 422 and truncated.json()["error"].startswith("cut.png: ")
    layout = post(client, LINE, "?layout=diagonal")
    assert layout.status_code == 422 and "option 'layout' must be one of line, page, auto" in layout.json()["error"]
    assert client.get("/readyz").status_code == 200


def test_concurrent_requests_share_one_forward_pass(reader, wait_ready):
    images = [LINE, PARAGRAPH] * 4
    expected = {path: reader.read([path])[0].text + "\n" for path in set(images)}
    with serve(window_ms=300) as client:
        wait_ready(client)
        answers = [None] * len(images)

        def send(index):
            answers[index] = post(client, images[index]).text

        threads = [threading.Thread(target=send, args=(i,)) for i in range(len(images))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sizes = client.get("/stats").json()["ocr"]["batches"]["sizes"]
    assert answers == [expected[path] for path in images]
    assert sum(int(size) * count for size, count in sizes.items()) == len(images)  # the warm-up read is not counted
    assert max(int(size) for size in sizes) >= 4, sizes
