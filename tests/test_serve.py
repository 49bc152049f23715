"""``ocr serve --with speech`` as a real process on 127.0.0.1: both tasks behind one server (found by name, not
imported by each other), clients that vanish mid-upload or send garbage do not take it down, and the web page works
in a real headless Chromium (Selenium): a rendered line and a synthesised clip go in, their text comes out.

Screenshots of the page go to ``test-artifacts/`` (or ``$TEST_ARTIFACTS``); the browser test skips, saying why,
where Debian's ``chromium`` and ``chromium-driver`` are not installed (``.ci/run`` installs them).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx", reason="the serve extra (httpx) is not installed")
pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")

ROOT = Path(__file__).resolve().parents[1]
LINE = ROOT / "ocr" / "samples" / "line.png"
HELLO = ROOT / "speech" / "samples" / "hello.wav"
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", ROOT / "test-artifacts"))


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "ocr", "serve", "--with", "speech", "--port", str(port)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            assert process.poll() is None, process.stdout.read()
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready in 180 s"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def test_services_are_found_by_name():
    from common.serving.registry import load_service_class

    assert load_service_class("ocr").name == "ocr"
    assert load_service_class("speech").name == "speech"
    for task, other in (("ocr", "speech"), ("speech", "ocr")):
        source = (ROOT / task / "serve.py").read_text(encoding="utf-8")
        assert f"import {other}" not in source and f"from {other}" not in source


def test_one_command_serves_both_tasks(server):
    services = httpx.get(f"{server}/api/services").json()["services"]
    assert [s["name"] for s in services] == ["ocr", "speech"]
    line = httpx.post(f"{server}/ocr/read", files={"file": ("line.png", LINE.read_bytes())}, timeout=60)
    assert line.status_code == 200 and "quick brown fox" in line.text
    clip = httpx.post(f"{server}/speech/transcribe?format=srt", files={"file": ("hello.wav", HELLO.read_bytes())},
                      timeout=60)
    assert clip.status_code == 200 and clip.text.startswith("1\n00:00:00,")


def test_vanishing_and_garbage_clients_do_not_take_it_down(server):
    host, port = server.removeprefix("http://").split(":")
    for request in (
        # headers promise 1 MB, 1 kB arrives, the client leaves
        b"POST /ocr/read HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000000\r\n\r\n"
        + LINE.read_bytes()[:1000],
        b"\x16\x03\x01\x02\x00garbage that is not HTTP\r\n\r\n",  # a TLS hello on the plain port
        b"POST /speech/transcribe HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
        b"Content-Length: 50\r\n\r\n--b\r\nContent-Disposition: form-data; na",  # cut inside a part
    ):
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(request)
    assert httpx.post(f"{server}/ocr/read", content=os.urandom(5000), timeout=30).status_code == 415
    assert httpx.post(f"{server}/speech/transcribe", content=b"\x00" * 100, timeout=30).status_code in (415, 422)
    assert httpx.get(f"{server}/healthz").json() == {"status": "ok"}
    line = httpx.post(f"{server}/ocr/read", content=LINE.read_bytes(), timeout=60)
    assert line.status_code == 200 and "quick brown fox" in line.text


def test_an_unknown_task_or_a_missing_model_is_one_line_and_status_2():
    done = subprocess.run([sys.executable, "-m", "speech", "serve", "--with", "nosuchtask", "--port", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "No service named 'nosuchtask'" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run([sys.executable, "-m", "ocr", "serve", "--model", "missing.keras", "--port", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "the ocr model file missing.keras does not exist" in done.stderr


# --- the page in a real browser --------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def downloads(tmp_path_factory):
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("no browser: install Debian's chromium and chromium-driver (apt-get install chromium "
                    "chromium-driver; .ci/run does) to run the web page test")
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (the test extra)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = Path(os.environ.get("TMPDIR", "/tmp")) / f"chromium-profile-{os.getpid()}"
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--autoplay-policy=no-user-gesture-required", "--window-size=1280,900",
                 # a fake microphone (a tone) that needs no permission prompt: the recording test
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(downloads),
                                              "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(driver, script, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        value = driver.execute_script(script)
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for: {script}"
        time.sleep(0.2)


def upload(driver, server, path):
    driver.get(server + "/")
    wait_for(driver, "return document.body.dataset.ready")
    driver.find_element("id", "file-input").send_keys(str(path))
    wait_for(driver, "return document.getElementById('text').dataset.ready")
    return driver.execute_script("return document.getElementById('text').textContent")


def rendered_line(folder):
    if not DEJAVU.exists():
        return LINE
    import numpy as np
    from PIL import Image

    from ocr.synth import render_line

    path = folder / "served_line.png"
    Image.fromarray(render_line("Served over HTTP 42", DEJAVU, size=32, rng=np.random.default_rng(1),
                                degrade=False)).save(path)
    return path


def synthesised_clip(folder):
    if not shutil.which("espeak-ng"):
        return HELLO
    from speech.synth import synthesize

    path = folder / "served_clip.wav"
    synthesize("the quick brown fox jumps over the lazy dog", "espeak-ng:en-us", path)
    return path


def test_the_page_reads_a_rendered_line(server, browser, tmp_path):
    image = rendered_line(tmp_path)
    expected = httpx.post(f"{server}/ocr/read?format=json", files={"file": (image.name, image.read_bytes())},
                          timeout=60).json()
    shown = upload(browser, server, image)
    assert shown == expected["text"]
    boxes = browser.execute_script("return document.querySelectorAll('#boxes .word').length")
    assert boxes == sum(len(line["words"]) for line in expected["lines"]) > 0
    formats = browser.execute_script(
        "return [...document.querySelectorAll('#downloads button')].map(b => b.dataset.format)")
    assert formats == ["text", "json", "hocr", "alto", "page", "tsv", "pdf"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "serve_page_ocr.png"))


def test_the_page_reads_a_pdf(server, browser, tmp_path):
    searchable = httpx.post(f"{server}/ocr/read?format=pdf", files={"file": ("line.png", LINE.read_bytes())},
                            timeout=60)
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(searchable.content)
    expected = httpx.post(f"{server}/ocr/read?format=json", files={"file": ("scan.pdf", pdf.read_bytes())},
                          timeout=60).json()
    shown = upload(browser, server, pdf)
    assert expected["pages"] and expected["text"] and shown == f"page 1{expected['text']}\n"


def test_the_page_transcribes_a_clip_and_follows_the_audio(server, browser, downloads, tmp_path):
    clip = synthesised_clip(tmp_path)
    expected = httpx.post(f"{server}/speech/transcribe?format=json", files={"file": (clip.name, clip.read_bytes())},
                          timeout=60).json()
    shown = upload(browser, server, clip)
    assert " ".join(shown.split()) == expected["text"] and expected["text"]
    word = expected["segments"][0]["words"][-1]
    browser.execute_script(f"const a = document.getElementById('audio'); a.currentTime = "
                           f"{(word['start'] + word['end']) / 2};")
    active = wait_for(browser, "const w = document.querySelector('#text .w.active'); return w && w.textContent")
    assert active == word["text"]
    assert json.loads(browser.execute_script(
        "return JSON.stringify([...document.querySelectorAll('#downloads button')].map(b => b.dataset.format))")) \
        == ["txt", "json", "srt", "vtt", "tsv"]
    browser.find_element("css selector", "#downloads button[data-format='srt']").click()
    saved = downloads / f"{clip.stem}.srt"
    deadline = time.monotonic() + 30
    while not saved.exists():
        assert time.monotonic() < deadline, f"no download in {downloads}: {list(downloads.iterdir())}"
        time.sleep(0.2)
    served = httpx.post(f"{server}/speech/transcribe?format=srt", files={"file": (clip.name, clip.read_bytes())},
                        timeout=60)
    assert saved.read_text(encoding="utf-8") == served.text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "serve_page_speech.png"))


def test_the_page_records_from_the_microphone(server, browser):
    browser.get(server + "/")
    wait_for(browser, "return document.body.dataset.ready")
    record = browser.find_element("id", "record")
    assert record.is_displayed()
    record.click()
    wait_for(browser, "return document.getElementById('record').textContent === 'Stop'")
    time.sleep(1.5)
    record.click()  # MediaRecorder's WebM is decoded in the page and sent as 16-bit WAV
    wait_for(browser, "return document.getElementById('text').dataset.ready")
    status = browser.execute_script("return document.getElementById('status').textContent")
    assert status.startswith("Done"), status
    assert browser.execute_script("return document.getElementById('source').textContent") == "(recording.wav)"
    assert browser.execute_script("return document.getElementById('audio').hidden") is False
