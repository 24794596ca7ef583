"""Token ids -> N parallel streams -> time-major (x, y) windows of T steps.

One long stream of ids is cut into ``batch_size`` (N) equal columns that are read side by
side, ``seq_len`` (T) tokens at a time; the targets are the inputs shifted by one token:

    ids:   a b c d e f g h i j k l m n o p q r s t u v w x y      (N = 4, T = 3)

    stream 0:  a b c d e f        window 0      window 1
    stream 1:  g h i j k l        x: a b c      x: d e f
    stream 2:  m n o p q r           g h i         j k l   ...
    stream 3:  s t u v w x        y: b c d      y: e f g  (y of stream 0 runs into g,
                                                            the first token of stream 1)

Window k+1 continues where window k stopped in every stream, so the recurrent state
carried from one window to the next is exactly the state of one long sequence (truncated
BPTT: gradients stop at the window edge, the state does not). The cost of the layout: the N
streams are 1/N of the corpus apart, and up to N·T tokens at the end are not used in an epoch.
"""

from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import DataError


def check_size(count: int, batch_size: int, seq_len: int, split: str) -> None:
    """A split of ``count`` tokens must fill one batch: N streams of T inputs, and one more target."""
    need = batch_size * seq_len + 1
    if count < need:
        raise DataError(
            f"the {split} split has {count} tokens, but one batch needs batch_size x seq_len + 1 = "
            f"{batch_size} x {seq_len} + 1 = {need}; use a longer corpus or lower train.batch_size / train.seq_len"
        )


class Batches:
    """The (x, y) windows of one split; ``x, y = batches.window(k)``, each (T, N) int32."""

    def __init__(self, ids: np.ndarray, batch_size: int, seq_len: int, split: str = "training"):
        check_size(len(ids), batch_size, seq_len, split)
        self.batch_size, self.seq_len = batch_size, seq_len
        L = (len(ids) - 1) // batch_size  # tokens per stream
        self.num_windows = L // seq_len
        used = batch_size * L
        self.x = np.ascontiguousarray(ids[:used].reshape(batch_size, L))  # (N, L)
        self.y = np.ascontiguousarray(ids[1 : used + 1].reshape(batch_size, L))  # (N, L)

    @property
    def tokens_per_window(self) -> int:
        return self.batch_size * self.seq_len

    def window(self, k: int):
        """Inputs and targets of window k, time-major: (T, N) each."""
        t0 = k * self.seq_len
        x = np.ascontiguousarray(self.x[:, t0 : t0 + self.seq_len].T)  # (T, N)
        y = np.ascontiguousarray(self.y[:, t0 : t0 + self.seq_len].T)  # (T, N)
        return x, y


class FileBatches:
    """``Batches`` read from a token file on disk (``token_cache``): the same windows, in the
    same order, but each window's N rows of T + 1 tokens are read when it is asked for, so
    memory does not grow with the corpus. ``path`` holds ``count`` ids of ``dtype``, raw."""

    def __init__(self, path, dtype, count: int, batch_size: int, seq_len: int, split: str = "training"):
        check_size(count, batch_size, seq_len, split)
        self.path, self.dtype = Path(path), np.dtype(dtype)
        self.batch_size, self.seq_len = batch_size, seq_len
        self.stream_len = (count - 1) // batch_size  # L, tokens per stream
        self.num_windows = self.stream_len // seq_len

    @property
    def tokens_per_window(self) -> int:
        return self.batch_size * self.seq_len

    def window(self, k: int):
        """Inputs and targets of window k, time-major: (T, N) each, int32."""
        T, size = self.seq_len, self.dtype.itemsize
        rows = np.empty((self.batch_size, T + 1), dtype=self.dtype)  # (N, T + 1)
        with open(self.path, "rb") as f:
            for n in range(self.batch_size):
                f.seek((n * self.stream_len + k * T) * size)
                rows[n] = np.frombuffer(f.read((T + 1) * size), dtype=self.dtype)
        x = np.ascontiguousarray(rows[:, :T].T, dtype=np.int32)  # (T, N)
        y = np.ascontiguousarray(rows[:, 1:].T, dtype=np.int32)  # (T, N)
        return x, y


def share(n: int, procs: int, rank: int) -> slice:
    """Rank ``rank``'s run of ``n`` items split as evenly as possible (some may get none):
    evaluation streams, whose number depends on the text, not on the config."""
    return slice(n * rank // procs, n * (rank + 1) // procs)


def eval_windows(ids: np.ndarray, batch_size: int, seq_len: int, part=(0, 1), max_targets: Optional[int] = None):
    """Every (x, y) window of an evaluation text: each id after the first is a target, scored once.

    The n = len(ids) - 1 targets are cut into N equal columns of L = n // N, read side by
    side from a zero state, T = ``seq_len`` steps per window (the last one possibly shorter).
    N is ``batch_size``, fewer when the text is short (a column gets at least T targets, and
    there is at least one column). The r = n - N L < N targets left over follow the last
    column: a final window (r, 1) that continues the last column's state.

        ids:  a b c d e f g h i j k     n = 10 targets, N = 3, L = 3, r = 1

        column 0 reads a b c, scores b c d
        column 1 reads d e f, scores e f g     (from a zero state: it does not see a b c)
        column 2 reads g h i, scores h i j;  the tail (1, 1) reads j, scores k

    With N = 1 this is one stream over the whole text, as ``score`` reads it. ``part = (rank,
    P)`` keeps rank's ``share`` of the columns, and the tail with the last column
    (data-parallel evaluation: the P parts together score exactly the targets of
    ``part=(0, 1)``; a part may be empty).

    ``max_targets`` below n: each column scores only its first ``max_targets // N`` targets
    (at least one) and there is no tail: N stretches spread evenly over the text, the same
    ones every time (``train.eval_tokens``).
    """
    n_targets = len(ids) - 1
    if n_targets < 1:
        return
    N = max(1, min(batch_size, n_targets // max(1, seq_len)))
    L = n_targets // N
    streams = share(N, part[1], part[0])
    if streams.start == streams.stop:
        return
    read = L if max_targets is None or max_targets >= n_targets else min(L, max(1, max_targets // N))
    x_all = ids[: N * L].reshape(N, L)[streams]  # (N_r, L)
    y_all = ids[1 : N * L + 1].reshape(N, L)[streams]  # (N_r, L)
    for t0 in range(0, read, seq_len):
        t1 = min(t0 + seq_len, read)
        yield (np.ascontiguousarray(x_all[:, t0:t1].T, dtype=np.int32),  # (T', N_r)
               np.ascontiguousarray(y_all[:, t0:t1].T, dtype=np.int32))  # (T', N_r)
    if read == L and N * L < n_targets and streams.stop == N:  # the tail continues the last column
        yield (np.ascontiguousarray(ids[N * L : n_targets, None], dtype=np.int32),  # (r, 1)
               np.ascontiguousarray(ids[N * L + 1 :, None], dtype=np.int32))  # (r, 1)
