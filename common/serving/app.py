"""The FastAPI application: the tasks' endpoints, health and readiness, limits, errors, the web page.

Routes (beside each task's own, under ``/TASK/...``):

- ``GET /``: the web page (``common/serving/static``); ``GET /docs``: the OpenAPI page; ``/openapi.json``.
- ``GET /healthz``: 200 while the process answers. ``GET /readyz``: 200 once every model is loaded, else 503.
- ``GET /api/services``: the tasks served, their endpoints, formats and options (the page builds its form from it).
- ``GET /stats``: per task, the batches run and their sizes.

Every refusal is JSON ``{"error": "one line naming the problem", "status": code}``: 413 (body over
``max_bytes``), 415 (not a kind of file the task reads), 422 (an option or a limit: pixels, seconds, pages), 503
(a model still loading).
"""

import contextlib
import sys
import threading
from pathlib import Path

from fastapi import FastAPI, APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.requests import ClientDisconnect

from common.errors import ConfigError
from common.serving.registry import ServeError, load_service_class

__all__ = ["create_app", "read_upload", "Upload", "STATIC_DIR"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_RAW_NAME = "upload"


class Upload:
    """An uploaded file: ``data`` (bytes), ``filename`` and ``content_type`` (as the client sent them)."""

    def __init__(self, data, filename, content_type):
        self.data = data
        self.filename = filename
        self.content_type = content_type


async def read_upload(request: Request, *, max_bytes):
    """The file of a request: the multipart field ``file``, or the whole body (any other content type).

    The body is counted while it streams in: past ``max_bytes`` the request is refused (413) without reading
    the rest.

    Raises:
        ServeError: 413 (too large), 422 (no file, an empty one, a malformed multipart body).
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise ServeError(413, f"the upload is {int(declared):,} bytes, more than this server's limit of "
                              f"{max_bytes:,} bytes (serve --max-bytes)")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise ServeError(413, f"the upload is more than {max_bytes:,} bytes, this server's limit "
                                  f"(serve --max-bytes)")
        chunks.append(chunk)
    body = b"".join(chunks)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        filename, data, file_type = await _multipart_file(request, body)
    else:
        filename = request.headers.get("x-filename") or _RAW_NAME
        data, file_type = body, content_type
    if not data:
        raise ServeError(422, "the upload is empty: send the file as the request body or as the multipart field "
                              "'file'")
    return Upload(data, filename, file_type)


async def _multipart_file(request, body):
    sent = False

    async def replay():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        async with Request(request.scope, replay).form(max_files=1, max_fields=16) as form:
            upload = form.get("file")
            if upload is None or isinstance(upload, str):
                raise ServeError(422, "the multipart body has no file field 'file': send the file as "
                                      "-F file=@NAME (or as the whole request body)")
            return upload.filename or _RAW_NAME, await upload.read(), upload.content_type or ""
    except ServeError:
        raise
    except Exception as error:  # noqa: BLE001 (python-multipart's parse errors have no common base)
        raise ServeError(422, f"malformed multipart body ({type(error).__name__}: {error}); send the file as "
                              f"-F file=@NAME or as the raw request body") from None


def _error(status, message):
    return JSONResponse({"error": message, "status": status}, status_code=status)


def create_app(settings, *, services=None, load=True):
    """The application serving ``settings.tasks``.

    Args:
        settings: a :class:`~common.serving.options.ServeSettings`.
        services: the :class:`~common.serving.registry.TaskService` instances (default: one per task of
            ``settings.tasks``, resolved by name).
        load: load the models at start-up (in a thread; ``/readyz`` says when done). False: the caller has.
    """
    if services is None:
        services = [load_service_class(name)(settings) for name in settings.tasks]
    if not services:
        raise ConfigError("A server needs at least one task. Received: tasks=()")
    loaded = threading.Event()
    failures = []

    def load_all():
        for service in services:
            try:
                if not service.ready:
                    service.load()
                    service.ready = True
            except Exception as error:  # noqa: BLE001 (reported by /readyz and on stderr)
                failures.append(f"{service.name}: {error}")
                print(f"error: cannot load the {service.name} model: {error}", file=sys.stderr)
        loaded.set()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if load:
            threading.Thread(target=load_all, name="model-loader", daemon=True).start()
        else:
            loaded.set()
        try:
            yield
        finally:
            for service in services:
                service.close()

    names = ", ".join(s.name for s in services)
    app = FastAPI(title=f"ctc-toolkit: {names}", lifespan=lifespan,
                  description="Read text from images and transcribe speech. Each endpoint takes the file as the "
                              "multipart field `file` (or the raw request body) and the command line's options as "
                              "query parameters. Refusals are JSON `{error, status}`: 413 too large, 415 not a "
                              "file this task reads, 422 a bad option or a limit (pixels, seconds, pages), 503 "
                              "still loading.")
    app.state.services = {service.name: service for service in services}
    app.state.settings = settings

    @app.exception_handler(ServeError)
    async def serve_error(request, error):
        return _error(error.status, error.message)

    @app.exception_handler(ConfigError)
    async def config_error(request, error):  # an option the API refused (beam width, pages, ...)
        return _error(422, str(error))

    @app.exception_handler(ClientDisconnect)
    async def disconnected(request, error):  # nobody reads the answer; the server goes on
        return _error(400, "the client disconnected during the upload")

    @app.get("/healthz", tags=["health"], summary="200 while the process answers")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="200 once every model is loaded, 503 before (or after a failure)")
    async def readyz():
        pending = [s.name for s in services if not s.ready]
        if not pending:
            return {"status": "ready", "services": list(app.state.services)}
        state = "failed" if loaded.is_set() else "loading"
        detail = "; ".join(failures) if failures else ", ".join(pending)
        return _error(503, f"not ready ({state}): {detail}")

    @app.get("/api/services", tags=["health"], summary="the tasks served, their endpoints, formats and options")
    async def describe():
        return {"services": [dict(s.describe(), ready=s.ready) for s in services],
                "limits": {"max_bytes": settings.max_bytes, "max_pixels": settings.max_pixels,
                           "max_seconds": settings.max_seconds, "max_pages": settings.max_pages}}

    @app.get("/stats", tags=["health"], summary="batches run per task and their sizes")
    async def stats():
        return {s.name: s.stats() for s in services}

    for service in services:
        router = APIRouter(prefix=f"/{service.name}", tags=[service.name])
        service.register(router)
        app.include_router(router)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
