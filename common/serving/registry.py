"""What a task implements to be served, and how the server finds a task by name.

A task ships a :class:`TaskService` subclass in its own package (``ocr/serve.py``, ``speech/serve.py``) and
declares it as a ``ctc_toolkit.services`` entry point (setup.cfg). :func:`load_service_class` resolves a name
(``--with speech``) through those entry points, or else through the module ``NAME.serve`` (a source checkout that
was not reinstalled), so that ``ocr serve --with speech`` never needs ``ocr`` to import ``speech``.
"""

import collections
import dataclasses
import importlib
import importlib.metadata
import re

from common.errors import ConfigError

__all__ = ["TaskService", "ServeError", "DecoderVariants", "named_after_upload", "load_service_class",
           "ENTRY_POINT_GROUP"]

ENTRY_POINT_GROUP = "ctc_toolkit.services"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ServeError(Exception):
    """A request that cannot be answered: ``status`` (413, 415, 422, 503, ...) and a one-line ``message``."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = int(status)
        self.message = message


class TaskService:
    """One task's part of the server. Subclasses set the class attributes and implement the three methods.

    Class attributes:
        name: the task's name: URL prefix (``/ocr/...``) and ``--with`` name.
        title: a few words for the web page.
        accept: the file types the page's picker offers (an ``<input accept>`` value).

    Args:
        settings: the server's :class:`~common.serving.options.ServeSettings`.

    The server calls :meth:`load` once in a worker thread at start-up (the service is ready afterwards: ``/readyz``
    answers 503 until every service is), :meth:`register` before it starts (to add endpoints to a FastAPI router
    whose prefix is ``/name``), :meth:`describe` for the page, :meth:`stats` for ``/stats``, and :meth:`close` at
    shutdown.
    """

    name = None
    title = ""
    accept = ""

    def __init__(self, settings):
        self.settings = settings
        self.ready = False
        self.batcher = None  # the service's DynamicBatcher, made by load()
        self.preparation = None  # its PreparationPool, if it prepares uploads in processes

    def load(self):
        """Load the model (slow; runs in a worker thread)."""
        raise NotImplementedError

    def register(self, router):
        """Add this task's endpoints to ``router`` (a ``fastapi.APIRouter`` with prefix ``/name``)."""
        raise NotImplementedError

    def describe(self):
        """``{"name", "title", "accept", "endpoints": [{"path", "formats", "options"}]}`` for the web page."""
        return {"name": self.name, "title": self.title, "accept": self.accept, "endpoints": []}

    def stats(self):
        """Counters for ``/stats``: the batch sizes of the service's batcher."""
        return {"batches": self.batcher.stats() if self.batcher is not None else None}

    def close(self):
        """Release what :meth:`load` took (the batcher's worker threads, the preparation processes)."""
        if self.batcher is not None:
            self.batcher.close()
        if self.preparation is not None:
            self.preparation.close()

    def require_ready(self):
        if not self.ready:
            raise ServeError(503, f"the {self.name} model is still loading; retry in a few seconds (GET /readyz "
                                  f"answers 200 when every model is loaded)")


class DecoderVariants:
    """A task's base Reader or Transcriber, and copies of it that decode differently (a request's own ``hotwords``
    or ``lm``) while sharing its network: one model in memory, one traced function.

    Args:
        base: the loaded object (it has ``predictor`` and ``decoder``).
        make: ``make(lm=..., hotwords=...)`` builds a copy on ``base.model`` with the task's settings.
        default_lm: what the task's CLI means by default (``defaults.LM``): a request asking for it gets the LM the
            server loaded, without loading it again.
        size: copies kept (the oldest is dropped).

    Used from one thread (a batcher's worker).
    """

    def __init__(self, base, make, *, default_lm, size=32):
        self.base = base
        self._make = make
        self._default_lm = default_lm
        self._size = size
        self._copies = collections.OrderedDict()

    def get(self, lm, hotwords):
        if lm == self._default_lm and not hotwords:
            return self.base
        key = (lm, hotwords)
        if key not in self._copies:
            if len(self._copies) >= self._size:
                self._copies.popitem(last=False)
            loaded = self.base.decoder.lm if self.base.decoder is not None else None
            copy = self._make(lm=(loaded or "none") if lm == self._default_lm else lm, hotwords=hotwords)
            copy.predictor = self.base.predictor  # one network, one traced function
            self._copies[key] = copy
        return self._copies[key]


def named_after_upload(result, filename, *, temporary=None):
    """``result`` (an :class:`~common.inference.InputResult`) named after the upload instead of ``bytes #0`` or the
    ``temporary`` file it was read from, in its ``source`` and its ``error``."""
    error = result.error
    if error is not None:
        if error.startswith(result.source):
            error = filename + error[len(result.source):]
        if temporary is not None:
            error = error.replace(temporary, filename)
    return dataclasses.replace(result, source=filename, error=error)


def load_service_class(name):
    """The :class:`TaskService` subclass serving ``name``: from the ``ctc_toolkit.services`` entry points, else the
    ``SERVICE`` of the module ``NAME.serve``.

    Raises:
        ConfigError: no such service, with the names that are installed.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"Expected a service name such as ocr or speech. Received: name={name!r}")
    entry_points = {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    if name in entry_points:
        service = entry_points[name].load()
    else:
        try:
            module = importlib.import_module(f"{name}.serve")
        except ModuleNotFoundError as error:
            if error.name not in (name, f"{name}.serve"):
                raise  # the module exists but lacks a dependency: say which
            known = ", ".join(sorted(entry_points)) or "none registered"
            raise ConfigError(f"No service named {name!r}: neither a {ENTRY_POINT_GROUP} entry point nor a module "
                              f"{name}.serve (installed services: {known}). Received: name={name!r}") from None
        service = getattr(module, "SERVICE", None)
    if not (isinstance(service, type) and issubclass(service, TaskService)):
        raise ConfigError(f"{name}.serve does not define SERVICE, a TaskService subclass. Received: "
                          f"SERVICE={service!r}")
    return service
