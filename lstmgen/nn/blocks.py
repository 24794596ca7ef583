"""Elementwise work over blocks of rows, run by several threads at once.

NumPy releases the GIL inside its loops, so threads working on disjoint blocks of one large
array use several cores for the softmax and the optimiser, which would otherwise run on one
core while BLAS uses them all. Each block's work is independent and written in place, so the
results do not depend on how many threads there are (sums over rows are left to the caller).
Threads are made per call and joined before it returns: no pool, no global state.
"""

import os
import threading


def cores() -> int:
    """The number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def for_blocks(fn, n: int, min_block: int) -> None:
    """Call fn(start, stop) on consecutive blocks covering range(n), one block per thread, with
    at most ``cores()`` blocks and none smaller than ``min_block`` (small n: one call, inline).
    The first error raised in any block is raised here, after every block has finished."""
    k = max(1, min(cores(), n // max(1, min_block)))
    bounds = [n * j // k for j in range(k + 1)]
    if k == 1:
        fn(0, n)
        return
    errors = []

    def run(start, stop):
        try:
            fn(start, stop)
        except BaseException as e:  # noqa: B902 (re-raised in the calling thread)
            errors.append(e)

    threads = [threading.Thread(target=run, args=bounds[j:j + 2]) for j in range(1, k)]
    for th in threads:
        th.start()
    try:
        fn(bounds[0], bounds[1])
    finally:
        for th in threads:
            th.join()
    if errors:
        raise errors[0]
