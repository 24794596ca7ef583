"""The dropout masks: the standard one, and the locked and whole-token kinds built on it.

Shapes: T time steps, N batch, F features (E or H), V vocabulary size. Every mask is inverted
dropout: kept entries are scaled by 1 / (1 - p), so nothing changes at evaluation time, and
every function returns None when p == 0 (drawing no random numbers, so turning a kind of
dropout off does not change the masks of the others).

- ``dropout_mask``: standard dropout, a fresh mask for every element of ``shape``.
- ``locked_mask``: variational (locked) dropout, Gal & Ghahramani (2016): one mask per
  stream, shared by all T steps of the window, shape (1, N, F), broadcast over time. The same
  units stay dropped for the whole window, so the network cannot average the noise away
  from one time step to the next.
- ``token_mask``: embedding (whole-token) dropout, Gal & Ghahramani (2016) as used by
  Merity et al. (2017): one mask over the vocabulary, shape (V,), drawn per window; a dropped
  token's whole embedding row is zero wherever it occurs in the window.
"""

import numpy as np


def dropout_mask(rng, shape, p, dtype):
    """Inverted dropout: keep with probability 1 - p and scale by 1 / (1 - p); None when p == 0."""
    if p <= 0.0:
        return None
    keep = rng.random(shape, dtype=np.float32) >= p  # shape
    return keep.astype(dtype) / dtype.type(1.0 - p)


def locked_mask(rng, N, F, p, dtype):
    """(1, N, F) mask for (T, N, F) activations, the same at every time step; None when p == 0."""
    return dropout_mask(rng, (1, N, F), p, dtype)


def token_mask(rng, V, p, dtype):
    """(V,) mask over token ids, applied to whole embedding rows; None when p == 0."""
    return dropout_mask(rng, V, p, dtype)
