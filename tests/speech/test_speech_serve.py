"""``POST /speech/transcribe`` (speech/serve.py): the served transcript is the Transcriber's in every format,
every refusal names its problem, and concurrent requests share a batch."""

import io
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from common.serving.app import create_app  # noqa: E402
from common.serving.options import ServeSettings  # noqa: E402
from speech import cli as speech_cli  # noqa: E402
from speech.formats import FORMATS, render  # noqa: E402
from speech.serve import SpeechService  # noqa: E402
from speech.transcriber import Transcriber  # noqa: E402

HELLO = Path(__file__).resolve().parents[2] / "speech" / "samples" / "hello.wav"


def serve(**settings):
    settings = ServeSettings(tasks=("speech",), **settings)
    return TestClient(create_app(settings, services=[SpeechService(settings)]))



@pytest.fixture(scope="module")
def client(wait_ready):
    with serve(max_seconds=30) as client:
        wait_ready(client)
        yield client


@pytest.fixture(scope="module")
def expected():
    return Transcriber.load().transcribe([HELLO])[0]


def post(client, query="", name="hello.wav", data=None):
    data = HELLO.read_bytes() if data is None else data
    return client.post(f"/speech/transcribe{query}", files={"file": (name, data, "audio/wav")})


def test_the_cli_and_the_server_offer_the_same_formats():
    assert speech_cli.FORMATS == FORMATS


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_is_the_transcribers(client, expected, fmt):
    answer = post(client, f"?format={fmt}")
    assert answer.status_code == 200, answer.text
    if fmt == "json":
        assert answer.json() == dict(expected.to_dict(), path="hello.wav")
        assert answer.json()["segments"][0]["words"][0]["end"] > answer.json()["segments"][0]["words"][0]["start"]
    else:
        assert answer.text == render(expected, fmt)
    assert "hello" in answer.text


def test_options_reach_the_decoder(client):
    greedy = Transcriber.load(lm="none").transcribe([HELLO])[0].text
    assert post(client, "?lm=none&format=txt").text == greedy + "\n"
    assert post(client, "?hotwords=speech:8&format=txt").status_code == 200
    assert post(client, "?beam=8&format=txt").status_code == 200


def wav(seconds, rate=16000):
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    soundfile.write(buffer, (0.01 * rng.standard_normal(int(seconds * rate))).astype(np.float32), rate,
                    format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_refusals_name_the_problem(client):
    garbage = post(client, name="notes.txt", data=b"this is not audio at all")
    assert garbage.status_code == 415
    assert garbage.json()["error"].startswith("not an audio file this server reads: notes.txt: ")
    long = post(client, name="long.wav", data=wav(31))
    assert long.status_code == 422
    assert long.json()["error"] == ("long.wav: the audio is 31.0 s long, more than this server's limit of 30 s "
                                    "(serve --max-seconds); cut it into shorter files")
    cut = post(client, name="cut.wav", data=HELLO.read_bytes()[:30])
    assert cut.status_code in (415, 422) and "cut.wav" in cut.json()["error"]
    for query, problem in (("?format=all", "option 'format' must be one of txt, json, srt, vtt, tsv"),
                           ("?lm=/etc/passwd", "option 'lm' must be one of none, default on this server"),
                           ("?words=x", "unknown option 'words'"), ("?beam=99999", "option 'beam'")):
        refused = post(client, query)
        assert refused.status_code == 422 and problem in refused.json()["error"], refused.text
    assert client.get("/readyz").status_code == 200


def test_concurrent_requests_share_one_forward_pass(expected, wait_ready):
    with serve(window_ms=300) as client:
        wait_ready(client)
        answers = [None] * 6

        def send(index):
            answers[index] = post(client, "?format=txt").text

        threads = [threading.Thread(target=send, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        sizes = client.get("/stats").json()["speech"]["batches"]["sizes"]
    assert answers == [expected.text + "\n"] * 6
    assert sum(int(size) * count for size, count in sizes.items()) == 6
    assert max(int(size) for size in sizes) >= 3, sizes
