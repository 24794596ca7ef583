"""Find the interpretable units: those whose activation follows a feature of the text.

Shapes: T positions, H hidden size (units per layer), L layers.

Each unit's activation (tanh(c) for the LSTMs, h otherwise: ``activations.ACTIVATION``) is
correlated (Pearson's r) with each feature of ``text_features``, over all positions; the
units with the largest |r| are listed, with r's sign (a unit may count down as well as up).
A unit that never changes gets r = 0; a feature that is constant over the text (no quotes in
it, say) has no correlation and is reported as constant.
"""

from typing import Dict, List, Optional, Sequence

import numpy as np


def pearson(A: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Pearson's r of every column of A (T, H) with f (T,) -> (H,); 0 for a constant column."""
    A = A - A.mean(axis=0)  # (T, H) float64
    f = f - f.mean()
    norms = np.sqrt((A * A).sum(axis=0) * (f @ f))  # (H,)
    r = np.zeros(A.shape[1])
    np.divide(f @ A, norms, out=r, where=norms > 0)
    return np.clip(r, -1.0, 1.0)


def correlations(activations: List[np.ndarray], features: Dict[str, np.ndarray]) -> Dict[str, Optional[np.ndarray]]:
    """feature name -> r (L, H) of every unit of every layer, or None when the feature is constant."""
    centred = [a.astype(np.float64) for a in activations]  # per layer (T, H)
    out = {}
    for name, f in features.items():
        out[name] = None if np.ptp(f) == 0 else np.stack([pearson(a, f) for a in centred])
    return out


def rank(r: np.ndarray, top: int, layers: Optional[Sequence[int]] = None) -> List[dict]:
    """The ``top`` units of r (L, H) by |r|, largest first (ties: lower layer, then lower unit),
    restricted to ``layers`` if given: [{"layer", "unit", "r"}]."""
    layers = range(r.shape[0]) if layers is None else layers
    candidates = [(l, u) for l in layers for u in range(r.shape[1])]
    strength = np.array([-abs(r[l, u]) for l, u in candidates])
    order = np.argsort(strength, kind="stable")[:top]
    return [{"layer": candidates[k][0], "unit": candidates[k][1], "r": float(r[candidates[k]])} for k in order]
