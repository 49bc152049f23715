"""Processes that prepare uploads (decode them, find their lines, compute features) beside the server's own.

The network releases Python's global lock while it runs, but decoding, layout analysis and HTTP are mostly Python:
in threads of one process they queue for that lock, and on 2 cores the server then used 1.5 of them. A pool of
processes does that work in Pythons of their own, while the server process keeps one batcher over all requests
(several uvicorn processes would each batch their own, and the kernel spreads connections over them unevenly).

Task-free: a task passes a picklable ``load(*args)`` that each process runs once (e.g. loading a Reader) and the
function that prepares one upload with what ``load`` returned.
"""

import asyncio
import concurrent.futures
import concurrent.futures.process
import multiprocessing
import threading

__all__ = ["PreparationPool", "PreparationCrashed"]

_LOADED = None  # in a pool process: what the task's load() returned


class PreparationCrashed(Exception):
    """An upload whose preparation killed the process that ran it, twice."""


def _initialize(load, args):
    global _LOADED
    _LOADED = load(*args)


def _call(function, args, kwargs):
    return function(_LOADED, *args, **kwargs)


class PreparationPool:
    """``processes`` spawned processes that each run ``load(*args)`` once, then ``function(loaded, *a, **kw)`` per
    call of :meth:`run`; with ``processes=0``, the same in the event loop's threads of this process.

    Spawned, not forked: the server process has threads (uvicorn, ONNX Runtime) that a fork would copy mid-work.
    A process that dies (an upload that crashes a native decoder, the kernel's OOM killer) breaks the pool: a new
    one replaces it and the calls that were in flight run again once; a call that breaks the new pool too is the
    culprit and raises :class:`PreparationCrashed`.
    """

    def __init__(self, processes, load, args=()):
        self.processes = int(processes)
        self._load, self._args = load, tuple(args)
        self._lock = threading.Lock()
        self._executor = None
        self._local = None
        if self.processes > 0:
            self._executor = self._start()
        else:
            self._local = load(*self._args)

    def _start(self):
        executor = concurrent.futures.ProcessPoolExecutor(
            self.processes, mp_context=multiprocessing.get_context("spawn"), initializer=_initialize,
            initargs=(self._load, self._args))
        list(executor.map(_ready, range(self.processes)))  # every process up now (a model load each)
        return executor

    def _replace(self, broken):
        with self._lock:
            if self._executor is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._executor = self._start()
            return self._executor

    async def run(self, function, *args, **kwargs):
        """``function(loaded, *args, **kwargs)`` in a pool process (or a thread); its result or its exception."""
        if self._executor is None:
            return await asyncio.to_thread(function, self._local, *args, **kwargs)
        executor = self._executor
        for _ in range(2):
            try:
                return await asyncio.wrap_future(executor.submit(_call, function, args, kwargs))
            except concurrent.futures.process.BrokenProcessPool:
                executor = await asyncio.to_thread(self._replace, executor)
        raise PreparationCrashed("preparing this upload ended the process that prepared it (twice), so it was not "
                                 "read; the file may be damaged or crafted")

    def close(self):
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


def _ready(_):
    return _LOADED is not None
