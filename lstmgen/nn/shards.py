"""Data parallelism over threads: a batch's streams cut into a fixed number of shards, computed
side by side by worker threads, their parts summed in a fixed order.

    streams:  0 1 ... 31 | 32 33 ... 63       N = 64, train.shards = 2
              shard 0    | shard 1
    threads:  the caller | worker 1           two threads; one thread: shard 0, then shard 1

The cut is the run's (``train.shards``, saved with its config); the threads only decide who
computes which shard. Each shard's loss and gradients are its streams' share of the batch's
mean, as one process of a data-parallel run computes them (``LanguageModel.loss_and_grads(...,
streams=)``, parallel/trainer.py), each into a gradient buffer of its own; the parts are then
summed in shard order, g = g_0 + g_1 + ..., element by element. The dropout masks are drawn
once for the whole batch and cut. So one thread computing the shards in turn and two threads
computing one each give bitwise the same numbers, and the load governor (training/threads.py)
may change the thread count between any two steps. With one shard it is the single call.

A process of a data-parallel run cuts its own streams the same way (``streams=``); evaluation
cuts the columns of each window (``Shards.nll``).

Workers: threads kept for the life of the process, since the cells and the model keep their
buffers per thread (nn/workspace.py) and a shard should find its buffers made. A call uses
w = min(shards, ``blocks.workers()``) threads, the caller first; shard i runs on thread i mod w.
While several run, each runs its ``blocks.for_blocks`` inline, and training/threads.py gives
BLAS one thread per worker (``thread_budget(n, shards)``): never more busy threads than the budget.
"""

import queue
import threading
from functools import partial
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import blocks

Arrays = Dict[str, np.ndarray]
_SUM_BLOCK = 2**16  # elements of a gradient worth a thread of the shards' sum

_workers: List["_Worker"] = []  # workers 1, 2, ... (the caller is worker 0), started when first needed
_workers_lock = threading.Lock()


class _Worker:
    """One thread that runs the tasks put in its inbox, in order, and reports each to its caller."""

    def __init__(self):
        self.inbox = queue.SimpleQueue()  # (task, index, the caller's done queue)
        threading.Thread(target=self._loop, name="lstmgen-shard", daemon=True).start()

    def _loop(self):
        blocks.inline(True)
        while True:
            task, i, done = self.inbox.get()
            try:
                done.put((i, task(), None))
            except BaseException as e:  # noqa: B902 (re-raised in the caller's thread)
                done.put((i, None, e))


def run_all(tasks: Sequence[Callable]) -> list:
    """Call every task, task i on thread i mod w (w = min(len(tasks), ``blocks.workers()``),
    thread 0 the caller); their results in order. The first error is raised after all finished."""
    w = max(1, min(blocks.workers(), len(tasks)))
    if w == 1:
        return [task() for task in tasks]
    with _workers_lock:
        while len(_workers) < w - 1:
            _workers.append(_Worker())
    done = queue.SimpleQueue()
    for i, task in enumerate(tasks):
        if i % w:
            _workers[i % w - 1].inbox.put((task, i, done))
    results, errors = [None] * len(tasks), {}
    previous = blocks.inline(True)
    try:
        for i in range(0, len(tasks), w):
            try:
                results[i] = tasks[i]()
            except BaseException as e:  # noqa: B902 (raised below, once the workers are done)
                errors[i] = e
                break
    finally:
        blocks.inline(previous)
        for _ in range(len(tasks) - len(range(0, len(tasks), w))):  # every task given to a worker
            i, result, error = done.get()
            results[i] = result
            if error is not None:
                errors[i] = error
    if errors:
        raise errors[min(errors)]
    return results


def cut(streams: slice, count: int) -> List[slice]:
    """Streams a:b in ``count`` runs as equal as can be (fewer when there are fewer streams)."""
    a, n = streams.start, streams.stop - streams.start
    k = max(1, min(count, n))
    return [slice(a + n * j // k, a + n * (j + 1) // k) for j in range(k)]


class Shards:
    """``LanguageModel.loss_and_grads`` and ``nll`` over the batch cut into ``count`` shards
    (see the module docstring): the same numbers whatever the threads."""

    def __init__(self, model, count: int):
        self.model, self.count = model, count
        self._grads: List[Arrays] = []  # a gradient buffer per shard, keyed like params

    def _buffers(self, params: Arrays, k: int) -> List[Arrays]:
        """k gradient buffers shaped like ``params``, kept between steps."""
        fits = lambda g: all(g[key].shape == v.shape and g[key].dtype == v.dtype for key, v in params.items())  # noqa
        if len(self._grads) < k or not all(g.keys() == params.keys() and fits(g) for g in self._grads[:k]):
            self._grads = [{key: np.empty_like(v) for key, v in params.items()} for _ in range(k)]
        return self._grads[:k]

    def loss_and_grads(self, params: Arrays, x: np.ndarray, y: np.ndarray, state: Arrays,
                       rng: Optional[np.random.Generator] = None, streams: Optional[slice] = None,
                       out: Optional[Arrays] = None) -> Tuple[float, Arrays, Arrays]:
        """As ``LanguageModel.loss_and_grads`` (``streams``: this process's streams, cut in
        turn; ``state`` holds them). The gradients are ``out``'s arrays if given, else buffers
        of this object that the next call overwrites."""
        T, N = x.shape
        whole = streams if streams is not None else slice(0, N)
        parts = cut(whole, self.count)
        if len(parts) == 1:
            return self.model.loss_and_grads(params, x, y, state, rng, streams, out)
        masks = self.model.draw_masks(rng, T, N) if rng is not None else None  # all N streams, then cut
        grads = self._buffers(params, len(parts) - (out is not None))
        grads = [out] + grads if out is not None else grads
        tasks = [partial(self.model.loss_and_grads, params, x, y, _rows(state, part, whole.start), None, part,
                         grads[j], masks) for j, part in enumerate(parts)]
        results = run_all(tasks)
        loss = results[0][0]
        for part_loss, _, _ in results[1:]:
            loss += part_loss  # in shard order
        _sum_into(grads[0], grads[1:])
        return loss, grads[0], _joined([new_state for _, _, new_state in results])

    def nll(self, params: Arrays, x: np.ndarray, y: np.ndarray, state: Arrays) -> Tuple[float, Arrays]:
        """As ``LanguageModel.nll``: the columns of x (T, N) cut into shards, their sums added in order."""
        parts = cut(slice(0, x.shape[1]), self.count)
        if len(parts) == 1:
            return self.model.nll(params, x, y, state)
        results = run_all([partial(self.model.nll, params, x[:, part], y[:, part], _rows(state, part, 0))
                           for part in parts])
        total = results[0][0]
        for part_nll, _ in results[1:]:
            total += part_nll  # in shard order
        return total, _joined([new_state for _, new_state in results])


def _rows(state: Arrays, part: slice, start: int) -> Arrays:
    """The state of streams ``part`` from a state that holds streams start, start + 1, ..."""
    return {k: v[part.start - start:part.stop - start] for k, v in state.items()}


def _joined(states: List[Arrays]) -> Arrays:
    """The shards' states (N_j, H) side by side, in shard order: (N, H) each."""
    return {k: np.concatenate([s[k] for s in states]) for k in states[0]}


def _sum_into(total: Arrays, parts: List[Arrays]) -> None:
    """total += parts[0] + parts[1] + ..., element by element in that order (blocks of each
    gradient on parallel threads: the same sums whatever their number)."""
    for key, t in total.items():
        flat = t.reshape(-1)  # a view: gradients are contiguous
        adds = [p[key].reshape(-1) for p in parts]

        def add(start, stop, flat=flat, adds=adds):
            for a in adds:
                flat[start:stop] += a[start:stop]
        blocks.for_blocks(add, flat.size, _SUM_BLOCK)
