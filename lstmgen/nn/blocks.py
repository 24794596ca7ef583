"""Elementwise work over blocks of rows, run by several threads at once.

NumPy releases the GIL inside its loops, so threads working on disjoint blocks of one large
array use several cores for the softmax and the optimiser, which would otherwise run on one
core while BLAS uses them all. Each block's work is independent and written in place, so the
results do not depend on how many threads there are (sums over rows are left to the caller).
Threads are made per call and joined before it returns: no pool. The one piece of state is an
optional cap on their number, which ``lstmgen.training.threads`` sets with the BLAS thread count (a busy
machine: fewer threads than cores); results never depend on it. A thread that is itself one of
several workers (the shard workers of ``nn/shards.py``) runs its blocks inline (``inline``), so
that the threads never outnumber the budget.
"""

import os
import threading


def cores() -> int:
    """The number of CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


_limit = [None]  # at most this many threads; None: one per core
_local = threading.local()  # .inline: this thread is one of several workers, its blocks run inline


def set_thread_limit(n):
    """Cap the threads of ``for_blocks`` at n (None: one per core); returns the previous cap."""
    previous, _limit[0] = _limit[0], n
    return previous


def workers() -> int:
    """Threads ``for_blocks`` may use: the cores, or the cap when it is lower."""
    n = cores()
    return n if _limit[0] is None else max(1, min(n, _limit[0]))


def inline(on: bool) -> bool:
    """Run this thread's ``for_blocks`` inline (one block) while ``on``; returns the previous setting."""
    previous, _local.inline = getattr(_local, "inline", False), on
    return previous


def for_blocks(fn, n: int, min_block: int) -> None:
    """Call fn(start, stop) on consecutive blocks covering range(n), one block per thread, with
    at most ``workers()`` blocks and none smaller than ``min_block`` (small n: one call, inline).
    The first error raised in any block is raised here, after every block has finished."""
    k = 1 if getattr(_local, "inline", False) else max(1, min(workers(), n // max(1, min_block)))
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
