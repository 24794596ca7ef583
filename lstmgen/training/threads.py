"""How many threads lstmgen computes with, chosen from the cores that are free, and kept right.

On a machine shared with other programs, two BLAS threads that wait on each other through the
small per-step GEMMs of a recurrent loop lose most of their speed as soon as one of them is
descheduled, where one thread keeps all of its own (benchmarks/RESULTS.md, "Under load"). So:

- ``free_cores()`` looks at the machine for a moment: the cores this process may run on, less
  those that other programs keep busy.
- ``thread_budget(n, shards)`` sets the thread count of OpenBLAS (NumPy's BLAS) and of the
  row blocks of ``nn/blocks.py`` for the duration of a ``with`` block, and puts back what was
  there. With shards (``nn/shards.py``: up to n threads each compute a part of the batch) BLAS
  gets one thread, each worker computing with its own: small GEMMs split over two BLAS threads
  wait on each other at every time step, and the element-wise work would run on one core.
- ``Governor`` watches the training step time: now and then it runs a few steps with the other
  thread count and keeps whichever was faster, so it follows load that comes and goes. A run
  that started with fewer threads than cores (another program was busy) probes early.

The results of a step do not depend on the thread count (tested), so switching never changes
the numbers: a run is bitwise the same however its thread count moved.

Nothing here runs on import. The OpenBLAS thread count is set through threadpoolctl when it is
installed, otherwise through the library's own ``openblas_set_num_threads`` found with ctypes;
with neither (another BLAS), only the row blocks follow the budget.
"""

import ctypes
import os
import statistics
import time
from contextlib import contextmanager
from typing import Optional, Union

from ..nn import blocks


def usable_cores() -> int:
    """Cores this process may use: its CPU affinity, capped by OPENBLAS_NUM_THREADS (or
    OMP_NUM_THREADS) when that is set (an MPI launcher or a user sharing out the cores)."""
    n = blocks.cores()
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "")
        if value.isdigit() and int(value) > 0:
            return max(1, min(n, int(value)))
    return n


def _busy_cores(seconds: float) -> Optional[float]:
    """Cores busy over ``seconds`` (all programs, this one included), from /proc/stat."""
    def read():
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields[:8]), idle
    try:
        total0, idle0 = read()
        time.sleep(seconds)
        total1, idle1 = read()
    except (OSError, ValueError, IndexError):
        return None
    if total1 <= total0:
        return None
    return (os.cpu_count() or 1) * (1 - (idle1 - idle0) / (total1 - total0))


def free_cores(seconds: float = 0.2) -> int:
    """Cores this process may use that no other program keeps busy (at least 1). Measured
    while this process is idle, so what is busy is someone else's."""
    usable = usable_cores()
    if usable == 1:  # nothing to choose: skip the look (it sleeps, and every command starts with it)
        return 1
    busy = _busy_cores(seconds)
    if busy is None:
        return usable
    return max(1, min(usable, (os.cpu_count() or 1) - round(busy)))


# ---- setting the thread count -------------------------------------------------------------
_SETTERS = ("openblas_set_num_threads", "openblas_set_num_threads64_", "scipy_openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads")


def _openblas_functions():
    """(get, set) of the OpenBLAS that NumPy has loaded, or None."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _SETTERS:
            setter = getattr(lib, name, None)
            getter = getattr(lib, name.replace("set_", "get_"), None)
            if setter is not None and getter is not None:
                getter.restype = ctypes.c_int
                return getter, setter
    return None


def blas_threads(n: Optional[int] = None) -> Optional[int]:
    """The BLAS thread count before the call; with ``n``, set it. None where it is unknown."""
    import numpy  # noqa: F401  (the BLAS must be loaded to be found)

    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        functions = _openblas_functions()
        if functions is None:
            return None
        getter, setter = functions
        before = int(getter())
        if n is not None:
            setter(int(n))
        return before
    info = [p for p in threadpool_info() if p.get("user_api") == "blas"]
    before = info[0]["num_threads"] if info else None
    if n is not None:
        threadpool_limits(int(n), user_api="blas")
    return before


def set_budget(n: int, shards: int = 1) -> tuple:
    """Compute with ``n`` threads from now on: the row blocks' and the shard workers' cap, and
    BLAS's count (one with shards > 1: each worker has its own). Returns the previous (BLAS, cap)."""
    return blas_threads(1 if shards > 1 else n), blocks.set_thread_limit(n)


@contextmanager
def thread_budget(n: int, shards: int = 1):
    """Compute with ``n`` threads (``set_budget``) inside the block; restore on exit."""
    blas_before, limit_before = set_budget(n, shards)
    try:
        yield
    finally:
        blocks.set_thread_limit(limit_before)
        if blas_before is not None:
            blas_threads(blas_before)


def resolve(threads: Union[str, int, None]) -> tuple:
    """``train.threads`` / ``--threads`` -> (count to start with, adaptive?, why).

    ``auto``: as many as the cores that are free now, and adaptive; a number: exactly that."""
    if threads in (None, "auto"):
        usable, free = usable_cores(), free_cores()
        why = f"auto: {free} of {usable} usable cores free"
        return free, usable > 1, why
    return int(threads), False, "set"


class Governor:
    """Keeps the faster of two thread counts while training, as the machine's load changes.

    Every ``interval`` steps it times ``probe`` steps with the other count (after one step to
    settle) and compares their median step time with the median of the last ``probe`` steps
    with the current count; the other count is kept if it was at least ``margin`` faster. A
    probe that changes nothing doubles the interval (up to ``max_interval``), so a steady
    machine pays little: about probe / interval of its steps at the slower count. A start with
    fewer threads than ``most`` (a core was busy when the run looked) probes after ``early``
    steps, since the load that kept a core busy is often gone by then (a benchmark or a script
    that started the run right after another program).
    """

    def __init__(self, current: int, most: int, *, interval: int = 50, probe: int = 3,
                 margin: float = 0.05, max_interval: int = 800, early: int = 5, shards: int = 1,
                 set_threads=None):
        self.current, self.other = current, (1 if current > 1 else most)
        self.first_interval, self.max_interval = interval, max_interval
        self.interval = early if current < most else interval
        self.probe, self.margin = probe, margin
        self.set_threads = set_threads or (lambda n: set_budget(n, shards))
        self.recent = []  # step seconds with the current count, the last ``probe``
        self.trial = None  # step seconds with the other count while probing
        self.since = 0  # steps since the last probe

    def step_done(self, seconds: float) -> Optional[str]:
        """Tell the step time of the step just done; returns a message when the count changed."""
        if self.other == self.current:
            return None
        if self.trial is None:
            self.recent = (self.recent + [seconds])[-self.probe:]
            self.since += 1
            if self.since >= self.interval and len(self.recent) == self.probe:
                self.trial = []
                self.set_threads(self.other)
            return None
        self.trial.append(seconds)
        if len(self.trial) < self.probe + 1:  # the first step with the other count settles
            return None
        base, alt = statistics.median(self.recent), statistics.median(self.trial[1:])
        self.trial, self.since = None, 0
        if alt < (1 - self.margin) * base:
            old, self.current, self.other = self.current, self.other, self.current
            self.recent, self.interval = [], self.first_interval
            return (f"threads: {old} -> {self.current} ({base / alt:.2f}x faster now; "
                    f"{'another program is using a core' if self.current < old else 'the cores are free again'})")
        self.set_threads(self.current)
        self.interval = min(self.max_interval, 2 * self.interval)
        return None
