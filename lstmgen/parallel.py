"""Run a recurrent time loop on two halves of the batch at once, one Python thread each.

A time loop is a chain of small steps: per step one (N, H) x (H, 4H) GEMM and a dozen
elementwise passes over (N, 4H) rows. BLAS with two threads parallelises only the GEMM;
NumPy's elementwise passes run on one core. But the N streams never mix inside the loop, so
two Python threads can each step through time on their own half of the rows, with
single-threaded BLAS: NumPy releases the GIL inside BLAS calls and ufunc loops, so both cores
are busy for the elementwise work too, and there is no two-thread GEMM to stall on.

The split depends only on N and the number of CPUs, never on timing, and each thread writes
only its own rows, so the numbers are the same on every run of the same machine.
(A GEMM over half the rows may round differently from one over all of them, by float32
rounding only.)

BLAS threads are set with threadpoolctl, an optional dependency (``pip install
lstmgen[fast]``). Without it, with one CPU, or with a batch too small to split, the loop runs
once over the whole batch in the calling thread, exactly as before.
"""

import os
import threading
from typing import Callable, List, Tuple

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # optional: fall back to one loop over the whole batch
    threadpool_limits = None

MIN_ROWS = 8  # split only when each part gets at least this many streams


def batch_parts(N: int) -> List[Tuple[int, int]]:
    """The row ranges [(lo, hi), ...] the batch of N streams is split into: two or one."""
    if threadpool_limits is None or (os.cpu_count() or 1) < 2 or N < 2 * MIN_ROWS:
        return [(0, N)]
    half = (N + 1) // 2
    return [(0, half), (half, N)]


def run_parts(fn: Callable[[int, int], None], parts: List[Tuple[int, int]]) -> None:
    """Call fn(lo, hi) for every part: the first in this thread, the others in new threads,
    all with single-threaded BLAS. An exception in any part is raised here."""
    if len(parts) == 1:
        fn(*parts[0])
        return
    errors = []

    def guarded(lo, hi):
        try:
            fn(lo, hi)
        except BaseException as e:  # re-raised in the caller's thread below
            errors.append(e)

    with threadpool_limits(limits=1, user_api="blas"):
        threads = [threading.Thread(target=guarded, args=p) for p in parts[1:]]
        for t in threads:
            t.start()
        guarded(*parts[0])
        for t in threads:
            t.join()
    if errors:
        raise errors[0]
