"""An HTTP service for the tasks (``ocr serve``, ``speech serve``), knowing no task.

The machinery lives here; each task brings its endpoints from its own package (``ocr/serve.py``,
``speech/serve.py``) as a :class:`~common.serving.registry.TaskService`, found by name through the
``ctc_toolkit.services`` entry points (or the ``NAME.serve`` module), never by an import of one task in the other.

- :mod:`common.serving.options`: the ``serve`` command's options and :class:`ServeSettings`; the mapping of a
  request's query parameters onto the CLI's own options (types, choices, defaults, help).
- :mod:`common.serving.batcher`: :class:`DynamicBatcher`, requests that arrive within a few milliseconds share one
  call of the task's batch API (one forward pass).
- :mod:`common.serving.registry`: :class:`TaskService` (what a task implements) and :func:`load_service_class`.
- :mod:`common.serving.app`: :func:`create_app`, the FastAPI application (health, readiness, limits, errors, the
  web page, the OpenAPI page at ``/docs``).
- :mod:`common.serving.server`: :func:`run_serve`, what ``ocr serve`` / ``speech serve`` run (uvicorn).

This package imports nothing heavy at its top: ``ocr --help`` reads its options. FastAPI and uvicorn come with the
``serve`` extra (``pip install 'ctc-toolkit[serve]'``).
"""

__all__ = []
