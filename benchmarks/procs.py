"""Data-parallel training on this machine: ``--procs 1`` against ``--procs 2`` (issue 15).

    python benchmarks/procs.py                         # the three reference configurations
    python benchmarks/procs.py --config char_h256 --steps 40 --repeats 3 --json

For each reference configuration (benchmarks/speed.py's CONFIGS: V, E, H, L, N, T; no
dropout) it runs the training step the way ``lstmgen train --procs P`` takes it, in P
processes started as the launcher starts them (``mpiexec -n P -bind-to core:C``, C = cores / P
BLAS threads each; P = 1 is a plain process, as ``--procs 1`` is): rank 0 reads the window and
broadcasts it, each rank runs forward and backward over its N/P streams (gradients written
into the flat buffer), one sum of the buffer over the ranks (``GradientReducer``: in shared
memory, the ranks being on one machine), then clipping (5.0) and Adam on every rank. It
prints, per configuration:

  train tok/s      tokens of the whole batch per second of a step (median step time)
  reduce in step   per step, the reduce as the step takes it (the copy of the small
                   gradients, the wait for the slower rank, the sum), and of it the wait
                   (load imbalance: the other rank's backward took longer)
  sum alone        back-to-back sums of the same buffer after a barrier: the communication
                   itself; and MPI's all-reduce of the same buffer for comparison
  share            of the median step
  eval tok/s       validation scoring (each rank its share of the streams, sums all-reduced)

and, on paper, the communication per step over a 10 Gb/s network for P = 2, 8, 32: a ring
all-reduce sends and receives 2 (P - 1) / P x the gradient bytes per rank, plus 2 (P - 1)
message latencies (taken as 20 us each, a typical TCP figure; RDMA is ~2 us), against the
compute of a step at that P (the measured one-process step / P: perfect compute scaling).

The two process counts alternate (1 2 1 2 ...) so slow drifts of a shared machine hit both.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lstmgen._entry import tune_process  # noqa: E402

tune_process()  # as the `lstmgen` command does, before NumPy loads: `import lstmgen` alone sets nothing

CONFIGS = {  # V, E, H, L, N, T: benchmarks/speed.py's reference configurations
    "char_h256": dict(V=65, E=64, H=256, L=2, N=64, T=64),
    "char_h512": dict(V=65, E=64, H=512, L=2, N=32, T=100),
    "word_v8000": dict(V=8000, E=128, H=256, L=1, N=32, T=35),
}
NETWORK_BYTES_PER_S = 10e9 / 8  # 10 Gb/s
LATENCY_S = 20e-6  # per message of the ring, TCP
PAPER_PROCS = (2, 8, 32)


def worker(name: str, steps: int, warmup: int) -> None:
    """One rank (or the one process): time ``steps`` training steps and an evaluation."""
    import numpy as np

    from lstmgen.data.batches import Batches
    from lstmgen.parallel.comm import GradientReducer, SharedBatches, stream_slice, world
    from lstmgen.evaluation.evaluate import evaluate_ids
    from lstmgen.nn.model import LanguageModel
    from lstmgen.training.optim import Adam, clip_grad_norm

    c = CONFIGS[name]
    comm = world()
    model = LanguageModel("lstm", c["V"], c["E"], c["H"], c["L"], reset_at_eod=False)
    params = model.init_params(np.random.default_rng(0))
    optimizer, reduce = Adam(params), GradientReducer(comm, model.param_shapes(), model.dtype)
    N, T = c["N"], c["T"]
    rng = np.random.default_rng(1)
    batches = Batches(rng.integers(0, c["V"], N * T * (warmup + steps) + 1).astype(np.int32), N, T) \
        if comm.rank == 0 else None
    if comm.size > 1:
        batches = SharedBatches(comm, batches)
    streams = stream_slice(N, comm.size, comm.rank)
    state = model.init_state(streams.stop - streams.start)
    step_s, reduce_s, wait_s = [], [], []
    for k in range(warmup + steps):
        t0 = time.perf_counter()
        x, y = batches.window(k)
        loss, grads, state = model.loss_and_grads(params, x, y, state, None, streams=streams if comm.size > 1 else None,
                                                  out=reduce.gradients)
        loss, grads, _, _ = reduce(loss, grads, T * (streams.stop - streams.start), False)
        clip_grad_norm(grads, 5.0)
        optimizer.step(params, grads, 2e-3)
        if k >= warmup:
            step_s.append(time.perf_counter() - t0)
            reduce_s.append(reduce.seconds)
            wait_s.append(reduce.summer.waited if comm.size > 1 else 0.0)
    alone, alone_mpi = [], []
    if comm.size > 1:  # the communication by itself: back-to-back sums of the same buffer
        copy = reduce.buffer.data.copy()
        for _ in range(steps):
            comm.comm.Barrier()
            t0 = time.perf_counter()
            reduce.summer.sum_()  # as the step sums (shared memory on one machine)
            t1 = time.perf_counter()
            comm.comm.Barrier()
            t2 = time.perf_counter()
            comm.allreduce_(copy)  # MPI's all-reduce, for comparison
            alone.append(t1 - t0)
            alone_mpi.append(time.perf_counter() - t2)
    val = rng.integers(0, c["V"], N * T * 10 + 1).astype(np.int32)
    evaluate_ids(model, params, val[: N * T + 1], N, T, (comm.rank, comm.size))  # warm-up
    eval_s = []
    for _ in range(3):
        if comm.size > 1:
            comm.comm.Barrier()
        t0 = time.perf_counter()
        sums = evaluate_ids(model, params, val, N, T, (comm.rank, comm.size))
        comm.allreduce_(np.array(sums, np.float64))
        eval_s.append(time.perf_counter() - t0)
    if comm.rank == 0:
        step = statistics.median(step_s)
        print(json.dumps({"step_s": step, "train_tokens_per_s": N * T / step,
                          "allreduce_in_step_s": statistics.median(reduce_s),
                          "wait_in_step_s": statistics.median(wait_s),
                          "allreduce_alone_s": statistics.median(alone) if alone else 0.0,
                          "mpi_allreduce_alone_s": statistics.median(alone_mpi) if alone else 0.0,
                          "eval_tokens_per_s": (len(val) - 1) / statistics.median(eval_s),
                          "gradient_bytes": int(model.num_params() * 4)}))


def measure(name: str, procs: int, steps: int, warmup: int) -> dict:
    from lstmgen.parallel import launch

    cores = launch.cores()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    launch.set_blas_threads(env, cores, procs)
    worker_args = [__file__, "--worker", name, "--steps", str(steps), "--warmup", str(warmup)]
    if procs == 1:  # as --procs 1: a plain process
        cmd = [sys.executable, *worker_args]
    else:  # as --procs P starts its ranks: the same mpiexec, binding and BLAS threads
        mpiexec = launch.command(launch.find_mpiexec(), procs, [], cores)
        cmd = mpiexec[:mpiexec.index(sys.executable)] + [sys.executable, "-m", "mpi4py", *worker_args]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def paper(step_1: float, gradient_bytes: int) -> dict:
    """Ring all-reduce over 10 Gb/s at each P: seconds per step, and share of a step of compute step_1 / P."""
    table = {}
    for P in PAPER_PROCS:
        comm = 2 * (P - 1) / P * gradient_bytes / NETWORK_BYTES_PER_S + 2 * (P - 1) * LATENCY_S
        table[P] = {"comm_s": comm, "share": comm / (comm + step_1 / P)}
    return table


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", choices=list(CONFIGS), action="append")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--worker")
    args = ap.parse_args()
    if args.worker:
        worker(args.worker, args.steps, args.warmup)
        return
    results = {}
    for name in args.config or list(CONFIGS):
        runs = {1: [], 2: []}
        for _ in range(args.repeats):
            for procs in (1, 2):
                runs[procs].append(measure(name, procs, args.steps, args.warmup))
        med = {p: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for p, rs in runs.items()}
        spread = {p: (min(r["train_tokens_per_s"] for r in rs), max(r["train_tokens_per_s"] for r in rs))
                  for p, rs in runs.items()}
        results[name] = {"procs_1": med[1], "procs_2": med[2], "train_range": spread,
                         "paper": paper(med[1]["step_s"], int(med[1]["gradient_bytes"]))}
    if args.json:
        print(json.dumps(results, indent=1))
        return
    print(f"{'config':<11} {'P=1 tok/s':>10} {'P=2 tok/s':>10} {'ratio':>6} {'reduce in step':>16} {'of it wait':>16} "
          f"{'sum alone':>16} {'MPI all-reduce':>16} {'eval P=1':>9} {'eval P=2':>9} {'grad MB':>8}")
    for name, r in results.items():
        one, two = r["procs_1"], r["procs_2"]

        def ms(key):  # milliseconds and share of the P=2 step
            return f"{two[key] * 1e3:.2f} ms {two[key] / two['step_s']:4.1%}"

        print(f"{name:<11} {one['train_tokens_per_s']:>10,.0f} {two['train_tokens_per_s']:>10,.0f} "
              f"{two['train_tokens_per_s'] / one['train_tokens_per_s']:>6.2f} {ms('allreduce_in_step_s'):>16} "
              f"{ms('wait_in_step_s'):>16} {ms('allreduce_alone_s'):>16} {ms('mpi_allreduce_alone_s'):>16} "
              f"{one['eval_tokens_per_s']:>9,.0f} {two['eval_tokens_per_s']:>9,.0f} {one['gradient_bytes'] / 1e6:>8.2f}")
    print(f"\non paper: ring all-reduce over 10 Gb/s, {LATENCY_S * 1e6:.0f} us per message; "
          "share of a step whose compute is the one-process step / P")
    print(f"{'config':<11} " + " ".join(f"{'P=' + str(P):>22}" for P in PAPER_PROCS))
    for name, r in results.items():
        cells = [f"{r['paper'][P]['comm_s'] * 1e3:8.2f} ms ({r['paper'][P]['share']:5.1%})" for P in PAPER_PROCS]
        print(f"{name:<11} " + " ".join(f"{c:>22}" for c in cells))


if __name__ == "__main__":
    main()
