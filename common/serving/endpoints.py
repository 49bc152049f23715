"""The one shape of a task endpoint: a file in, the CLI's options as query parameters, a document out.

:func:`add_upload_endpoint` registers ``POST /TASK/PATH`` on a task's router: it checks that the model is loaded
(503), reads the request's options through the CLI's own (:class:`~common.serving.options.QueryOptions`, 422),
reads the upload under the byte limit (413, 422) and hands both to the task's handler. :func:`document_response`
answers with a rendered document and the media type of its file suffix.
"""

import json

from fastapi import Request
from fastapi.responses import Response

from common.serving.app import read_upload

__all__ = ["add_upload_endpoint", "document_response", "MEDIA_TYPES"]

MEDIA_TYPES = {".json": "application/json", ".txt": "text/plain; charset=utf-8", ".srt": "application/x-subrip",
               ".vtt": "text/vtt; charset=utf-8", ".tsv": "text/tab-separated-values; charset=utf-8",
               ".hocr": "text/html; charset=utf-8", ".xml": "application/xml", ".pdf": "application/pdf"}
"""Media type of each file suffix a task writes (the last suffix: ``.alto.xml`` is XML)."""


def add_upload_endpoint(router, path, *, service, options, handler, summary, description=""):
    """Register ``POST path`` on ``router``: ``await handler(upload, args)`` returns the response.

    Args:
        router: the task's ``APIRouter``.
        path: the endpoint's path under the task's prefix (``"/read"``).
        service: the :class:`~common.serving.registry.TaskService` (its readiness and settings).
        options: the :class:`~common.serving.options.QueryOptions` the endpoint takes.
        handler: ``async handler(upload, args) -> Response``.
        summary, description: for the OpenAPI page.
    """
    extra = {
        "parameters": options.openapi(),
        "requestBody": {"required": True, "content": {
            "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
                "file": {"type": "string", "format": "binary", "description": "the file"}}}},
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
    }

    async def endpoint(request: Request):
        service.require_ready()
        args = options.parse(dict(request.query_params))
        upload = await read_upload(request, max_bytes=service.settings.max_bytes)
        return await handler(upload, args)

    endpoint.__name__ = f"{service.name}_{path.strip('/').replace('/', '_') or 'root'}"
    router.add_api_route(path, endpoint, methods=["POST"], summary=summary, description=description,
                         openapi_extra=extra, response_class=Response)


def document_response(content, suffix, *, filename=None, status=200):
    """``content`` (``str``, ``bytes``, or a JSON-able ``dict``) with the media type of ``suffix``; ``filename``
    adds a ``Content-Disposition`` naming the download ``STEM + suffix``."""
    if isinstance(content, dict):
        content = json.dumps(content, ensure_ascii=False)
    media = MEDIA_TYPES.get("." + suffix.rsplit(".", 1)[-1], "application/octet-stream")
    headers = {}
    if filename:
        stem = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0] or "result"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:100] or "result"
        headers["Content-Disposition"] = f'inline; filename="{safe}{suffix}"'
    return Response(content=content if isinstance(content, bytes) else content.encode("utf-8"), status_code=status,
                    media_type=media, headers=headers)

