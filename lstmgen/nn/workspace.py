"""Buffers a cell keeps between calls, so that a training step allocates nothing large.

A training step makes the same (T, N, ·) arrays every window: gates, hidden and cell states,
gradients. Freed and made again, each costs page faults when the allocator has handed the
memory back to the system (glibc does, for blocks this large). Like torch-rnn's modules, a
cell keeps them instead, in a ``Workspace``: named buffers, made again only when a shape or
dtype changes. Evaluation runs other T and N than training: the cells with a
``forward_inference`` of their own (LSTM, RNN) keep a second set for it; the others evaluate
in their training set, remade when the shape changes.

The buffers of ``forward`` belong to the cache it returns until ``backward`` consumes it: a
``forward`` called while a live, unconsumed cache still holds them (two windows of full BPTT)
gets fresh arrays instead, so no cache is ever overwritten. A cache that is dropped without a
backward gives them back too. Likewise the ``dx`` of ``backward`` is lent to the caller while
the caller holds it. The rule to rely on: what a call returns (``out``, ``dx``) is valid until
the next call of the same method on the same cell; new states are always fresh copies.
"""

import weakref

import numpy as np


class Cache(dict):
    """What ``forward`` hands to ``backward``: a dict a workspace can tell is still alive."""


class Workspace:
    """Named buffers, remade only when their shape or dtype changes; see the module docstring."""

    def __init__(self):
        self._buffers = {}
        self._holder = None  # weakref to the Cache that holds the buffers now, or None

    def _free(self) -> bool:
        return self._holder is None or self._holder() is None

    def claim(self):
        """A function (name, shape, dtype) -> array for one call: the kept buffer when no live
        cache holds them, else a fresh one (never written into a kept buffer)."""
        if not self._free():
            return lambda name, shape, dtype: np.empty(shape, dtype)
        return self.buffer

    def buffer(self, name, shape, dtype) -> np.ndarray:
        """The kept buffer ``name``, (re)made when its shape or dtype differs; uninitialised."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != tuple(shape) or buf.dtype != dtype:
            buf = self._buffers[name] = np.empty(shape, dtype)
        return buf

    def lend(self, holder, claimed):
        """Mark the buffers as held by ``holder`` (a Cache, or a view returned to the caller)
        while it lives, if ``claimed`` (from ``claim``) gave kept ones. Returns holder."""
        if claimed == self.buffer:
            self._holder = weakref.ref(holder)
        return holder

    def give_back(self, holder) -> None:
        """``holder`` is spent (``backward`` consumed the cache): its buffers may be reused."""
        if self._holder is not None and self._holder() is holder:
            self._holder = None
