"""Element-wise helpers shared by the recurrent cells (NumPy only, in place where it pays)."""

import numpy as np

from .vocab_space import Tokens, project_tokens, token_grads


def sigmoid_(a):
    """σ(a) in place, as ½(1 + tanh(a/2)): exact, never overflows, one transcendental."""
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


def writable_copy(arr, shape, dtype):
    """A writable copy of arr in dtype, or zeros when arr is None (a missing dnew_state)."""
    return np.zeros(shape, dtype) if arr is None else np.array(arr, dtype=dtype, copy=True)


def uniform_weight(rng, shape, H, dtype):
    """uniform(-1/√H, 1/√H), PyTorch's default for recurrent weights."""
    bound = 1.0 / np.sqrt(H)
    return rng.uniform(-bound, bound, shape).astype(dtype)


def into(out, grads):
    """``grads`` written into the arrays of ``out`` (same keys and shapes), or ``grads`` when
    ``out`` is None. An array that a backward pass already computed in place (``out``'s own)
    is not copied: callers write the large gradients into ``out`` and let this copy the rest."""
    if out is None:
        return grads
    for k, g in grads.items():
        if g is not out[k]:
            out[k][...] = g
    return out


def project_inputs(x, Wx, b, out):
    """out (T, N, G) = x (T, N, D) W_x (D, G) + b (G,): the input part of every step as one GEMM
    (for ``Tokens``, a lookup in a (V, G) table: nn/vocab_space.py)."""
    if isinstance(x, Tokens):
        return project_tokens(x, Wx, b, out)
    T, N, D = x.shape
    np.matmul(x.reshape(T * N, D), Wx, out=out.reshape(T * N, out.shape[-1]))
    out += b
    return out


def input_grads(da, x, Wx, dx, dWx):
    """Backprop of ``project_inputs`` after a backward time loop, for da (T*N, G): dx = da W_x^T
    written into ``dx`` (T, N, D) and dW_x = X^T da into ``dWx`` (D, G), large GEMMs over all
    T·N rows; for ``Tokens``, dx is the table's gradient (V, D) (nn/vocab_space.py)."""
    if isinstance(x, Tokens):
        token_grads(x, da, Wx, dx, dWx)
        return
    T, N, D = x.shape
    np.matmul(da, Wx.T, out=dx.reshape(T * N, D))  # backprop through x_t W_x, all t at once
    np.matmul(x.reshape(T * N, D).T, da, out=dWx)  # X^T da


def input_and_weight_grads(da, x, h_in, W, dx, dW=None):
    """After a backward time loop: dx and dW_x as ``input_grads``; returns dW (D+H, G) =
    [X | H_prev]^T da (written into ``dW`` when given) and db (G,) = Σ da, for da (T, N, G),
    x (T, N, D) or ``Tokens``, h_in (T, N, H) the states each step read, W (D+H, G)."""
    T, N, D = x.shape
    da = da.reshape(T * N, -1)  # (T*N, G)
    dW = np.empty(W.shape, da.dtype) if dW is None else dW  # (D+H, G)
    input_grads(da, x, W[:D], dx, dW[:D])
    np.matmul(h_in.reshape(T * N, h_in.shape[-1]).T, da, out=dW[D:])  # H_prev^T da
    return dW, da.sum(axis=0)


def take_from_cache(cache, key, owner):
    """Pop the buffer that a backward pass overwrites; a second backward on the cache is an error."""
    buf = cache.pop(key, None)
    if buf is None:
        raise ValueError(f"{owner}.backward: this cache was already consumed by a backward pass")
    return buf


def backward_product(Wh, N, dtype, buffer=np.empty):
    """A function (da (N, G), out (N, H)) -> out = da W_h^T, for the per-step product of a
    backward pass through time, with W_h (H, G). For few rows (N <= 32) it computes
    (W_h da^T)^T, which OpenBLAS runs faster there; for more, da times a contiguous copy of
    W_h^T, which beats the transposed view da W_h.T (benchmarks/RESULTS.md).
    ``buffer(shape, dtype)`` makes its one buffer (a cell passes a kept one)."""
    H = Wh.shape[0]
    if N <= 32:
        dhT = buffer((H, N), dtype)  # (H, N) W_h da^T

        def product(da, out):
            np.matmul(Wh, da.T, out=dhT)
            np.copyto(out, dhT.T)
            return out
        return product
    WhT = buffer(Wh.shape[::-1], Wh.dtype)  # (G, H)
    np.copyto(WhT, Wh.T)
    return lambda da, out: np.matmul(da, WhT, out=out)


def step_product(W, N):
    """A function (v (N, K), out (N, G)) -> out = v W for the GEMV or small GEMM of a sampling
    step, with W (K, G). For one stream it multiplies a contiguous copy of W^T, made once:
    OpenBLAS then gives each thread a contiguous block of rows, which stays in that core's
    cache from token to token (faster than v W: benchmarks/RESULTS.md)."""
    if N != 1:
        return lambda v, out: np.matmul(v, W, out=out)
    WT = np.ascontiguousarray(W.T)  # (G, K)
    return lambda v, out: np.matmul(WT, v[0], out=out[0])


def alternate(shape, dtype):
    """A function that returns, call after call, the two halves of one (2, *shape) buffer in
    turn: where a stepper writes each new state, so that a returned state stays valid until
    the second call after it, and nothing is allocated per step."""
    halves = np.empty((2, *shape), dtype)
    turn = [1]

    def next_half():
        turn[0] ^= 1
        return halves[turn[0]]
    return next_half
