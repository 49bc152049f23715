"""The task-free serving machinery: the dynamic batcher, request options read through a CLI parser, the service
registry, and the application (health, readiness, limits, errors, the page) around a toy service."""

import argparse
import os
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi) is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from common.errors import ConfigError  # noqa: E402
from common.limits import count_arg  # noqa: E402
from common.serving.app import STATIC_DIR, create_app  # noqa: E402
from common.serving.batcher import DynamicBatcher  # noqa: E402
from common.serving.endpoints import add_upload_endpoint, document_response  # noqa: E402
from common.serving.options import OptionError, QueryOptions, ServeSettings  # noqa: E402
from common.serving.registry import ServeError, TaskService, load_service_class  # noqa: E402


# --- the batcher ----------------------------------------------------------------------------------------------------

def test_batcher_merges_requests_that_arrive_within_the_window():
    seen = []
    batcher = DynamicBatcher(lambda key, items: seen.append(list(items)) or [x * 2 for x in items], window_ms=300)
    try:
        futures = []
        threads = [threading.Thread(target=lambda i=i: futures.append(batcher.submit("k", i))) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        results = sorted(f.result(timeout=10) for f in futures)
    finally:
        batcher.close()
    assert results == [0, 2, 4, 6, 8, 10, 12, 14]
    assert [len(batch) for batch in seen] == [8]
    assert batcher.stats() == {"calls": 1, "items": 8, "sizes": {8: 1}}


def test_batcher_keeps_keys_apart_and_caps_the_batch_size():
    seen = []
    batcher = DynamicBatcher(lambda key, items: seen.append((key, len(items))) or list(items), window_ms=200,
                             max_items=3)
    try:
        futures = [batcher.submit("a" if i % 2 else "b", i) for i in range(6)]
        assert [f.result(timeout=10) for f in futures] == list(range(6))
    finally:
        batcher.close()
    assert all(size <= 3 for _, size in seen)
    assert sum(size for _, size in seen) == 6
    assert {key for key, _ in seen} == {"a", "b"}


def test_batcher_fails_every_request_of_a_failed_call_and_goes_on():
    def process(key, items):
        if "bad" in items:
            raise ValueError("boom")
        return items

    batcher = DynamicBatcher(process, window_ms=100)
    try:
        bad, good = batcher.submit("k", "bad"), batcher.submit("k", "x")
        with pytest.raises(ValueError, match="boom"):
            bad.result(timeout=10)
        with pytest.raises(ValueError, match="boom"):
            good.result(timeout=10)  # same call
        assert batcher.submit("k", "y").result(timeout=10) == "y"  # the worker lives on
    finally:
        batcher.close()


def test_batcher_refuses_a_bad_window_and_submissions_after_close():
    with pytest.raises(ConfigError, match="window_ms"):
        DynamicBatcher(lambda k, i: i, window_ms=-1)
    with pytest.raises(ConfigError, match="max_items"):
        DynamicBatcher(lambda k, i: i, max_items=0)
    batcher = DynamicBatcher(lambda k, i: i, window_ms=0)
    batcher.close()
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit("k", 1).result(timeout=5)


def test_batcher_workers_run_batches_side_by_side():
    """With two workers, a second batch runs while the first one is still in its call (Triton's model instances):
    both calls are inside ``process`` at once, and closing stops both workers."""
    inside, both = [], threading.Event()
    lock = threading.Lock()

    def process(key, items):
        with lock:
            inside.append(threading.current_thread().name)
            if len(inside) == 2:
                both.set()
        both.wait(10)
        return list(items)

    batcher = DynamicBatcher(process, window_ms=0, workers=2, name="toy")
    try:
        first = batcher.submit("k", 1)
        time.sleep(0.2)  # the first batch is in its call now
        second = batcher.submit("k", 2)
        assert (first.result(timeout=10), second.result(timeout=10)) == (1, 2)
    finally:
        batcher.close()
    assert both.is_set() and sorted(inside) == ["toy-0", "toy-1"]
    assert batcher.stats()["calls"] == 2
    with pytest.raises(RuntimeError, match="closed"):
        batcher.submit("k", 3).result(timeout=5)
    with pytest.raises(ConfigError, match="workers"):
        DynamicBatcher(lambda k, i: i, workers=0)

def test_preparation_pool_survives_a_process_that_dies():
    """An upload that kills its preparation process (a native decoder crash) costs that request, not the server:
    the pool is replaced, the request is tried once more, then refused; the next requests are served."""
    import asyncio
    import operator
    import os

    from common.serving.preparation import PreparationCrashed, PreparationPool

    pool = PreparationPool(1, int, ("3",))  # each process holds int("3")
    try:
        assert asyncio.run(pool.run(operator.add, 4)) == 7
        with pytest.raises(PreparationCrashed, match="ended the process"):
            asyncio.run(pool.run(os._exit))  # os._exit(3) in the pool process
        assert asyncio.run(pool.run(operator.mul, 5)) == 15
    finally:
        pool.close()
    local = PreparationPool(0, int, ("2",))
    assert asyncio.run(local.run(operator.add, 1)) == 3

# --- request options through a CLI parser --------------------------------------------------------------------------

def toy_parser():
    parser = argparse.ArgumentParser(prog="toy")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run")
    run.add_argument("inputs", nargs="+")
    run.add_argument("--beam", type=count_arg("beam_width", maximum=1024), default=None, help="beam width")
    run.add_argument("--mode", choices=("fast", "slow"), default="fast", help="how")
    run.add_argument("--lm", default="none", help="language model")
    run.add_argument("--loud", action="store_true", help="shout")
    run.add_argument("--model", help="a server-side file")
    return parser


def test_query_options_use_the_cli_types_choices_and_defaults():
    options = QueryOptions(toy_parser(), "run", {"beam": "--beam", "mode": "--mode", "lm": "--lm", "loud": "--loud"},
                           restrict={"lm": ("none", "default")})
    args = options.parse({})
    assert (args.beam, args.mode, args.lm, args.loud) == (None, "fast", "none", False)
    args = options.parse({"beam": "8", "mode": "slow", "loud": "true"})
    assert (args.beam, args.mode, args.loud) == (8, "slow", True)
    with pytest.raises(OptionError, match=r"option 'beam'.*from 1 to 1,024.*beam_width=0"):
        options.parse({"beam": "0"})
    with pytest.raises(OptionError, match=r"option 'beam'.*expected an integer.*'x'"):
        options.parse({"beam": "x"})
    with pytest.raises(OptionError, match=r"option 'mode' must be one of fast, slow. Received: mode='warp'"):
        options.parse({"mode": "warp"})
    with pytest.raises(OptionError, match=r"'lm' must be one of none, default on this server.*'/etc/passwd'"):
        options.parse({"lm": "/etc/passwd"})
    with pytest.raises(OptionError, match=r"unknown option 'model'; this endpoint takes beam, mode, lm, loud"):
        options.parse({"model": "/tmp/x.keras"})
    with pytest.raises(OptionError, match=r"'loud' is a switch"):
        options.parse({"loud": "maybe"})


def test_query_options_document_themselves_for_openapi_and_the_page():
    options = QueryOptions(toy_parser(), "run", {"beam": "--beam", "mode": "--mode"})
    params = {p["name"]: p for p in options.openapi()}
    assert params["mode"]["schema"] == {"type": "string", "enum": ["fast", "slow"], "default": "fast"}
    assert params["beam"]["schema"] == {"type": "integer"}
    assert params["beam"]["description"] == "beam width"
    with pytest.raises(ConfigError, match="no option --nope"):
        QueryOptions(toy_parser(), "run", {"nope": "--nope"})
    with pytest.raises(ConfigError, match="no 'walk' command"):
        QueryOptions(toy_parser(), "walk", {})


# --- the registry ---------------------------------------------------------------------------------------------------

def test_an_unknown_service_name_is_refused():
    with pytest.raises(ConfigError, match="No service named 'nosuchtask'"):
        load_service_class("nosuchtask")
    with pytest.raises(ConfigError, match="Expected a service name"):
        load_service_class("../etc")


def test_common_serving_imports_no_task():
    for path in (STATIC_DIR.parent).glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for task in ("ocr", "speech"):
            assert f"import {task}" not in text and f"from {task}" not in text, path


# --- the application around a toy service ---------------------------------------------------------------------------

class EchoService(TaskService):
    """Upper-cases text uploads, in batches; refuses bytes that are not UTF-8 (415) and the word 'bad' (422)."""

    name = "echo"
    title = "Echo"
    accept = "text/plain"
    load_delay = 0.0

    def __init__(self, settings):
        super().__init__(settings)
        self.options = QueryOptions(toy_parser(), "run", {"mode": "--mode"})
        self.batcher = None

    def load(self):
        time.sleep(self.load_delay)
        self.batcher = DynamicBatcher(lambda key, items: [i.upper() for i in items], window_ms=self.settings.window_ms)

    def close(self):
        if self.batcher:
            self.batcher.close()

    def stats(self):
        return {"batches": self.batcher.stats() if self.batcher else None}

    def register(self, router):
        add_upload_endpoint(router, "/run", service=self, options=self.options, handler=self.run, summary="echo")

    async def run(self, upload, args):
        try:
            text = upload.data.decode("utf-8")
        except UnicodeDecodeError:
            raise ServeError(415, f"{upload.filename}: not UTF-8 text") from None
        if text == "bad":
            raise ServeError(422, f"{upload.filename}: the text is bad")
        return document_response(await self.batcher.run(args.mode, text), ".txt")


@pytest.fixture
def echo_client(wait_ready):
    settings = ServeSettings(tasks=("echo",), max_bytes=1000, window_ms=200)
    with TestClient(create_app(settings, services=[EchoService(settings)])) as client:
        wait_ready(client)
        yield client



def test_health_readiness_and_the_openapi_page(wait_ready):
    EchoService.load_delay = 0.5
    try:
        settings = ServeSettings(tasks=("echo",))
        with TestClient(create_app(settings, services=[EchoService(settings)])) as client:
            assert client.get("/healthz").json() == {"status": "ok"}
            early = client.get("/readyz")
            assert early.status_code == 503 and "loading" in early.json()["error"]
            refused = client.post("/echo/run", content=b"hi")
            assert refused.status_code == 503 and "still loading" in refused.json()["error"]
            wait_ready(client)
            assert client.get("/readyz").json() == {"status": "ready", "services": ["echo"]}
            schema = client.get("/openapi.json").json()
            operation = schema["paths"]["/echo/run"]["post"]
            assert [p["name"] for p in operation["parameters"]] == ["mode"]
            assert "multipart/form-data" in operation["requestBody"]["content"]
            assert client.get("/docs").status_code == 200
            page = client.get("/")
            assert page.status_code == 200 and "<title>" in page.text
            assert client.get("/static/app.js").status_code == 200
            described = client.get("/api/services").json()
            assert described["services"][0]["name"] == "echo" and described["services"][0]["ready"] is True
    finally:
        EchoService.load_delay = 0.0


def test_uploads_raw_and_multipart(echo_client):
    assert echo_client.post("/echo/run", content=b"hello").text == "HELLO"
    assert echo_client.post("/echo/run", files={"file": ("a.txt", b"multi", "text/plain")}).text == "MULTI"
    assert echo_client.post("/echo/run?mode=slow", content=b"x").text == "X"


def test_every_refusal_is_json_naming_the_problem(echo_client):
    too_big = echo_client.post("/echo/run", content=b"x" * 1001)
    assert too_big.status_code == 413
    assert too_big.json()["error"] == ("the upload is 1,001 bytes, more than this server's limit of 1,000 bytes "
                                       "(serve --max-bytes)")
    chunked = echo_client.post("/echo/run", content=iter([b"x" * 600, b"y" * 600]))  # no Content-Length
    assert chunked.status_code == 413 and "more than 1,000 bytes" in chunked.json()["error"]
    wrong = echo_client.post("/echo/run", files={"file": ("b.bin", b"\xff\xfe\x00", "application/octet-stream")})
    assert wrong.status_code == 415 and wrong.json() == {"error": "b.bin: not UTF-8 text", "status": 415}
    bad = echo_client.post("/echo/run", content=b"bad")
    assert bad.status_code == 422 and bad.json()["error"] == "upload: the text is bad"
    empty = echo_client.post("/echo/run", content=b"")
    assert empty.status_code == 422 and "the upload is empty" in empty.json()["error"]
    option = echo_client.post("/echo/run?mode=warp", content=b"x")
    assert option.status_code == 422 and "option 'mode' must be one of fast, slow" in option.json()["error"]
    no_file = echo_client.post("/echo/run", data={"other": "x"}, files={"nofile": ("a", b"x")})
    assert no_file.status_code == 422 and "no file field 'file'" in no_file.json()["error"]
    garbage = echo_client.post("/echo/run", content=b"--xx\r\ngarbage",
                               headers={"content-type": "multipart/form-data; boundary=zz"})
    assert garbage.status_code == 422, garbage.text
    assert echo_client.get("/echo/run").status_code == 405
    assert echo_client.get("/healthz").status_code == 200  # still up


def test_concurrent_requests_share_a_batch(echo_client):
    texts = [f"t{i}" for i in range(8)]
    answers = {}

    def post(text):
        answers[text] = echo_client.post("/echo/run", content=text.encode()).text

    threads = [threading.Thread(target=post, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == {t: t.upper() for t in texts}
    sizes = echo_client.get("/stats").json()["echo"]["batches"]["sizes"]
    assert sum(int(size) * n for size, n in sizes.items()) == 8
    assert max(int(size) for size in sizes) >= 4, sizes  # within 200 ms, most of them share a call


def test_the_page_ships_as_package_data():
    setup = (STATIC_DIR.parents[2] / "setup.cfg").read_text()
    assert "common = py.typed, serving/static/*" in setup
    assert {"index.html", "app.js", "style.css"} <= {p.name for p in STATIC_DIR.iterdir()}


@pytest.mark.parametrize("flag, environment, expected", [
    ([], None, "1"),                    # 2 workers on 2 cores: one thread each (the default)
    ([], "3", "3"),                     # the user's environment is kept
    (["--threads", "2"], "3", "2"),     # --threads wins
])
def test_serve_sets_the_forward_pass_threads(monkeypatch, flag, environment, expected):
    """``serve`` sizes ONNX Runtime's threads from ``--threads``, else the user's ``CTC_TOOLKIT_ONNX_THREADS``, else
    the cores divided among the workers; a bad value in the environment stops it with one line."""
    import uvicorn

    import common.serving.app
    from common.export import ONNX_THREADS_VARIABLE
    from common.serving import options, server

    monkeypatch.setattr(options, "default_cores", lambda: 2)
    monkeypatch.setattr(common.serving.app, "create_app", lambda settings: None)
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: None)
    parser = argparse.ArgumentParser()
    options.add_serve_command(parser.add_subparsers(dest="command"), task="ocr")
    if environment is None:
        monkeypatch.delenv(ONNX_THREADS_VARIABLE, raising=False)
    else:
        monkeypatch.setenv(ONNX_THREADS_VARIABLE, environment)
    assert server.run_serve(parser.parse_args(["serve", *flag]), task="ocr") == 0
    assert os.environ[ONNX_THREADS_VARIABLE] == expected
    monkeypatch.setenv(ONNX_THREADS_VARIABLE, "lots")
    with pytest.raises(ConfigError, match=ONNX_THREADS_VARIABLE):
        server.run_serve(parser.parse_args(["serve"]), task="ocr")
