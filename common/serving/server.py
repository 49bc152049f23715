"""``ocr serve`` / ``speech serve``: build the application and run it on uvicorn."""

import os
import sys

from common.errors import ConfigError

__all__ = ["run_serve"]

SERVE_INSTALL_HINT = "pip install 'ctc-toolkit[serve]'"


def run_serve(args, *, task):
    """Serve ``task`` (and ``--with`` tasks) as the parsed ``serve`` command line says; returns when stopped."""
    from common.serving.options import settings_from_args

    from common.export import ONNX_SPINNING_VARIABLE, ONNX_THREADS_VARIABLE, onnx_threads_from_environment
    from common.serving.options import default_threads

    settings = settings_from_args(args, task=task)
    for name, path in settings.models.items():  # a missing file: one line now, not a server that never gets ready
        if not os.path.exists(path):
            raise ConfigError(f"the {name} model file {path} does not exist; pass an existing .keras, .onnx, .tflite "
                              f"file or SavedModel folder to --model, or leave it out for the shipped model. "
                              f"Received: model={path!r}")
    # Many small batches beside the HTTP loop: ONNX Runtime's spinning threads would take the CPU they wait for.
    os.environ.setdefault(ONNX_SPINNING_VARIABLE, "0")
    # --threads wins; else a thread count the user set in the environment (a bad one: one line now, not one per
    # request); else the cores divided among the workers.
    threads = settings.threads or onnx_threads_from_environment() or default_threads(settings.workers)
    os.environ[ONNX_THREADS_VARIABLE] = str(threads)
    try:
        import uvicorn

        from common.serving.app import create_app
    except ModuleNotFoundError as error:
        raise ConfigError(f"serving needs {error.name}, which is not installed: {SERVE_INSTALL_HINT}. "
                          f"Received: missing={error.name!r}") from None
    app = create_app(settings)
    print(f"serving {', '.join(settings.tasks)} on http://{settings.host}:{settings.port}/ (the page; API "
          f"documentation at /docs); Ctrl-C stops", file=sys.stderr)
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=5)
    return 0
