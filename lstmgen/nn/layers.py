"""The small layers around the recurrent cells: embedding and linear softmax head.

Shapes: T time steps, N batch, E embedding size, H hidden size, V vocabulary size. Inputs
are time-major: token ids ``x`` are ``(T, N)``. Every forward returns what its backward needs;
every backward takes the upstream gradient and returns ``d``-prefixed twins.
"""

import numpy as np

from .blocks import for_blocks


def embedding_forward(W, x):
    """Look up rows of ``W`` (V, E) for ids ``x`` (T, N) -> (T, N, E)."""
    return W[x]  # (T, N, E)


def embedding_backward(W, x, demb, out=None):
    """Sum ``demb`` (T, N, E) into a gradient shaped like ``W`` (written into ``out`` when
    given); ids may repeat.

    Sorts the ids and sums each id's rows with one ``np.add.reduceat`` (faster than np.add.at,
    which adds one row at a time: benchmarks/RESULTS.md).
    """
    ids = x.reshape(-1)  # (T*N,)
    order = np.argsort(ids, kind="stable")  # (T*N,) rows of each id together, in their order
    sorted_ids = ids[order]
    starts = np.flatnonzero(np.r_[True, sorted_ids[1:] != sorted_ids[:-1]])  # first row of each id
    dW = np.zeros_like(W) if out is None else out  # (V, E)
    if out is not None:
        dW[...] = 0
    dW[sorted_ids[starts]] = np.add.reduceat(demb.reshape(-1, W.shape[1])[order], starts, axis=0)
    return dW


def head_forward(W, b, h, out=None):
    """Linear head: h (T, N, H) -> logits (T*N, V), written into ``out`` when given."""
    logits = np.matmul(h.reshape(-1, W.shape[0]), W, out=out)  # (T*N, V)
    logits += b
    return logits


def head_backward(W, h, dlogits, dh=None, dW=None, db=None):
    """Backprop of the head: returns dh (T, N, H), dW (H, V), db (V,), each written into the
    array given for it, if any."""
    hflat = h.reshape(-1, W.shape[0])  # (T*N, H)
    dW = np.matmul(hflat.T, dlogits, out=dW)  # (H, V)
    db = np.sum(dlogits, axis=0, out=db)  # (V,)
    dh = np.matmul(dlogits, W.T, out=None if dh is None else dh.reshape(hflat.shape)).reshape(h.shape)  # (T, N, H)
    return dh, dW, db


# a block of rows worth a thread: about 2^17 logits (a fraction of a millisecond)
_BLOCK_LOGITS = 2**17


def cross_entropy_forward(logits, y):
    """Summed negative log-likelihood (nats) of targets y (M,) under logits (M, V), and the
    softmax probabilities (M, V), computed in place in the buffer of ``logits`` (which the
    caller gives up: one pass and a (M, V) allocation fewer than a shifted copy). Blocks of
    rows run in parallel threads; the per-row values are summed once, in one order."""
    M, V = logits.shape
    nll = np.empty(M, np.float64)  # (M,) -log softmax of each target

    def block(start, stop):
        z = logits[start:stop]  # (m, V) view
        z -= z.max(axis=1, keepdims=True)
        picked = z[np.arange(stop - start), y[start:stop]]  # (m,) logit of each target, shifted
        probs = np.exp(z, out=z)
        sums = probs.sum(axis=1, keepdims=True)  # (m, 1)
        nll[start:stop] = np.log(sums[:, 0]) - picked  # -log softmax, no underflow
        probs /= sums

    for_blocks(block, M, _BLOCK_LOGITS // V + 1)
    return float(nll.sum()), logits


def cross_entropy_backward(probs, y, scale):
    """Gradient of ``scale * summed NLL`` w.r.t. the logits; reuses ``probs`` (M, V) in place."""
    M, V = probs.shape

    def block(start, stop):
        d = probs[start:stop]  # (m, V) view
        d[np.arange(stop - start), y[start:stop]] -= 1.0  # d(-log softmax) = softmax - onehot
        d *= scale

    for_blocks(block, M, _BLOCK_LOGITS // V + 1)
    return probs
