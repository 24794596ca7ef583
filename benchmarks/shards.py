"""What the shards of a training step cost and give (issue 22): threads x shards, side by side.

    python benchmarks/shards.py [--config char_h256] [--rounds 5] [--seconds 0.5]

For each reference configuration (benchmarks/speed.py), one training step as ``lstmgen train``
runs it (``Shards.loss_and_grads``, clipping, Adam) and one eval window (``Shards.nll``) in
four settings, measured in interleaved rounds (A B C D A B C D ...), so the machine's drifts hit
all alike:

    1 thread,  1 shard    the whole batch in one call, one BLAS thread
    1 thread,  2 shards   the two halves in turn: what a fixed cut costs a one-thread run
    2 threads, 1 shard    one call, two BLAS threads (lstmgen before issue 22)
    2 threads, 2 shards   each half on its own thread, one BLAS thread each (the default)

It prints tokens/s (the best and the median of the rounds) and each setting against the first.
Timings on a shared machine are noisy: compare within one run.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lstmgen._entry import tune_process  # noqa: E402

tune_process()  # as the `lstmgen` command does, before NumPy loads: `import lstmgen` alone sets nothing
import numpy as np  # noqa: E402
from speed import CONFIGS, timed  # noqa: E402

from lstmgen.nn.model import LanguageModel  # noqa: E402
from lstmgen.nn.shards import Shards  # noqa: E402
from lstmgen.training import threads  # noqa: E402
from lstmgen.training.optim import Adam, clip_grad_norm  # noqa: E402

SETTINGS = [(1, 1), (1, 2), (2, 1), (2, 2)]  # (threads, shards)


class Step:
    """One configuration's model, data and optimiser, and a training step / eval window per setting."""

    def __init__(self, c):
        self.c = c
        self.model = LanguageModel("lstm", c["V"], c["E"], c["H"], c["L"], dropout=0.0)
        rng = np.random.default_rng(0)
        self.params = self.model.init_params(rng)
        self.opt = Adam(self.params)
        self.x, self.y = rng.integers(0, c["V"], (c["T"], c["N"])), rng.integers(0, c["V"], (c["T"], c["N"]))
        self.shards = {k: Shards(self.model, k) for k in (1, 2)}
        self.state = self.model.init_state(c["N"])

    def train(self, k):
        _, grads, self.state = self.shards[k].loss_and_grads(self.params, self.x, self.y, self.state)
        clip_grad_norm(grads, 5.0)
        self.opt.step(self.params, grads, 1e-9)

    def eval(self, k):
        self.shards[k].nll(self.params, self.x, self.y, self.model.init_state(self.c["N"]))


def measure(name, rounds, seconds):
    c = CONFIGS[name]
    step = Step(c)
    tokens = c["T"] * c["N"]
    rates = {(phase, s): [] for phase in ("train", "eval") for s in SETTINGS}
    for r in range(rounds + 1):  # the first round warms up
        for phase in ("train", "eval"):
            for n, k in SETTINGS:
                with threads.thread_budget(n, k):
                    fn = getattr(step, phase)
                    sec = timed(lambda: fn(k), seconds if r else 0.2)
                if r:
                    rates[(phase, (n, k))].append(tokens / sec)
    return rates


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", action="append", choices=sorted(CONFIGS))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.5, help="length of one measurement")
    args = ap.parse_args()
    print(time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "| tokens/s, best and median of", args.rounds,
          "rounds | ratio of the medians to 1 thread, 1 shard")
    for name in args.config or sorted(CONFIGS):
        rates = measure(name, args.rounds, args.seconds)
        for phase in ("train", "eval"):
            base = statistics.median(rates[(phase, SETTINGS[0])])
            for n, k in SETTINGS:
                v = rates[(phase, (n, k))]
                print(f"{name:<11} {phase:<6} {n} thread{'s' if n > 1 else ' '} {k} shard{'s' if k > 1 else ' '}"
                      f" {max(v):9.0f} {statistics.median(v):9.0f}  {statistics.median(v) / base:5.2f}x")


if __name__ == "__main__":
    main()
