"""Initialisation schemes for the fused recurrent weights, chosen by ``model.init``.

A fused weight W of shape (D+H, kH) holds k gate blocks W[:, jH:(j+1)H]; rows W[:D] are the
input part W_x, rows W[D:] the recurrent part W_h. Every scheme treats each gate block as its
own matrix (fan-out H), since each gate is its own linear map:

- ``uniform``: uniform(-1/√H, 1/√H) over all of W, PyTorch's default (each cell does this in
  its own ``init_params``).
- ``xavier``: Glorot & Bengio (2010): uniform(±√(6 / (D + H + H))) per gate block, fan-in D + H.
- ``orthogonal``: Saxe et al. (2014): each H×H recurrent block W_h is a random orthogonal
  matrix (so repeated multiplication neither grows nor shrinks the state at the start), the
  input blocks W_x are Xavier-uniform (fan-in D, fan-out H).
"""

import numpy as np

SCHEMES = ("uniform", "xavier", "orthogonal")


def orthogonal(rng, n, dtype):
    """A random (n, n) orthogonal matrix: QR of a Gaussian matrix, signs fixed so it is uniform."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.sign(np.diag(r))).astype(dtype)  # (n, n)


def fused_weight(rng, scheme, D, H, k, dtype):
    """A (D+H, kH) fused weight under ``xavier`` or ``orthogonal``."""
    W = np.empty((D + H, k * H), dtype)  # (D+H, kH)
    for j in range(k):
        block = W[:, j * H:(j + 1) * H]  # (D+H, H)
        if scheme == "xavier":
            bound = np.sqrt(6.0 / (D + H + H))
            block[...] = rng.uniform(-bound, bound, (D + H, H))
        elif scheme == "orthogonal":
            bound = np.sqrt(6.0 / (D + H))
            block[:D] = rng.uniform(-bound, bound, (D, H))
            block[D:] = orthogonal(rng, H, dtype)
        else:
            raise ValueError(f"unknown initialisation scheme {scheme!r}; expected one of {SCHEMES[1:]}")
    return W
