"""A tqdm progress bar for training, the ``train.Reporter`` that ``lstmgen train`` and
``lstmgen.train(progress=True)`` show on stderr.

The bar shows the step, the training and validation loss in nats per token, and the tokens
per second and time left measured over the last ``RECENT_S`` seconds (evaluations and
checkpoints included), so both follow the machine's load as it changes; tqdm's own rate and
ETA are long averages. While a corpus is read into the token cache, a second bar shows bytes.
tqdm is imported when a bar is made.
"""

import collections
import sys
import time


def duration(seconds: float) -> str:
    """3725 -> '1:02:05', 65 -> '1:05'."""
    seconds = int(round(seconds))
    h, m, s = seconds // 3600, seconds // 60 % 60, seconds % 60
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class TqdmReporter:
    """Training as a tqdm bar on stderr; ``announce`` is what a subclass prints before it."""

    RECENT_S = 30.0  # the rate and the time left are measured over this many seconds

    def __init__(self):
        self.bar = None
        self.reading = None  # (stage, bar) while a corpus is tokenised into the token cache
        self.loss = self.val = None  # the last training and validation loss shown

    def announce(self, info: dict) -> None:
        """Lines before the bar (the command line prints the resolved config); none here."""

    def progress(self, stage, done, total):
        from tqdm import tqdm

        if self.reading is None or self.reading[0] != stage:
            if self.reading is not None:
                self.reading[1].close()
            bar = tqdm(total=total, desc=stage, unit="B", unit_scale=True, dynamic_ncols=True, file=sys.stderr)
            self.reading = (stage, bar)
        self.reading[1].update(done - self.reading[1].n)
        if done >= total:
            self.reading[1].close()

    def start(self, info):
        from tqdm import tqdm

        self.announce(info)
        self.total = info["total_steps"] if info["total_steps"] < 10**15 else None
        self.tokens_per_step = info["train_tokens"] / max(1, info["windows_per_epoch"])
        fmt = "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}{postfix}]" if self.total else \
            "{n_fmt} steps [{elapsed}{postfix}]"
        self.bar = tqdm(total=self.total, initial=info["step"], unit="step", dynamic_ncols=True, file=sys.stderr,
                        bar_format=fmt)
        self.recent = collections.deque([(time.monotonic(), info["step"])])  # (time, step), the last RECENT_S

    def update(self, step, stats):
        self.loss, self.val = stats["loss"], stats.get("val_loss", self.val)
        text = f"loss {self.loss:.3f}" + (f" val {self.val:.3f}" if self.val is not None else "") + " nats/token"
        now = time.monotonic()
        self.recent.append((now, step))
        while len(self.recent) > 2 and now - self.recent[1][0] > self.RECENT_S:
            self.recent.popleft()
        t0, s0 = self.recent[0]
        if step > s0 and now > t0:
            steps_per_s = (step - s0) / (now - t0)
            text += f", {steps_per_s * self.tokens_per_step:,.0f} tok/s"
            if self.total:
                text += f", eta {duration((self.total - step) / steps_per_s)}"
        self.bar.set_postfix_str(text, refresh=False)
        self.bar.update(step - self.bar.n)

    def message(self, text):
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)  # above the bar, when there is one

    def close(self):
        if self.bar is not None:
            self.bar.close()
