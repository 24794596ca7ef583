"""The dropout masks beyond the standard one (which is ``layers.dropout_mask``).

Shapes: T time steps, N batch, F features (E or H), V vocabulary size. Every mask is inverted
dropout: kept entries are scaled by 1 / (1 - p), so nothing changes at evaluation time, and
every function returns None when p == 0 (drawing no random numbers, so turning a kind of
dropout off does not change the masks of the others).

- ``locked_mask``: variational (locked) dropout, Gal & Ghahramani (2016): one mask per
  stream, shared by all T steps of the window, shape (1, N, F), broadcast over time. The same
  units stay dropped for the whole window, so the network cannot average the noise away
  from one time step to the next.
- ``token_mask``: embedding (whole-token) dropout, Gal & Ghahramani (2016) as used by
  Merity et al. (2017): one mask over the vocabulary, shape (V,), drawn per window; a dropped
  token's whole embedding row is zero wherever it occurs in the window.
"""

import numpy as np


def locked_mask(rng, N, F, p, dtype):
    """(1, N, F) mask for (T, N, F) activations, the same at every time step; None when p == 0."""
    if p <= 0.0:
        return None
    keep = rng.random((1, N, F), dtype=np.float32) >= p  # (1, N, F)
    return keep.astype(dtype) / dtype.type(1.0 - p)


def token_mask(rng, V, p, dtype):
    """(V,) mask over token ids, applied to whole embedding rows; None when p == 0."""
    if p <= 0.0:
        return None
    keep = rng.random(V, dtype=np.float32) >= p  # (V,)
    return keep.astype(dtype) / dtype.type(1.0 - p)
