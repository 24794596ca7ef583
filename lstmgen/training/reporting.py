"""What a training run and the world outside it say to each other: ``Reporter`` (progress, out,
with the running sums of ``new_accumulator`` between log lines), ``StopFlag`` (Ctrl-C and
SIGTERM, in) and ``TrainResult`` (how the run ended)."""

import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional


class Reporter:
    """What the loop tells the outside world; the default tells nobody."""

    def start(self, info: dict) -> None:
        """Once, before the first step: step, total_steps, num_params, tokens, ..."""

    def update(self, step: int, stats: dict) -> None:
        """After every step: loss, tokens_per_s, learning_rate, and val_loss after an eval."""

    def message(self, text: str) -> None:
        """Something worth a line of its own (a lowered learning rate, a resumed run)."""

    def close(self) -> None:
        """Once, at the end."""

    def progress(self, stage: str, done: int, total: int) -> None:
        """While a corpus is read into the token cache: ``done`` of ``total`` bytes of ``stage``."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    epoch: int
    last_val_loss: Optional[float]
    best_val_loss: Optional[float]
    checkpoint: Path
    interrupted: bool
    early_stopped: bool = False
    last_val_bits_per_char: Optional[float] = None  # the validation losses in bits per character
    best_val_bits_per_char: Optional[float] = None
    first_step: int = 0  # the step this call started from (a resumed run: its checkpoint's)
    time_up: bool = False  # train.max_time ended the run


class StopFlag:
    """Ctrl-C (or SIGTERM) sets the flag; the loop finishes its step, saves and returns. A
    second one interrupts at once (the last checkpoint is still there)."""

    def __init__(self):
        self.set = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.set:
            raise KeyboardInterrupt
        self.set = True

    def __exit__(self, *exc):
        for s, handler in (self._previous or {}).items():
            signal.signal(s, handler)


def new_accumulator() -> dict:
    """Running sums between two log lines (``Trainer.log`` averages them, then starts new ones;
    so do the data-parallel ranks that do not write the log)."""
    return {"loss_sum": 0.0, "loss_count": 0, "tokens": 0, "seconds": 0.0}
