"""How many CPU cores this process may use: its CPU affinity, capped by a container's CPU quota.

``os.cpu_count()`` counts the machine's cores, and ONNX Runtime's default thread pool has one thread per physical
core, whatever ``taskset``, ``docker --cpus`` or a batch scheduler allow. Threads beyond the cores a process gets
only wait for each other: on 2 cores with the process pinned to one (``taskset -c 1``), the OCR reader read 600
held-out lines at 90 lines/s with ONNX Runtime's default 2 threads and at 121.5 lines/s with 1. Readers, servers and
the exported models' sessions size their threads with :func:`usable_cpus` instead.
"""

import functools
import math
import os
from pathlib import Path

__all__ = ["usable_cpus", "cgroup_cpu_limit"]

_CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
_CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def cgroup_cpu_limit(v2_text=None, v1_quota=None, v1_period=None):
    """The CPU quota of this process's cgroup in cores (a float; ``None`` without a quota or a readable cgroup).

    cgroup v2 writes ``"<quota> <period>"`` (microseconds, quota ``max`` for none) in ``cpu.max``; v1 writes the two
    numbers to ``cpu.cfs_quota_us`` (``-1`` for none) and ``cpu.cfs_period_us``. The arguments replace the files'
    contents (for tests).
    """
    try:
        if v2_text is None and v1_quota is None and _CGROUP_V2.is_file():
            v2_text = _CGROUP_V2.read_text()
        if v2_text is not None:
            quota, _, period = v2_text.strip().partition(" ")
            return None if quota == "max" else int(quota) / int(period or 100_000)
        if v1_quota is None and _CGROUP_V1[0].is_file():
            v1_quota, v1_period = _CGROUP_V1[0].read_text(), _CGROUP_V1[1].read_text()
        if v1_quota is not None:
            quota, period = int(v1_quota), int(v1_period)
            return None if quota <= 0 or period <= 0 else quota / period
    except (OSError, ValueError, ZeroDivisionError):
        return None
    return None


@functools.lru_cache(maxsize=1)
def usable_cpus():
    """Cores this process may use (int >= 1): the CPUs of its affinity mask, at most its cgroup quota rounded up."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = cgroup_cpu_limit()
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)
