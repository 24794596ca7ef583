"""What guards a training run from the outside: the run-directory lock and divergence recovery.

``guard`` wraps ``train.train``:

- **The lock.** ``RUN_DIR/train.lock`` is held with ``fcntl.flock`` for as long as the run
  trains (by rank 0 alone when several processes train one run: ``distributed.py``), so a
  second ``train`` into the same directory is refused. The operating system
  drops the lock when the process ends, however it ends (SIGKILL included), so a crashed run
  never leaves it stuck; the file itself stays, holding the last owner's process id for the
  message. Where ``fcntl`` does not exist (Windows) there is no lock.
- **Nothing to resume.** Resuming a run directory that does not exist, or a run stopped before
  its first checkpoint, starts a new run at step 0 and says so (``checkpoint.nothing_to_resume``),
  so that a restart loop that always passes ``--resume`` works from its first attempt on. A
  folder that holds something other than a run is refused before the lock file is written
  into it; whether there is a checkpoint is asked again once the lock is held.
- **Divergence recovery.** The loop raises ``Diverged`` before a NaN, infinite or exploding
  loss (``train.divergence_threshold`` times the lowest training loss so far) reaches the
  weights. ``guard`` then rolls back: it resumes from the last checkpoint (every checkpoint
  was written while the loss was finite) with the learning rate multiplied by
  ``train.divergence_lr_factor``, says so, and goes on. After ``train.max_divergences``
  rollbacks in one call it gives up with a ``TrainingError``.
"""

import contextlib
import copy
import functools
import os
from pathlib import Path

from ..runs import checkpoint as ckpt
from ..errors import CheckpointError, TrainingError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks here
    fcntl = None

LOCK_NAME = ckpt.LOCK_NAME


class Diverged(Exception):
    """Raised by the loop when a step's loss is NaN, infinite or exploding (not a user error)."""

    def __init__(self, step: int, what: str):
        super().__init__(f"step {step}: {what}")
        self.step = step


class RunLock:
    """Hold ``RUN_DIR/train.lock`` exclusively, or refuse with a ``CheckpointError``.

    A run that ends before its first checkpoint (a data or config error) leaves nothing
    behind: the lock file goes, and the run directory too if the lock made it. (A run killed
    before its first checkpoint leaves the lock file: ``--resume`` then starts at step 0.)
    """

    def __init__(self, run_dir):
        self.run_dir, self.fd = Path(run_dir), None
        self.made = []  # the folders the lock created, innermost last

    def __enter__(self):
        if fcntl is None:
            return self
        missing = [p for p in (self.run_dir, *self.run_dir.parents) if not p.exists()]
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.made = missing[::-1]
        path = self.run_dir / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.read(fd, 32).decode("ascii", "replace").strip()
            os.close(fd)
            raise CheckpointError(
                f"'{self.run_dir}' is in use by another lstmgen train (process {owner or '?'}, lock {path}); "
                "wait for it to finish or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self.fd = fd
        return self

    def __exit__(self, *exc):
        if self.fd is None:
            return
        if not ckpt.has_checkpoint(self.run_dir):  # nothing trained: leave nothing behind
            (self.run_dir / LOCK_NAME).unlink(missing_ok=True)
            for folder in reversed(self.made):
                try:
                    folder.rmdir()  # only if empty
                except OSError:
                    break
        os.close(self.fd)  # closing the descriptor releases the lock
        self.fd = None


def guard(train_fn):
    """``train_fn(cfg, run_dir, resume=, reporter=)`` under the lock, with divergence rollbacks."""

    @functools.wraps(train_fn)
    def train(cfg, run_dir, *, resume: bool = False, reporter=None, **kwargs):
        run_dir = Path(run_dir)
        comm = kwargs.get("comm")
        is_root = comm is None or comm.rank == 0  # with several ranks (distributed.py), rank 0 holds the lock
        # resuming where there is nothing to resume: a new run (a folder that is not a run is refused)
        nothing = ckpt.nothing_to_resume(run_dir) if resume and is_root else None
        with RunLock(run_dir) if is_root else contextlib.nullcontext():
            if nothing is not None and not ckpt.has_checkpoint(run_dir):  # (still none, now that we hold the lock)
                if reporter is not None:
                    reporter.message(nothing)
                resume = False  # the other ranks learn it from rank 0 (data_parallel.py)
            rollbacks = 0
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
