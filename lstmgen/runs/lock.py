"""The run-directory lock: one ``lstmgen train`` at a time in a run directory.

- **The lock.** ``RUN_DIR/train.lock`` is held with ``fcntl.flock`` for as long as the run
  trains (by rank 0 alone when several processes train one run: parallel/), so a
  second ``train`` into the same directory is refused. The operating system
  drops the lock when the process ends, however it ends (SIGKILL included), so a crashed run
  never leaves it stuck; the file itself stays, holding the last owner's process id for the
  message. Where ``fcntl`` does not exist (Windows) there is no lock.
- **Nothing to resume.** Resuming a run directory that does not exist, or a run stopped before
  its first checkpoint, starts a new run at step 0 and says so (``nothing_to_resume``),
  so that a restart loop that always passes ``--resume`` works from its first attempt on. A
  folder that holds something other than a run is refused before the lock file is written
  into it; whether there is a checkpoint is asked again once the lock is held.

``holding_run_lock`` wraps ``training.trainer.train`` with both.
"""

import contextlib
import functools
import os
from pathlib import Path
from typing import Optional

from . import checkpoint as ckpt
from ..errors import CheckpointError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks here
    fcntl = None

LOCK_NAME = "train.lock"  # in the run directory


# what a run writes at the top of its run directory; the lock comes first, before anything else
RUN_ENTRIES = (LOCK_NAME, "config.yaml", "tokenizer.json", "metrics.jsonl", "samples.jsonl", "checkpoints")


def nothing_to_resume(run_dir: Path) -> Optional[str]:
    """Why resuming ``run_dir`` starts a new run at step 0, or None when it has a checkpoint to resume.

    A folder that does not exist has nothing to resume (a restart loop's first attempt), and
    neither has a run stopped before its first checkpoint: its folder holds the lock file, or
    only what a run writes. A folder that holds something else is not a run directory: a
    ``CheckpointError``, so that an ``--out`` that names someone's folder never trains into it."""
    run_dir = Path(run_dir)
    if ckpt.has_checkpoint(run_dir):
        return None
    if not run_dir.exists():
        return f"{run_dir} does not exist: nothing to resume, starting a new run"
    if not run_dir.is_dir():
        raise CheckpointError(f"'{run_dir}' is a file, not a run directory")
    names = sorted(p.name for p in run_dir.iterdir())
    others = [n for n in names if n not in RUN_ENTRIES and not any(n.startswith(f".{e}.") for e in RUN_ENTRIES)]
    if others and LOCK_NAME not in names:
        shown = ", ".join(others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
        raise CheckpointError(f"'{run_dir}' holds no checkpoint to resume and is not a run directory (it holds "
                              f"{shown}); check --out")
    return f"nothing to resume in {run_dir} (no checkpoint yet): starting at step 0"


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


def holding_run_lock(train_fn):
    """``train_fn(cfg, run_dir, resume=, reporter=, comm=)`` under the lock (rank 0's, with several
    ranks); resuming where there is nothing to resume starts a new run instead."""

    @functools.wraps(train_fn)
    def train(cfg, run_dir, *, resume: bool = False, reporter=None, **kwargs):
        run_dir = Path(run_dir)
        comm = kwargs.get("comm")
        is_root = comm is None or comm.rank == 0  # with several ranks (parallel/), rank 0 holds the lock
        # resuming where there is nothing to resume: a new run (a folder that is not a run is refused)
        nothing = nothing_to_resume(run_dir) if resume and is_root else None
        with RunLock(run_dir) if is_root else contextlib.nullcontext():
            if nothing is not None and not ckpt.has_checkpoint(run_dir):  # (still none, now that we hold the lock)
                if reporter is not None:
                    reporter.message(nothing)
                resume = False  # the other ranks learn it from rank 0 (parallel/trainer.py)
            return train_fn(cfg, run_dir, resume=resume, reporter=reporter, **kwargs)

    return train
