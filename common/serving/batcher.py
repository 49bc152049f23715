"""Dynamic batching: requests that arrive within a few milliseconds share one call of a task's batch API.

As Triton and TF Serving do: the first request opens a window of ``window_ms``; whatever arrives before it closes
(up to ``max_items``) goes through one ``process(key, payloads)`` call in one of the batcher's ``workers`` threads, so
that the network runs one forward pass over all of it. While that call runs, new requests queue; the next window
starts with all of them at once, so that under load batches grow by themselves. With several workers (as Triton's
model instances), one batch is read while the next one runs: on a CPU, two passes of one thread each cost less than
one pass split over two threads, which wait for each other at every step of a recurrent network. Requests with
different ``key`` (different options: beam width, layout, decoder) are processed in separate calls, in arrival
order.

Only the standard library: usable (and tested) without the web stack.
"""

import asyncio
import collections
import concurrent.futures
import queue
import threading
import time

from common.errors import ConfigError
from common.limits import check_count, is_real_number

__all__ = ["DynamicBatcher", "MAX_WINDOW_MS"]

MAX_WINDOW_MS = 1000.0
"""Longest batching window accepted (ms): longer would only add latency."""

_STOP = object()


class DynamicBatcher:
    """Group concurrent requests into batches and process each batch in one worker thread.

    Args:
        process: ``process(key, payloads) -> results``, one result per payload, in order; runs in a worker
            thread (several at once with ``workers`` > 1: it must be thread-safe). An exception fails every request
            of that call.
        window_ms: how long the first request of a batch waits for others (0: take only what is already queued).
        max_items: most payloads in one call.
        workers: threads that each take the next batch and process it.
        name: the worker threads' name (numbered when there are several).

    ``stats()`` gives the number of calls and a histogram of their sizes (what the tests and the load benchmark
    read to see that requests were merged).
    """

    def __init__(self, process, *, window_ms=5.0, max_items=64, workers=1, name="batcher"):
        if not is_real_number(window_ms) or not 0 <= window_ms <= MAX_WINDOW_MS:
            raise ConfigError(f"Received an invalid value for `window_ms` (--batch-window-ms), expected a number of "
                              f"milliseconds from 0 to {MAX_WINDOW_MS:g}. Received: window_ms={window_ms!r}")
        self.max_items = check_count("max_items", max_items, maximum=65_536, flag="--max-batch")
        workers = check_count("workers", workers, maximum=256, flag="--workers")
        self.window = float(window_ms) / 1000.0
        self._process = process
        self._queue = queue.Queue()
        self._lock = threading.Lock()
        self._sizes = collections.Counter()
        self._calls = 0
        self._threads = [threading.Thread(target=self._run, name=name if workers == 1 else f"{name}-{index}",
                                          daemon=True) for index in range(workers)]
        for thread in self._threads:
            thread.start()

    def submit(self, key, payload):
        """Queue one payload; returns a :class:`concurrent.futures.Future` of its result."""
        future = concurrent.futures.Future()
        if not any(thread.is_alive() for thread in self._threads):
            future.set_exception(RuntimeError("the batcher is closed"))
            return future
        self._queue.put((key, payload, future))
        return future

    async def run(self, key, payload):
        """Queue one payload and wait for its result without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(key, payload))

    def stats(self):
        """``{"calls": N, "items": M, "sizes": {batch size: calls}}`` since the start."""
        with self._lock:
            return {"calls": self._calls, "items": sum(size * n for size, n in self._sizes.items()),
                    "sizes": dict(sorted(self._sizes.items()))}

    def close(self, timeout=10.0):
        """Stop the workers after what is queued; later submissions fail."""
        for _ in self._threads:
            self._queue.put(_STOP)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _collect(self):
        """The next batch: blocks for a first item, then takes more until the window closes or it is full."""
        first = self._queue.get()
        if first is _STOP:
            return None
        items = [first]
        deadline = time.monotonic() + self.window
        while len(items) < self.max_items:
            remaining = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                self._queue.put(_STOP)  # finish this batch, then stop
                break
            items.append(item)
        return items

    def _run(self):
        while True:
            items = self._collect()
            if items is None:
                return
            groups = collections.OrderedDict()
            for key, payload, future in items:
                if future.set_running_or_notify_cancel():
                    groups.setdefault(key, []).append((payload, future))
            for key, group in groups.items():
                self._call(key, group)

    def _call(self, key, group):
        with self._lock:
            self._calls += 1
            self._sizes[len(group)] += 1
        try:
            results = self._process(key, [payload for payload, _ in group])
            if len(results) != len(group):
                raise RuntimeError(f"process returned {len(results)} results for {len(group)} payloads")
        except BaseException as error:  # noqa: BLE001 (handed to every waiting request)
            for _, future in group:
                future.set_exception(error)
            return
        for (_, future), result in zip(group, results):
            future.set_result(result)
