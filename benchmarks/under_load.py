"""Training speed on a busy machine: lstmgen and PyTorch with 0, 1 and 2 busy-loop competitors.

    python benchmarks/under_load.py                 # the whole table (about 8 minutes)
    python benchmarks/under_load.py --seconds 10    # shorter measurements

The reference is char_h256 (V=65, E=64, H=256, L=2, N=64, T=64): one training step is a
forward and backward pass over one window, gradient clipping (5.0) and an Adam step. Each
measurement is a fresh worker process that warms up for 3 steps and then trains for
``--seconds``; its figure is the tokens it trained divided by the time it took (every step,
including the governor's probes). The competitors are ``python -c "while True: pass"``
processes, started before the worker and killed after it (each also ends by itself after
``--seconds`` + 60 s).

Sides:
  lstmgen auto   what ``lstmgen train`` does with ``train.threads: auto``: as many threads as
                 cores are free at start, then ``threads.Governor`` keeps the faster of 1 and 2
  lstmgen 2      two threads, fixed (lstmgen before issue 13)
  lstmgen 1      one thread, fixed
Every lstmgen side computes the step as ``lstmgen train`` does: the batch cut into
``train.shards`` shards (default 2; ``--shards 1``: one call, n BLAS threads) for its threads.
  torch 2 / 1    the same model in PyTorch (Embedding -> nn.LSTM -> Linear, Adam, clipping)

Then two ``lstmgen auto`` trainings side by side, each as a fraction of its quiet speed.
Figures as a fraction of the same side's quiet speed; timings on a shared machine are noisy.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
C = dict(V=65, E=64, H=256, L=2, N=64, T=64)
CLIP, LR = 5.0, 2e-3
BUSY = "import time\nend = time.time() + {limit}\nwhile time.time() < end: pass\n"


def lstmgen_worker(threads, seconds, shard_count):
    sys.path.insert(0, str(ROOT))
    import numpy as np

    from lstmgen.training import threads as th
    from lstmgen.nn.model import LanguageModel
    from lstmgen.nn.shards import Shards
    from lstmgen.training.optim import Adam, clip_grad_norm

    model = LanguageModel("lstm", C["V"], C["E"], C["H"], C["L"], reset_at_eod=False)
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    opt = Adam(params)
    x, y = rng.integers(0, C["V"], (C["T"], C["N"])), rng.integers(0, C["V"], (C["T"], C["N"]))
    state = model.init_state(C["N"])
    shards = Shards(model, shard_count)
    n, adaptive, why = th.resolve(threads if threads == "auto" else int(threads))
    gov = th.Governor(n, th.usable_cores(), shards=shards.count) if adaptive else None
    messages = []
    with th.thread_budget(n, shards.count):
        def step():
            nonlocal state
            _, grads, state = shards.loss_and_grads(params, x, y, state)
            clip_grad_norm(grads, CLIP)
            opt.step(params, grads, LR)
        return _measure(step, seconds, gov, messages, f"{n} ({why})")


def torch_worker(threads, seconds):
    import torch

    torch.set_num_threads(int(threads))
    torch.manual_seed(0)
    nn = torch.nn
    embed, lstm, head = nn.Embedding(C["V"], C["E"]), nn.LSTM(C["E"], C["H"], C["L"]), nn.Linear(C["H"], C["V"])
    params = [*embed.parameters(), *lstm.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=LR)
    x = torch.randint(0, C["V"], (C["T"], C["N"]))
    y = torch.randint(0, C["V"], (C["T"] * C["N"],))
    state = [None]

    def step():
        opt.zero_grad(set_to_none=True)
        out, st = lstm(embed(x), state[0])
        state[0] = tuple(s.detach() for s in st)
        nn.functional.cross_entropy(head(out.reshape(-1, C["H"])), y).backward()
        nn.utils.clip_grad_norm_(params, CLIP)
        opt.step()
    return _measure(step, seconds, None, [], str(threads))


def _measure(step, seconds, gov, messages, threads):
    for _ in range(3):
        step()
    tokens, steps, t_start = 0, 0, time.perf_counter()
    while time.perf_counter() - t_start < seconds:
        t0 = time.perf_counter()
        step()
        dt = time.perf_counter() - t0
        tokens, steps = tokens + C["T"] * C["N"], steps + 1
        if gov is not None:
            msg = gov.step_done(dt)
            if msg:
                messages.append(f"step {steps}: {msg}")
    elapsed = time.perf_counter() - t_start
    return {"tokens_per_s": tokens / elapsed, "steps": steps, "threads": threads, "messages": messages}


def spawn(side, threads, seconds, shards):
    return subprocess.Popen([sys.executable, __file__, "--worker", side, str(threads), "--seconds", str(seconds),
                             "--shards", str(shards)], stdout=subprocess.PIPE, text=True)


def result(proc):
    out, _ = proc.communicate()
    return json.loads(out.strip().splitlines()[-1])


def with_busy(k, seconds, fn):
    busy = [subprocess.Popen([sys.executable, "-c", BUSY.format(limit=seconds + 60)]) for _ in range(k)]
    try:
        time.sleep(0.5 if k else 0)
        return fn()
    finally:
        for b in busy:
            b.kill()
            b.wait()
        time.sleep(1.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15.0, help="length of one measurement")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--no-torch", action="store_true", help="lstmgen only")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--shards", type=int, default=None, help="lstmgen's train.shards (default: the config's)")
    args = ap.parse_args()
    if args.shards is None:
        sys.path.insert(0, str(ROOT))
        from lstmgen.runs.defaults import TrainConfig

        args.shards = TrainConfig.shards
    if args.worker:
        side, threads = args.worker
        out = lstmgen_worker(threads, args.seconds, args.shards) if side == "lstmgen" else \
            torch_worker(threads, args.seconds)
        print(json.dumps(out))
        return
    try:
        import torch  # noqa: F401
        sides = [("lstmgen", "auto"), ("lstmgen", "2"), ("lstmgen", "1"), ("torch", "2"), ("torch", "1")]
    except ImportError:
        sides = [("lstmgen", "auto"), ("lstmgen", "2"), ("lstmgen", "1")]
    if args.no_torch:
        sides = [s for s in sides if s[0] == "lstmgen"]
    table = {}
    for k in (0, 1, 2):
        for side in sides:
            table[(side, k)] = with_busy(k, args.seconds, lambda: result(spawn(*side, args.seconds, args.shards)))
            print(f"# {side[0]} {side[1]}, {k} busy: {table[(side, k)]['tokens_per_s']:,.0f} tokens/s "
                  f"(threads {table[(side, k)]['threads']}) {table[(side, k)]['messages']}", file=sys.stderr)
    pair = with_busy(0, args.seconds, lambda: [result(p) for p in [  # side by side: both started, then read
        spawn("lstmgen", "auto", args.seconds, args.shards) for _ in range(2)]])
    if args.json:
        print(json.dumps({"table": {f"{s[0]} {s[1]}|{k}": v for (s, k), v in table.items()}, "pair": pair}))
        return
    quiet = {side: table[(side, 0)]["tokens_per_s"] for side in sides}
    print(f"Under load, char_h256 training, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
          f", {args.seconds:g} s per measurement")
    print("| side | quiet tokens/s | 1 busy loop | 2 busy loops |")
    print("|---|---:|---:|---:|")
    for side in sides:
        cells = [f"{quiet[side]:,.0f}"] + [
            f"{table[(side, k)]['tokens_per_s']:,.0f} ({table[(side, k)]['tokens_per_s'] / quiet[side]:.0%})"
            for k in (1, 2)]
        print(f"| {side[0]} {side[1]} | " + " | ".join(cells) + " |")
    auto = ("lstmgen", "auto")
    for k in (1, 2):
        ratio = [table[(auto, k)]["tokens_per_s"] / table[(s, k)]["tokens_per_s"] for s in sides if s[0] == "torch"]
        if ratio:
            print(f"lstmgen auto / PyTorch 2 threads with {k} busy: {ratio[0]:.2f}x")
    for i, r in enumerate(pair):
        print(f"side-by-side training {i + 1}: {r['tokens_per_s']:,.0f} tokens/s "
              f"({r['tokens_per_s'] / quiet[auto]:.0%} of quiet), threads {r['threads']}, {r['messages']}")


if __name__ == "__main__":
    main()
