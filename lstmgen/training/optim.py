"""Optimisers, gradient clipping and learning-rate schedules. NumPy only, no I/O.

Parameters and gradients are dicts with the same keys; optimisers update parameters in place.
Every stateful object here gives its state as ``state_arrays()`` (NumPy arrays, saved in
``optimizer.npz``) and ``state_dict()`` (JSON-ready numbers), and takes it back with ``load``,
so a resumed run continues exactly where it stopped.
"""

import math
from typing import Dict, Optional

import numpy as np

from ..nn.blocks import for_blocks

Arrays = Dict[str, np.ndarray]


def clip_grad_norm(grads: Arrays, max_norm: float) -> float:
    """Scale all gradients together so their global L2 norm is at most ``max_norm`` (0 = off).

    Returns the norm before clipping.
    """
    norm = math.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads.values()))
    if max_norm > 0 and norm > max_norm:
        scale = max_norm / (norm + 1e-6)
        for g in grads.values():
            g *= scale
    return norm


def decay_weights(params: Arrays, lr: float, weight_decay: float) -> None:
    """Decoupled weight decay (Loshchilov & Hutter, 2019): p -= lr * weight_decay * p, in place.

    Applied before the optimiser's step (AdamW for Adam, the same rule for SGD), outside the
    gradient, so Adam's per-parameter scaling never touches it. Only weight matrices decay
    (arrays of 2 or more dimensions); biases and peepholes do not. 0 = off.
    """
    if weight_decay <= 0:
        return
    for p in params.values():
        if p.ndim >= 2:
            p *= 1.0 - lr * weight_decay


_BLOCK = 2**16  # elements of a parameter worth a thread of Adam's update


class Adam:
    """Adam (Kingma & Ba, 2015) with bias correction: m, v per parameter, step count t.

    ``step`` allocates nothing: every intermediate goes through one scratch array per
    parameter (not saved: it holds no state), in the same order of operations as the formula.
    Large parameters are updated in blocks of rows by parallel threads (``nn.blocks``).
    """

    def __init__(self, params: Arrays, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8):
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = {k: np.zeros_like(p) for k, p in params.items()}
        self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.scratch = {k: np.empty_like(p) for k, p in params.items()}
        self.t = 0

    def step(self, params: Arrays, grads: Arrays, lr: float) -> None:
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        step_size = lr * math.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        eps = self.eps * math.sqrt(1 - b2**self.t)  # eps on the bias-corrected v, folded in
        for k, param in params.items():
            arrays = (param, grads[k], self.m[k], self.v[k], self.scratch[k])

            def block(start, stop):  # rows start:stop of every array (views)
                p, g, m, v, tmp = (a[start:stop] for a in arrays)
                m *= b1
                m += np.multiply(g, 1 - b1, out=tmp)  # m = b1 m + (1 - b1) g
                v *= b2
                np.multiply(g, g, out=tmp)
                v += np.multiply(tmp, 1 - b2, out=tmp)  # v = b2 v + (1 - b2) g^2
                denom = np.sqrt(v, out=tmp)
                denom += eps
                update = np.divide(m, denom, out=tmp)
                p -= np.multiply(update, step_size, out=tmp)  # p -= step_size m / (sqrt(v) + eps)

            for_blocks(block, len(param), _BLOCK // max(1, param[0].size) + 1)

    def state_arrays(self) -> Arrays:
        return {**{f"m:{k}": m for k, m in self.m.items()}, **{f"v:{k}": v for k, v in self.v.items()}}

    def state_dict(self) -> dict:
        return {"name": "adam", "t": self.t}

    def load(self, arrays: Arrays, state: dict) -> None:
        for k in self.m:
            self.m[k][...] = arrays[f"m:{k}"]
            self.v[k][...] = arrays[f"v:{k}"]
        self.t = int(state["t"])


class SGD:
    """Stochastic gradient descent with (heavy-ball) momentum: buf = mu buf + g; p -= lr buf."""

    def __init__(self, params: Arrays, momentum: float = 0.9):
        self.momentum = momentum
        self.buf = {k: np.zeros_like(p) for k, p in params.items()}

    def step(self, params: Arrays, grads: Arrays, lr: float) -> None:
        for k, p in params.items():
            buf = self.buf[k]
            buf *= self.momentum
            buf += grads[k]
            p -= lr * buf

    def state_arrays(self) -> Arrays:
        return {f"buf:{k}": b for k, b in self.buf.items()}

    def state_dict(self) -> dict:
        return {"name": "sgd"}

    def load(self, arrays: Arrays, state: dict) -> None:
        for k in self.buf:
            self.buf[k][...] = arrays[f"buf:{k}"]


def make_optimizer(train_cfg, params: Arrays):
    if train_cfg.optimizer == "adam":
        return Adam(params, train_cfg.beta1, train_cfg.beta2)
    return SGD(params, train_cfg.momentum)


class LRSchedule:
    """Learning rate at each step: warm-up, then constant, cosine, linear, plateau, or step.

    - ``constant``: the base rate.
    - ``step``: the base rate times ``lr_decay ** (step // lr_decay_steps)``.
    - ``cosine``, ``linear``: from the base rate down to ``final_lr_ratio`` times it at the end
      of the budget, along half a cosine or a straight line.
    - ``plateau``: the base rate times ``scale``; ``scale`` is multiplied by ``lr_decay``
      each time the validation loss comes out higher than at the previous evaluation.
    A linear warm-up over ``warmup_steps`` multiplies any of them, and one over the first
    ``warmup_fraction`` of the budget; cosine and linear decay over the rest of it.

    The budget's share used, ``progress``, is ``step / max_steps`` or, with a time budget,
    ``seconds / max_time`` where that is larger (whichever ends the run first). A step budget
    gives the same rates on every machine; a time budget gives rates that follow the clock,
    so two runs of one config and seed differ (docs/time-budget.md).
    """

    def __init__(self, kind: str, base_lr: float, lr_decay: float = 0.5, warmup_steps: int = 0,
                 max_steps: Optional[int] = None, lr_decay_steps: int = 1000, *, warmup_fraction: float = 0.0,
                 final_lr_ratio: float = 0.0, max_time: Optional[float] = None):
        self.kind, self.base_lr, self.lr_decay = kind, base_lr, lr_decay
        self.warmup_steps, self.max_steps = warmup_steps, max_steps
        self.lr_decay_steps = lr_decay_steps
        self.warmup_fraction, self.final_lr_ratio, self.max_time = warmup_fraction, final_lr_ratio, max_time
        self.scale = 1.0
        self.last_val_loss: Optional[float] = None

    def progress(self, step: int, seconds: float = 0.0) -> float:
        """The share of the budget used before ``step``, in [0, 1]: steps, or time where it binds."""
        progress = min(1.0, step / max(1, self.max_steps)) if self.max_steps is not None else 0.0
        if self.max_time is not None:
            progress = max(progress, min(1.0, seconds / self.max_time))
        return progress

    def lr(self, step: int, seconds: float = 0.0) -> float:
        """Rate for the update that takes the model from ``step`` to ``step + 1``, ``seconds``
        of the time budget used (read only with ``max_time``)."""
        lr = self.base_lr * self.scale
        if self.kind in ("cosine", "linear") or self.warmup_fraction > 0:
            progress = self.progress(step, seconds)
        if self.kind in ("cosine", "linear"):
            w = self.warmup_fraction  # decay over what the warm-up leaves
            done = (progress - w) / (1.0 - w) if progress > w else 0.0
            shape = 0.5 * (1.0 + math.cos(math.pi * done)) if self.kind == "cosine" else 1.0 - done
            lr *= self.final_lr_ratio + (1.0 - self.final_lr_ratio) * shape
        if self.kind == "step":
            lr *= self.lr_decay ** (step // self.lr_decay_steps)
        if step < self.warmup_steps:
            lr *= (step + 1) / self.warmup_steps
        if self.warmup_fraction > 0:
            lr *= min(1.0, max(progress, self.progress(step + 1, seconds)) / self.warmup_fraction)
        return lr

    def on_eval(self, val_loss: float) -> bool:
        """Record a validation loss; True when the plateau rule lowered the rate."""
        lowered = (self.kind == "plateau" and self.last_val_loss is not None and val_loss > self.last_val_loss)
        if lowered:
            self.scale *= self.lr_decay
        self.last_val_loss = val_loss
        return lowered

    def state_dict(self) -> dict:
        return {"scale": self.scale, "last_val_loss": self.last_val_loss}

    def load(self, state: dict) -> None:
        self.scale = float(state["scale"])
        self.last_val_loss = state["last_val_loss"]
