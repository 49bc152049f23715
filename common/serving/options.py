"""The ``serve`` command's options, the server's settings, and request options mapped onto the CLI's own.

:class:`QueryOptions` takes a task's command-line options (``--beam``, ``--layout``, ...) from its argparse parser
and reads a request's query parameters through them: the same types, bounds, choices, defaults and help text as
the command line, so the HTTP API cannot drift from it. No web import here: ``ocr --help`` builds the ``serve``
parser from this module.
"""

import argparse
import dataclasses
import re

from common.errors import ConfigError
from common.limits import count_arg

__all__ = ["ServeSettings", "add_serve_command", "settings_from_args", "QueryOptions", "OptionError",
           "DEFAULT_MAX_BYTES", "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_SECONDS", "DEFAULT_MAX_PAGES",
           "DEFAULT_WINDOW_MS", "DEFAULT_PORT"]

DEFAULT_PORT = 8000
DEFAULT_WINDOW_MS = 5.0
"""Batching window (ms): long enough to catch concurrent clients, short next to a line's ~10-30 ms of compute."""
DEFAULT_MAX_BYTES = 50 * 2**20
"""Largest request body (50 MiB): a scanned PDF of some pages, or ~25 min of 16 kHz 16-bit WAV."""
DEFAULT_MAX_PIXELS = 40_000_000
"""Most pixels per image or rendered page (an A4 page at 600 dpi is 35 M); larger uploads are refused."""
DEFAULT_MAX_SECONDS = 600.0
"""Longest audio accepted (s)."""
DEFAULT_MAX_PAGES = 20
"""Most pages read from one PDF or multi-page TIFF upload."""
DEFAULT_WORKERS = 2
"""Batches each task processes at once: while one runs the network, the next one's requests gather."""


def default_cores():
    """The cores this process may run on (:func:`common.cpus.usable_cpus`: affinity and container quota)."""
    from common.cpus import usable_cpus

    return usable_cpus()


def default_threads(workers):
    """Threads per forward pass: the cores shared among ``workers`` batches (at least 1)."""
    return max(1, default_cores() // max(1, workers))

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclasses.dataclass(frozen=True)
class ServeSettings:
    """What a server runs with: the tasks, where it listens, batching and request limits.

    Args:
        tasks: service names, the command's own task first (``("ocr", "speech")``).
        host, port: where uvicorn listens.
        window_ms: batching window (see :class:`~common.serving.batcher.DynamicBatcher`).
        max_batch: most requests in one batch.
        workers: batches each task processes at once (threads of its batcher).
        threads: threads of each forward pass (ONNX Runtime, LiteRT); ``None``: :func:`default_threads`.
        processes: processes that prepare uploads (decode, lay out, features) beside the server's own
            (:class:`~common.serving.preparation.PreparationPool`); ``None``: one per core; 0: the server's threads.
        max_bytes: largest request body (413 above).
        max_pixels: most pixels per image or page (422 above).
        max_seconds: longest audio (422 above).
        max_pages: most pages read from one document (422 above).
        models: ``{task: model path}``; a task not named runs its shipped default model.
    """

    tasks: tuple = ()
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    window_ms: float = DEFAULT_WINDOW_MS
    max_batch: int = 64
    workers: int = DEFAULT_WORKERS
    threads: int | None = None
    processes: int | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_seconds: float = DEFAULT_MAX_SECONDS
    max_pages: int = DEFAULT_MAX_PAGES
    models: dict = dataclasses.field(default_factory=dict)

    @property
    def preparation_processes(self):
        """:attr:`processes`, with ``None`` resolved to the cores."""
        return default_cores() if self.processes is None else self.processes

    def model_for(self, task):
        """The model path for ``task`` (``None``: its shipped default)."""
        return self.models.get(task)


def _positive_float(name):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value > 0 or value == float("inf"):
            raise argparse.ArgumentTypeError(f"{name} must be a positive number. Received: {name}={text}")
        return value

    return parse


def _service_name(text):
    if not _NAME.match(text):
        raise argparse.ArgumentTypeError(f"expected a service name such as speech or ocr. Received: {text!r}")
    return text


def add_serve_command(commands, *, task, parents=()):
    """Add ``serve`` to a task's subcommands (``ocr serve``, ``speech serve``)."""
    serve = commands.add_parser(
        "serve", parents=list(parents),
        help="serve the model over HTTP: a JSON API, a web page at /, the OpenAPI page at /docs "
             "(needs pip install 'ctc-toolkit[serve]')")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0: every "
                                                           "interface)")
    serve.add_argument("--port", type=count_arg("port", maximum=65_535), default=DEFAULT_PORT,
                       help=f"port (default {DEFAULT_PORT})")
    serve.add_argument("--with", dest="with_tasks", action="append", type=_service_name, default=[],
                       metavar="TASK", help=f"serve another task beside {task} (e.g. --with "
                                            f"{'speech' if task == 'ocr' else 'ocr'}); repeatable")
    serve.add_argument("--model", help=f"{task} model file (default: the shipped model; other tasks run theirs)")
    serve.add_argument("--batch-window-ms", type=float, default=DEFAULT_WINDOW_MS,
                       help=f"how long a request waits for others to share its forward pass (default "
                            f"{DEFAULT_WINDOW_MS:g} ms; 0: only requests already queued)")
    serve.add_argument("--max-batch", type=count_arg("max_batch", maximum=65_536), default=64,
                       help="most requests in one batch (default 64)")
    serve.add_argument("--workers", type=count_arg("workers", maximum=256), default=DEFAULT_WORKERS,
                       help=f"batches each task runs at once (default {DEFAULT_WORKERS}: one runs the network while "
                            f"the next gathers)")
    serve.add_argument("--threads", type=count_arg("threads", maximum=1024),
                       help="threads of each forward pass (default: CTC_TOOLKIT_ONNX_THREADS when set, else the "
                            "cores divided among --workers; on 2 cores, two one-thread passes beat one two-thread "
                            "pass)")
    serve.add_argument("--processes", type=count_arg("processes", minimum=0, maximum=256),
                       help="processes that decode uploads and find their lines beside the server's own (default: "
                            "one per core; 0: in the server's threads, where Python's lock keeps them to one core)")
    serve.add_argument("--max-bytes", type=count_arg("max_bytes"), default=DEFAULT_MAX_BYTES,
                       help=f"largest upload in bytes, answered 413 above (default {DEFAULT_MAX_BYTES:,})")
    serve.add_argument("--max-pixels", type=count_arg("max_pixels"), default=DEFAULT_MAX_PIXELS,
                       help=f"most pixels per image or page, answered 422 above (default {DEFAULT_MAX_PIXELS:,})")
    serve.add_argument("--max-seconds", type=_positive_float("max_seconds"), default=DEFAULT_MAX_SECONDS,
                       help=f"longest audio in seconds, answered 422 above (default {DEFAULT_MAX_SECONDS:g})")
    serve.add_argument("--max-pages", type=count_arg("max_pages", maximum=10_000), default=DEFAULT_MAX_PAGES,
                       help=f"most pages of one PDF or TIFF, answered 422 above (default {DEFAULT_MAX_PAGES})")
    return serve


def settings_from_args(args, *, task):
    """The :class:`ServeSettings` of a parsed ``serve`` command line."""
    tasks = [task] + [name for name in args.with_tasks if name != task]
    return ServeSettings(tasks=tuple(dict.fromkeys(tasks)), host=args.host, port=args.port,
                         window_ms=args.batch_window_ms, max_batch=args.max_batch, workers=args.workers,
                         threads=args.threads, processes=args.processes, max_bytes=args.max_bytes,
                         max_pixels=args.max_pixels, max_seconds=args.max_seconds, max_pages=args.max_pages,
                         models={task: args.model} if args.model else {})


class OptionError(ConfigError):
    """A request option has an unknown name or an invalid value (answered 422)."""


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


class QueryOptions:
    """Request options read through a command's own argparse options.

    Args:
        parser: the task's CLI parser (``build_parser()``).
        command: the subcommand whose options are served (``"read"``).
        names: ``{query name: CLI flag}`` of the options a request may set (``{"beam": "--beam"}``); options that
            name server-side files (``--model``, ``--words``, an LM path) are left out by the task.
        restrict: ``{query name: allowed values}`` narrowing an option for the network (``{"lm": ("none",
            "default")}``).

    ``parse(query)`` gives an :class:`argparse.Namespace` keyed by the CLI's ``dest`` names (``args.beam``), with
    the CLI's defaults for what the request leaves out; an unknown name or a value the CLI would refuse raises
    :class:`OptionError` naming it. ``openapi()`` documents them as query parameters.
    """

    def __init__(self, parser, command, names, *, restrict=None):
        sub = _subcommand(parser, command)
        # argparse has no public way to look an option up by flag; its per-parser table is stable since Python 3.2
        table = sub._option_string_actions  # noqa: SLF001
        self.command = command
        self.actions = {}
        for name, flag in names.items():
            if flag not in table:
                raise ConfigError(f"`{command}` has no option {flag}. Received: {name}={flag!r}")
            self.actions[name] = table[flag]
        self.restrict = dict(restrict or {})

    def defaults(self):
        return argparse.Namespace(**{action.dest: action.default for action in self.actions.values()})

    def parse(self, query):
        """``query``: a mapping of names to strings (a request's query parameters)."""
        args = self.defaults()
        unknown = sorted(set(query) - set(self.actions))
        if unknown:
            raise OptionError(f"unknown option {unknown[0]!r}; this endpoint takes {', '.join(self.actions)}. "
                              f"Received: {unknown[0]}={query[unknown[0]]!r}")
        for name, text in query.items():
            setattr(args, self.actions[name].dest, self._value(name, text))
        return args

    def _value(self, name, text):
        action = self.actions[name]
        if action.nargs == 0:  # store_true
            lowered = str(text).strip().lower()
            if lowered not in _TRUE + _FALSE:
                raise OptionError(f"option {name!r} is a switch, expected true or false. Received: {name}={text!r}")
            return lowered in _TRUE
        if name in self.restrict and text not in self.restrict[name]:
            raise OptionError(f"option {name!r} must be one of {', '.join(self.restrict[name])} on this server. "
                              f"Received: {name}={text!r}")
        try:
            value = action.type(text) if action.type is not None else text
        except (argparse.ArgumentTypeError, TypeError, ValueError, ConfigError) as error:
            message = str(error).rstrip(".")
            received = "" if "Received:" in message else f". Received: {name}={text!r}"
            raise OptionError(f"invalid value for option {name!r}: {message}{received}") from None
        if action.choices is not None and value not in action.choices:
            raise OptionError(f"option {name!r} must be one of {', '.join(map(str, action.choices))}. "
                              f"Received: {name}={text!r}")
        return value

    def describe(self):
        """``[{name, help, default, choices, kind}]``: what the web page builds its controls from."""
        out = []
        for name, action in self.actions.items():
            choices = self.restrict.get(name, action.choices)
            kind = "switch" if action.nargs == 0 else ("integer" if getattr(action.type, "__name__", "") == "integer"
                                                       or action.type is int else
                                                       "number" if action.type is float else "text")
            out.append({"name": name, "help": action.help or "", "default": action.default,
                        "choices": list(choices) if choices is not None else None, "kind": kind})
        return out

    def openapi(self):
        """The options as OpenAPI query parameters."""
        types = {"switch": "boolean", "integer": "integer", "number": "number", "text": "string"}
        params = []
        for option in self.describe():
            schema = {"type": types[option["kind"]]}
            if option["choices"] is not None:
                schema["enum"] = option["choices"]
            if option["default"] is not None:
                schema["default"] = option["default"]
            params.append({"name": option["name"], "in": "query", "required": False,
                           "description": option["help"].replace("%%", "%"), "schema": schema})
        return params


def _subcommand(parser, command):
    for action in parser._actions:  # noqa: SLF001 (argparse exposes subparsers only through its action list)
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:  # noqa: SLF001
            return action.choices[command]
    raise ConfigError(f"the parser has no {command!r} command. Received: command={command!r}")
