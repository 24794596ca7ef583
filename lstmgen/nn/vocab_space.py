"""Layer 0's input products in vocabulary space: for token ids, x_t W_x is a row lookup.

Shapes: T time steps, N batch, M = T·N rows, D input size (the embedding width E), G the
cell's fused gate width (4H, 3H or H), V vocabulary size.

The first layer's input is an embedding lookup, x = E[ids], so its input projection
    x W_x + b  (M, G)  =  P[ids]   with the table  P = E W_x + b  (V, G),
made once per window: V·D·G multiply-adds instead of M·D·G. Backward likewise: with
S (V, G) the per-token sums of the pre-activation gradients da (S[v] = Σ of da's rows whose
id is v),
    dW_x = x^T da = E^T S   (D, G)         dE (from this layer) = S W_x^T   (V, D)
and the (M, D) gradient of x, its GEMM and the embedding's own backward are not needed. The
same numbers up to float rounding (the sums run in another order); it pays where V < M, so
character models, and only where nothing stands between the lookup and layer 0 (embedding
and input dropout scale x per token and per stream: those windows keep the (M, D) path).

A cell's x may be a ``Tokens`` instead of an array: ``ops.project_inputs`` and the input
gradients (``ops.input_grads``) take either, and the cell's dx is then the gradient of the
table E, (V, D) (``grad_shape``). Sampling's ``Stepper`` looks up the same table
(``vocab_table``).

Determinism: S is summed in one thread, each token's rows in their order in the window, so
the same window gives the same bits every run whatever the thread count.
"""

import numpy as np


class Tokens:
    """A cell's input x (T, N, D) given as ids (T, N) into an embedding table E (V, D)."""

    def __init__(self, ids: np.ndarray, table: np.ndarray):
        self.ids, self.table = ids, table  # (T, N) ints, (V, D)
        self.shape = (*ids.shape, table.shape[1])  # (T, N, D), as the array it stands for
        self.dtype = table.dtype


def grad_shape(x):
    """The shape of a cell's dx for input x: x's own, or (V, D) for ``Tokens``."""
    return x.table.shape if isinstance(x, Tokens) else x.shape


def vocab_table(table, Wx, b, out=None):
    """P (V, G) = E (V, D) W_x (D, G) + b (G,): every token's input projection, x W_x + b."""
    P = np.matmul(table, Wx, out=out)  # (V, G)
    P += b
    return P


def project_tokens(x: Tokens, Wx, b, out):
    """out (T, N, G) = P[ids], the rows of the table ``vocab_table`` for every step."""
    V, G = x.table.shape[0], Wx.shape[1]
    ids = x.ids.reshape(-1)  # (M,)
    if ids.size and not (-V <= ids.min() and ids.max() < V):  # as P[ids] would: no id outside the table
        raise IndexError(f"token id out of range for a vocabulary of {V}")
    P = vocab_table(x.table, Wx, b, np.empty((V, G), out.dtype))  # (V, G)
    np.take(P, ids, axis=0, out=out.reshape(-1, G), mode="wrap")  # "wrap": ~5x faster than "raise" into out
    return out


def token_sums(ids, da, V):
    """S (V, G): S[v] = the sum of the rows of da (M, G) whose id in ids (M,) is v (zero for
    ids absent). Each id's rows are added in their order in the window, one id at a time (a
    stable sort finds them): faster here than np.add.at, np.add.reduceat on axis 0 or a
    one-hot (V, M) GEMM (benchmarks/RESULTS.md), and the same bits every run."""
    order = np.argsort(ids, kind="stable")  # (M,) the rows of each id together, in their order
    sorted_ids = ids[order]
    bounds = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1], True])  # each id's first row, then M
    S = np.zeros((V, da.shape[1]), da.dtype)  # (V, G)
    for start, stop in zip(bounds[:-1], bounds[1:]):
        np.sum(da[order[start:stop]], axis=0, out=S[sorted_ids[start]])
    return S


def token_grads(x: Tokens, da, Wx, dx, dWx):
    """Backprop of ``project_tokens`` for da (M, G): writes dE = S W_x^T into dx (V, D) and
    dW_x = E^T S into dWx (D, G)."""
    S = token_sums(x.ids.reshape(-1), da, x.table.shape[0])  # (V, G)
    np.matmul(S, Wx.T, out=dx)  # (V, D) backprop through the lookup P[ids] and P = E W_x
    np.matmul(x.table.T, S, out=dWx)  # (D, G)
