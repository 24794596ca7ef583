"""Divergence rollback: a training run that diverges goes back to its last checkpoint.

The loop raises ``Diverged`` before a NaN, infinite or exploding loss
(``train.divergence_threshold`` times the lowest training loss so far) reaches the weights.
``rollback_on_divergence`` then rolls back: it resumes from the last checkpoint (every
checkpoint was written while the loss was finite) with the learning rate multiplied by
``train.divergence_lr_factor``, says so, and goes on. After ``train.max_divergences``
rollbacks in one call it gives up with a ``TrainingError``. (The run-directory lock around it
is ``runs/lock.py``'s.)
"""

import copy
import functools
import math
from pathlib import Path
from typing import Optional

from ..runs import checkpoint as ckpt
from ..errors import TrainingError


class Diverged(Exception):
    """Raised by the loop when a step's loss is NaN, infinite or exploding (not a user error)."""

    def __init__(self, step: int, what: str):
        super().__init__(f"step {step}: {what}")
        self.step = step


def lowest_loss(step: int, loss: float, grad_norm: float, lowest: Optional[float], threshold: float) -> float:
    """The lowest training loss so far, ``loss`` included; ``Diverged`` instead when step ``step``'s
    loss or gradient norm is NaN or infinite, or the loss is above ``threshold`` (> 0) times ``lowest``."""
    if not (math.isfinite(loss) and math.isfinite(grad_norm)):
        raise Diverged(step, f"training loss {loss:.4g}, gradient norm {grad_norm:.4g}")
    if threshold > 0 and lowest is not None and loss > threshold * lowest:
        raise Diverged(step, f"training loss {loss:.4g} is above train.divergence_threshold "
                             f"{threshold:g} x the lowest so far ({lowest:.4g})")
    return loss if lowest is None else min(lowest, loss)


def rollback_on_divergence(train_fn):
    """``train_fn(cfg, run_dir, resume=, reporter=)``, resumed from its last checkpoint with a lower
    learning rate each time it raises ``Diverged``, up to ``train.max_divergences`` times."""

    @functools.wraps(train_fn)
    def train(cfg, run_dir, *, resume: bool = False, reporter=None, **kwargs):
        run_dir, rollbacks = Path(run_dir), 0
        while True:
            try:
                return train_fn(cfg, run_dir, resume=resume, reporter=reporter, **kwargs)
            except Diverged as d:
                if reporter is not None:
                    reporter.close()
                lr = cfg.train.learning_rate
                if rollbacks >= cfg.train.max_divergences:
                    raise TrainingError(
                        f"training diverged ({d}) after {rollbacks} rollback(s) "
                        f"(train.max_divergences = {cfg.train.max_divergences}); gave up. The last good "
                        f"checkpoint is in {run_dir / 'checkpoints'}; try a lower train.learning_rate "
                        f"(now {lr:.3g}) or train.grad_clip"
                    ) from None
                rollbacks += 1
                cfg = copy.deepcopy(cfg)
                cfg.train.learning_rate = lr * cfg.train.divergence_lr_factor
                if reporter is not None:
                    reporter.message(
                        f"divergence: {d}; rolling back to {ckpt.find_checkpoint(run_dir, 'last').name} "
                        f"with train.learning_rate "
                        f"{lr:.3g} -> {cfg.train.learning_rate:.3g} "
                        f"(rollback {rollbacks} of {cfg.train.max_divergences})"
                    )
                resume = True

    return train
