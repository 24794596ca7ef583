"""Every recurrent cell on the same budget: training speed and validation bits per character.

    python benchmarks/cells.py                      # 2 minutes of training per cell
    python benchmarks/cells.py --minutes 10         # longer, closer to convergence
    python benchmarks/cells.py --cells lstm,gru --hidden-size 256

Each cell gets the same wall-clock minutes of training on ``builtin:python-docs`` (char
level, Adam, constant learning rate, no dropout, truncated BPTT over batch_size streams) and
the same parameter budget: the LSTM uses ``--hidden-size``; every other cell gets the hidden
size whose total parameter count (embedding, cells, head) is nearest to the LSTM's (within
10%, checked). The cells take turns, ``--slice`` seconds each, until each has trained its
minutes, so a change in the machine's load is shared by all cells alike. It prints one table row per cell: hidden size, parameters, training tokens/s
(forward + backward + update, evaluation excluded) and validation bits per character after
the budget. Figures depend on the machine and its load: run it alone, e.g. under
``flock /tmp/lstmgen-bench.lock``.
"""

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lstmgen.data.corpus import load_corpus  # noqa: E402
from lstmgen.data.batches import Batches  # noqa: E402
from lstmgen.nn.model import CELLS, LanguageModel  # noqa: E402
from lstmgen.training.optim import Adam, clip_grad_norm  # noqa: E402
from lstmgen.tokenizers import build_tokenizer  # noqa: E402
from lstmgen.training.trainer import evaluate_ids  # noqa: E402


def matched_hidden_size(cell, target, V, E, L):
    """The hidden size whose model has the parameter count nearest to ``target``."""
    count = lambda H: LanguageModel(cell, V, E, H, L).num_params()  # noqa: E731
    return min(range(8, 4096), key=lambda H: abs(count(H) - target))


class Run:
    """One cell's training run, advanced a slice of wall-clock time at a time."""

    def __init__(self, cell, H, args, train_ids, V):
        self.cell, self.H, self.args = cell, H, args
        self.model = LanguageModel(cell, V, args.embed_dim, H, args.num_layers, reset_at_eod=False)
        self.params = self.model.init_params(np.random.default_rng(args.seed))
        self.optimizer = Adam(self.params)
        self.batches = Batches(train_ids, args.batch_size, args.seq_len)
        self.state = None
        self.step, self.tokens, self.seconds = 0, 0, 0.0

    def train_for(self, seconds):
        """Train until this run's total training time grows by ``seconds`` (or its budget ends)."""
        args = self.args
        end = min(self.seconds + seconds, 60 * args.minutes)
        while self.seconds < end:
            t0 = time.perf_counter()
            window = self.step % self.batches.num_windows
            if window == 0:
                self.state = self.model.init_state(args.batch_size)
            x, y = self.batches.window(window)
            _, grads, self.state = self.model.loss_and_grads(self.params, x, y, self.state)
            clip_grad_norm(grads, 5.0)
            self.optimizer.step(self.params, grads, args.learning_rate)
            self.seconds += time.perf_counter() - t0
            self.tokens += x.size
            self.step += 1

    def val_bits_per_char(self, val_ids):
        nll, n = evaluate_ids(self.model, self.params, val_ids, self.args.batch_size, self.args.seq_len)
        return nll / n / math.log(2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=2.0, help="training minutes per cell (default 2)")
    ap.add_argument("--cells", default=",".join(["lstm", "peephole_lstm", "gru", "gru_cudnn", "rnn"]))
    ap.add_argument("--hidden-size", type=int, default=128, help="the LSTM's H; other cells match its parameters")
    ap.add_argument("--embed-dim", type=int, default=64)
    ap.add_argument("--num-layers", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--learning-rate", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--slice", type=float, default=5.0, help="seconds each cell trains before the next one's turn")
    args = ap.parse_args()
    cells = args.cells.split(",")
    unknown = [c for c in cells if c not in CELLS]
    if unknown:
        ap.error(f"unknown cells {unknown}; known: {', '.join(sorted(CELLS))}")

    corpus = load_corpus("builtin:python-docs", val_fraction=0.1)
    tokenizer = build_tokenizer("char", corpus.train)
    train_ids = tokenizer.encode_documents(corpus.train)
    val_ids = tokenizer.encode_documents(corpus.val)
    V = tokenizer.vocab_size
    target = LanguageModel("lstm", V, args.embed_dim, args.hidden_size, args.num_layers).num_params()
    print(f"builtin:python-docs: {len(train_ids)} training and {len(val_ids)} validation characters, V={V}; "
          f"{args.minutes:g} min per cell, E={args.embed_dim}, layers={args.num_layers}, N={args.batch_size}, "
          f"T={args.seq_len}, Adam lr={args.learning_rate}, no dropout; parameter target {target}", flush=True)
    print(f"{'cell':<14} {'H':>5} {'params':>9} {'steps':>6} {'tokens/s':>9} {'val bits/char':>14}")
    runs = []
    for cell in cells:
        H = matched_hidden_size(cell, target, V, args.embed_dim, args.num_layers)
        run = Run(cell, H, args, train_ids, V)
        assert abs(run.model.num_params() - target) <= 0.1 * target, (cell, run.model.num_params(), target)
        runs.append(run)
    # round robin: each cell trains a slice in turn, so a change in the machine's load hits all alike
    while any(r.seconds < 60 * args.minutes for r in runs):
        for r in runs:
            r.train_for(args.slice)
    for r in runs:
        print(f"{r.cell:<14} {r.H:>5} {r.model.num_params():>9} {r.step:>6} {r.tokens / r.seconds:>9.0f} "
              f"{r.val_bits_per_char(val_ids):>14.3f}", flush=True)

if __name__ == "__main__":
    main()
