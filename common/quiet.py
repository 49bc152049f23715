"""Keeping TensorFlow's native log lines off the terminal: the ``absl`` / oneDNN / CPU-feature notices.

TensorFlow's C++ code writes straight to file descriptor 2, before and regardless of ``TF_CPP_MIN_LOG_LEVEL``
(TF 2.21 logs ``WARNING: All log messages before absl::InitializeLog() ...`` and ``I0000 ... oneDNN custom
operations are on`` at import, and ``E0000 ... oneDNN supports DT_BOOL only ...`` at the first prediction).
:func:`quiet_native_stderr` routes descriptor 2 through a pipe for the length of a command and drops exactly those
lines (and one routine notice of Ray's, when a batch run starts its workers); everything else (Python's
``sys.stderr``, progress bars, warnings, a native fatal error) reaches the terminal unchanged. ``--verbose`` on the command line turns the filter off.

Turning oneDNN off (``TF_ENABLE_ONEDNN_OPTS=0``) would also remove a line, but it changes the kernels that run.
"""

import contextlib
import io
import logging
import os
import re
import sys
import threading

__all__ = ["is_native_noise", "quiet_native_stderr"]

_NOISE = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w.-]+:\d+\] "  # absl's prefix: I/W/E (fatal F lines pass)
    r"|To enable the following instructions: .* rebuild TensorFlow"
    r"|This TensorFlow binary is optimized to use available CPU instructions"
    # Ray's (``ocr batch``, ``speech batch``): Ray Data's actors always get their arguments through the object store
    r"|\[[\d\- :,.]+ E \d+ \d+\] core_worker\.cc:\d+: Actor with class name: .* has constructor arguments in the "
    r"object store and max_restarts > 0"
)


def is_native_noise(line):
    """Whether one line of native stderr is one of TensorFlow's routine notices (dropped unless ``--verbose``)."""
    return _NOISE.match(line) is not None


def _forward(read_fd, write_fd):
    """Copy lines from ``read_fd`` to ``write_fd`` until end of file, dropping routine notices."""
    pending = b""
    with io.FileIO(read_fd, "r", closefd=True) as source:
        while True:
            block = source.read(65536)
            if not block:
                break
            pending += block
            *lines, pending = pending.split(b"\n")
            kept = [line for line in lines if not is_native_noise(line.decode("utf-8", "replace"))]
            if kept:
                with contextlib.suppress(OSError):
                    os.write(write_fd, b"\n".join(kept) + b"\n")
    if pending and not is_native_noise(pending.decode("utf-8", "replace")):
        with contextlib.suppress(OSError):
            os.write(write_fd, pending)


@contextlib.contextmanager
def quiet_native_stderr(enabled=True):
    """Within the block, drop TensorFlow's routine native log lines from descriptor 2 (see the module docstring).

    Python's own ``sys.stderr`` is pointed at the real stderr for the block, so its output (tqdm's ``\\r`` progress
    bars included) is not delayed; when ``sys.stderr`` is not descriptor 2 (captured by a test, say) it is left
    alone. TensorFlow's and absl's Python loggers are limited to errors for the block.
    """
    if not enabled:
        yield
        return
    try:
        python_on_fd2 = sys.stderr is not None and sys.stderr.fileno() == 2
    except (AttributeError, OSError, ValueError):
        python_on_fd2 = False
    if sys.stderr is not None:
        sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no descriptor 2 (a daemon): nothing to filter
        yield
        return
    read_fd, write_fd = os.pipe()
    os.dup2(write_fd, 2)
    os.close(write_fd)
    thread = threading.Thread(target=_forward, args=(read_fd, saved), name="quiet-stderr", daemon=True)
    thread.start()
    old_stderr = sys.stderr
    if python_on_fd2:
        sys.stderr = open(os.dup(saved), "w", encoding=old_stderr.encoding, errors=old_stderr.errors,
                          buffering=1)
    loggers = [logging.getLogger(name) for name in ("tensorflow", "absl")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
        if python_on_fd2:
            with contextlib.suppress(OSError, ValueError):
                sys.stderr.close()
            sys.stderr = old_stderr
        os.dup2(saved, 2)  # closes the pipe's last writer: the thread sees the end and finishes
        thread.join(timeout=2.0)
        os.close(saved)
