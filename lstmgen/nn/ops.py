"""Element-wise helpers shared by the recurrent cells (NumPy only, in place where it pays)."""

import numpy as np


def sigmoid_(a):
    """σ(a) in place, as ½(1 + tanh(a/2)): exact, never overflows, one transcendental."""
    a *= 0.5
    np.tanh(a, out=a)
    a *= 0.5
    a += 0.5
    return a


def own(arr, shape, dtype):
    """A writable copy of arr in dtype, or zeros when arr is None (a missing dnew_state)."""
    return np.zeros(shape, dtype) if arr is None else np.array(arr, dtype=dtype, copy=True)


def uniform_weight(rng, shape, H, dtype):
    """uniform(-1/√H, 1/√H), PyTorch's default for recurrent weights."""
    bound = 1.0 / np.sqrt(H)
    return rng.uniform(-bound, bound, shape).astype(dtype)
