"""Speed of lstmgen against PyTorch on the CPU: training, eval and sampling tokens/s, memory.

    python benchmarks/speed.py                       # all reference configurations, a table
    python benchmarks/speed.py --config char_h256 --repeats 3 --json
    python benchmarks/speed.py --process-tuning      # with the `lstmgen` command's process settings
    python benchmarks/speed.py --shards 1            # lstmgen's step in one call (before issue 22)

For each reference configuration (V vocab, E embed, H hidden, L layers, N batch, T seq_len)
it measures, after warm-up:
  train     tokens/s of one window: forward, backward, gradient clipping (5.0) and Adam step
  eval      tokens/s of the forward pass and the summed cross-entropy, no gradients
  sample_1  tokens/s of one stream drawing one token at a time (temperature 1)
  sample_M  tokens/s of M streams drawing together (M = --streams)
lstmgen trains and evaluates as ``lstmgen train`` does: the batch cut into ``--shards`` shards
(default: ``train.shards``'s) computed by worker threads with one BLAS thread each
(nn/shards.py, ``threads.thread_budget(n, shards)``), n = ``--threads`` or the usable cores;
it samples with n BLAS threads, as ``lstmgen sample`` does.
And the peak memory: the process's resident-set high-water mark above what it held before
the first measured step (both sides), and for lstmgen the exact peak of NumPy allocations in
one training step (tracemalloc), plus one layer's activation memory against the formula in
``lstmgen/nn/lstm.py``, and the minor page faults per training step (memory the allocator gave
back to the system and took again).

The workers are plain processes: ``import lstmgen`` changes nothing in them. With
``--process-tuning`` the lstmgen worker (and with ``--torch-tuned`` the PyTorch one) first makes
the settings of the ``lstmgen`` command's entry point (``lstmgen/_entry.py``), before NumPy loads,
so the figures match what the command line gets. Allocator settings can be tried through
glibc's own variables, e.g. ``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824``.

PyTorch, when installed, runs the same model (Embedding -> nn.LSTM -> Linear, same shapes,
Adam, clipping) and the ratio lstmgen / PyTorch is printed per configuration. Each side runs
in its own worker process, started once per configuration; the parent asks them in turn
(A B A B ...), one measurement at a time, so neither side's idle BLAS or OpenMP threads
spin on the cores while the other is measured (in one process they slowed PyTorch ~10x),
and slow drifts of the machine hit both sides alike. Without PyTorch, lstmgen's figures only.

GEMM floor: training costs about 3 x the forward GEMM FLOPs (forward, and the two GEMMs of
backward). The worker times exactly the forward GEMM shapes of one window (input projection,
T recurrent products per layer, head) and reports measured tokens/s / (tokens / 3 x that time).

Figures are medians over --repeats with min-max; timings on a shared machine are noisy.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SIDE = sys.argv[sys.argv.index("--worker") + 1] if "--worker" in sys.argv else None
if "--process-tuning" in sys.argv and (SIDE == "lstmgen" or (SIDE == "torch" and "--torch-tuned" in sys.argv)):
    # as the command line's entry point does, before NumPy loads (lstmgen/_entry.py); `import
    # lstmgen` alone changes nothing. PyTorch gets the settings only if asked.
    from lstmgen._entry import tune_process

    tune_process()
import numpy as np  # noqa: E402

from lstmgen.runs.defaults import TrainConfig  # noqa: E402

CONFIGS = {  # V, E, H, L, N, T
    "char_h256": dict(V=65, E=64, H=256, L=2, N=64, T=64),
    "char_h512": dict(V=65, E=64, H=512, L=2, N=32, T=100),
    "word_v8000": dict(V=8000, E=128, H=256, L=1, N=32, T=35),
}
PHASES = ("train", "eval", "sample_1", "sample_M")
CLIP = 5.0
LR = 2e-3


def timed(fn, seconds, min_calls=3):
    """Call fn until ``seconds`` have passed (at least min_calls times): seconds per call."""
    calls, t0 = 0, time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - t0
        if calls >= min_calls and elapsed >= seconds:
            return elapsed / calls


def rss_peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Tokens:
    """What ``generate`` asks of a tokenizer: the end-of-document and unknown ids, encode, and
    the start of a document before the ids (``Tokenizer.after_eod``)."""

    eod_id, unk_id = 0, 1

    def encode(self, text):
        return []

    def after_eod(self, ids):
        return np.concatenate([[self.eod_id], ids]).astype(np.int32)


# ---- the lstmgen side ---------------------------------------------------------------------------
class LstmgenSide:
    def __init__(self, c, streams, shards):
        from lstmgen.nn.model import LanguageModel
        from lstmgen.nn.shards import Shards
        from lstmgen.training.optim import Adam, clip_grad_norm
        from lstmgen.generation.sampling import generate

        self.c, self.M = c, streams
        self.model = LanguageModel("lstm", c["V"], c["E"], c["H"], c["L"], dropout=0.0, reset_at_eod=False)
        self.shards = Shards(self.model, shards)
        rng = np.random.default_rng(0)
        self.params = self.model.init_params(rng)
        self.opt, self.clip = Adam(self.params), clip_grad_norm
        self.rng = np.random.default_rng(1)
        self.x = rng.integers(0, c["V"], (c["T"], c["N"]))  # (T, N)
        self.y = rng.integers(0, c["V"], (c["T"], c["N"]))  # (T, N)
        self.state = self.model.init_state(c["N"])
        self.eval_state = self.model.init_state(c["N"])
        self.generate, self.samplers = generate, {}

    def train(self):
        _, grads, self.state = self.shards.loss_and_grads(self.params, self.x, self.y, self.state)
        self.clip(grads, CLIP)
        self.opt.step(self.params, grads, LR)

    def eval(self):
        _, self.eval_state = self.shards.nll(self.params, self.x, self.y, self.eval_state)

    def sample(self, m):
        """One token of the real sampling loop, ``generate``, for m streams."""
        if m not in self.samplers:
            self.samplers[m] = self.generate(self.model, self.params, _Tokens(), length=10**12, num_samples=m,
                                             rng=self.rng)
        next(self.samplers[m])

    def gemm_seconds(self):
        """Seconds of the forward GEMMs of one window, with their real shapes and dtypes."""
        c, p = self.c, self.params
        T, N, H = c["T"], c["N"], c["H"]
        f32 = np.float32
        xs = [np.ones((T * N, c["E"] if l == 0 else H), f32) for l in range(c["L"])]
        h, hh, out = np.ones((T * N, H), f32), np.ones((N, H), f32), np.empty((N, 4 * H), f32)

        def run():
            for l in range(c["L"]):
                W = p[f"layers.{l}.W"]
                D = W.shape[0] - H
                xs[l] @ W[:D]
                for _ in range(T):
                    np.matmul(hh, W[D:], out=out)
            h @ p["head.W"]
        return timed(run, 0.3)

    def layer_memory(self):
        """Peak floats allocated by one LSTM layer's forward + backward, and the formula."""
        from lstmgen.nn.lstm import LSTM

        c = self.c
        N, T, D, H = c["N"], c["T"], c["E"], c["H"]
        cell = LSTM(D, H)
        params = cell.init_params(np.random.default_rng(0))
        x = np.ones((T, N, D), np.float32)
        dout = np.ones((T, N, H), np.float32)
        state = cell.init_state(N)
        tracemalloc.start()
        out, st, cache = cell.forward(params, x, state)
        res = cell.backward(params, dout, None, cache)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del out, st, cache, res
        formula = N * T * D + 6 * N * T * H + 8 * N * H + 8 * H * H + 8 * D * H + 9 * H
        return peak / 4, formula

    def train_step_faults(self, steps=10):
        """Minor page faults per training step (memory the allocator handed back and took again)."""
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(steps):
            self.train()
        return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / steps

    def train_step_peak_mb(self):
        tracemalloc.start()
        self.train()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak / 2**20


# ---- the PyTorch side: the same model ------------------------------------------------------------
class TorchSide:
    def __init__(self, c, streams):
        import torch

        self.torch, self.c, self.M = torch, c, streams
        torch.manual_seed(0)
        nn = torch.nn
        self.embed = nn.Embedding(c["V"], c["E"])
        self.lstm = nn.LSTM(c["E"], c["H"], c["L"])  # time-major like lstmgen
        self.head = nn.Linear(c["H"], c["V"])
        self.params = [*self.embed.parameters(), *self.lstm.parameters(), *self.head.parameters()]
        self.opt = torch.optim.Adam(self.params, lr=LR)
        gen = torch.Generator().manual_seed(0)
        self.x = torch.randint(0, c["V"], (c["T"], c["N"]), generator=gen)
        self.y = torch.randint(0, c["V"], (c["T"] * c["N"],), generator=gen)
        zeros = lambda n: (torch.zeros(c["L"], n, c["H"]), torch.zeros(c["L"], n, c["H"]))  # noqa: E731
        self.state, self.eval_state = zeros(c["N"]), zeros(c["N"])
        self.sample_state = {1: zeros(1), streams: zeros(streams)}
        self.ids = {m: torch.zeros(1, m, dtype=torch.long) for m in (1, streams)}

    def _logits(self, x, state):
        out, state = self.lstm(self.embed(x), state)
        return self.head(out.reshape(-1, self.c["H"])), state

    def train(self):
        t = self.torch
        self.opt.zero_grad(set_to_none=True)
        logits, state = self._logits(self.x, self.state)
        self.state = tuple(s.detach() for s in state)  # truncated BPTT
        t.nn.functional.cross_entropy(logits, self.y).backward()
        t.nn.utils.clip_grad_norm_(self.params, CLIP)
        self.opt.step()

    def eval(self):
        t = self.torch
        with t.no_grad():
            logits, self.eval_state = self._logits(self.x, self.eval_state)
            t.nn.functional.cross_entropy(logits, self.y, reduction="sum").item()

    def sample(self, m):
        t = self.torch
        with t.no_grad():
            logits, self.sample_state[m] = self._logits(self.ids[m], self.sample_state[m])
            probs = t.softmax(logits, dim=1)
            self.ids[m] = t.multinomial(probs, 1).reshape(1, m)


# ---- the worker: one side, one configuration, answers one request per line -----------------------
def set_threads(threads):
    """Pin PyTorch's intra-op threads."""
    import torch

    torch.set_num_threads(threads)


def lstmgen_budget(threads, shards):
    """A function phase -> None that sets lstmgen's threads as its commands do for that phase:
    train and eval with ``shards`` (one BLAS thread per worker), sampling with n BLAS threads."""
    from lstmgen.training.threads import set_budget, usable_cores

    n = threads or usable_cores()
    return lambda phase: set_budget(n, shards if phase in ("train", "eval") else 1)


def worker(side, name, streams, seconds, threads, shards):
    c = CONFIGS[name]
    if side == "lstmgen":
        obj, budget = LstmgenSide(c, streams, shards), lstmgen_budget(threads, shards)
    else:
        if threads:
            set_threads(threads)
        obj, budget = TorchSide(c, streams), lambda phase: None
    tokens = {"train": c["T"] * c["N"], "eval": c["T"] * c["N"], "sample_1": 1, "sample_M": streams}
    run = {"train": obj.train, "eval": obj.eval, "sample_1": lambda: obj.sample(1),
           "sample_M": lambda: obj.sample(streams)}
    rss0 = rss_peak_mb()  # after the model and data are made, before the first step
    for phase in PHASES:  # warm-up
        budget(phase)
        timed(run[phase], 0.2)
    extra = {}
    if side == "lstmgen":
        budget("sample_1")  # the GEMM floor with all n threads on each GEMM
        extra["gemm_s"] = obj.gemm_seconds()
        budget("train")
        extra["layer_floats"], extra["formula_floats"] = obj.layer_memory()
        extra["step_faults"] = obj.train_step_faults()
        extra["step_peak_mb"] = obj.train_step_peak_mb()
    print(json.dumps({"ready": True, **extra}), flush=True)
    for line in sys.stdin:
        phase = line.strip()
        if phase == "rss":
            print(json.dumps({"rss_mb": rss_peak_mb() - rss0}), flush=True)
            continue
        budget(phase)
        sec = timed(run[phase], seconds)
        print(json.dumps({"tok_s": tokens[phase] / sec}), flush=True)


class Worker:
    def __init__(self, side, name, args):
        cmd = [sys.executable, __file__, "--worker", side, "--config", name,
               "--streams", str(args.streams), "--seconds", str(args.seconds), "--threads", str(args.threads),
               "--shards", str(args.shards)]
        cmd += ["--process-tuning"] * args.process_tuning + ["--torch-tuned"] * args.torch_tuned
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.info = self._read()

    def _read(self):
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("benchmark worker died; run it alone to see its traceback")
        return json.loads(line)

    def ask(self, request):
        self.proc.stdin.write(request + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def summary(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def measure(name, args, with_torch):
    c = CONFIGS[name]
    sides = {"lstmgen": Worker("lstmgen", name, args)}
    if with_torch:
        sides["torch"] = Worker("torch", name, args)
    rates = {s: {p: [] for p in PHASES} for s in sides}
    for _ in range(args.repeats):
        for phase in PHASES:
            for s, w in sides.items():  # A B A B: each phase alternates between the sides
                time.sleep(args.pause)  # let the other process's threads go to sleep
                rates[s][phase].append(w.ask(phase)["tok_s"])
    info = sides["lstmgen"].info
    result = {"config": name, **c, "streams": args.streams}
    for s, w in sides.items():
        result[s] = {p: summary(v) for p, v in rates[s].items()}
        result[s]["rss_peak_mb"] = w.ask("rss")["rss_mb"]
        w.close()
    floor_tok_s = c["T"] * c["N"] / (3 * info["gemm_s"])
    result["lstmgen"]["gemm_floor_fraction"] = result["lstmgen"]["train"]["median"] / floor_tok_s
    result["lstmgen"]["train_step_peak_mb"] = info["step_peak_mb"]
    result["lstmgen"]["train_step_faults"] = info["step_faults"]
    result["lstmgen"]["layer_activation_floats"] = info["layer_floats"]
    result["lstmgen"]["layer_formula_floats"] = info["formula_floats"]
    if with_torch:
        result["ratio"] = {p: result["lstmgen"][p]["median"] / result["torch"][p]["median"] for p in PHASES}
    return result


def versions():
    import platform

    v = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "python": platform.python_version(),
         "numpy": np.__version__, "cpus": os.cpu_count(), "machine": platform.machine()}
    try:
        with open("/proc/cpuinfo") as f:
            v["cpu"] = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    try:
        from threadpoolctl import threadpool_info

        v["blas"] = ", ".join(f"{i['internal_api']} {i.get('version')} ({i['num_threads']} threads)"
                              for i in threadpool_info() if i["user_api"] == "blas")
    except ImportError:
        pass
    try:
        import torch

        v["torch"] = f"{torch.__version__} ({torch.get_num_threads()} threads)"
    except ImportError:
        v["torch"] = None
    return v


def fmt(s):
    return f"{s['median']:8.3g} ({s['min']:.3g}-{s['max']:.3g})"


def print_table(results, env):
    print(" | ".join(f"{k}: {v}" for k, v in env.items()))
    print(f"{'config':<11} {'phase':<9} {'lstmgen tok/s (min-max)':>26} {'torch tok/s (min-max)':>26} {'ratio':>6}")
    for r in results:
        for p in PHASES:
            torch_s = fmt(r["torch"][p]) if "torch" in r else "-"
            ratio = f"{r['ratio'][p]:.2f}x" if "ratio" in r else "-"
            print(f"{r['config']:<11} {p:<9} {fmt(r['lstmgen'][p]):>26} {torch_s:>26} {ratio:>6}")
        g = r["lstmgen"]
        torch_rss = f"{r['torch']['rss_peak_mb']:.0f}" if "torch" in r else "-"
        print(f"{'':<11} GEMM floor fraction {g['gemm_floor_fraction']:.2f}; page faults per train step "
              f"{g['train_step_faults']:.0f}; peak MB: lstmgen train step "
              f"{g['train_step_peak_mb']:.1f} (tracemalloc), RSS rise lstmgen {g['rss_peak_mb']:.0f} / torch "
              f"{torch_rss}; layer-0 activations {g['layer_activation_floats'] / 1e6:.2f}M floats "
              f"(formula {g['layer_formula_floats'] / 1e6:.2f}M)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", action="append", choices=sorted(CONFIGS),
                    help="a reference configuration (repeatable; default all)")
    ap.add_argument("--repeats", type=int, default=5, help="measurements per phase and side")
    ap.add_argument("--seconds", type=float, default=0.5, help="length of one measurement")
    ap.add_argument("--pause", type=float, default=0.3,
                    help="seconds between measurements, for the other side's idle threads to stop spinning")
    ap.add_argument("--streams", type=int, default=32, help="M, the streams of batched sampling")
    ap.add_argument("--threads", type=int, default=0,
                    help="threads per side (0 = lstmgen: the usable cores; PyTorch: its default)")
    ap.add_argument("--shards", type=int, default=TrainConfig.shards,
                    help="lstmgen's shards of a step (train.shards; 1 = the whole batch in one call)")
    ap.add_argument("--process-tuning", action="store_true",
                    help="make the process settings of the `lstmgen` entry point (lstmgen/_entry.py) in the workers")
    ap.add_argument("--torch-tuned", action="store_true",
                    help="with --process-tuning, make them in the PyTorch worker too")
    ap.add_argument("--no-torch", action="store_true", help="lstmgen only, even if PyTorch is installed")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--worker", choices=["lstmgen", "torch"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        return worker(args.worker, args.config[0], args.streams, args.seconds, args.threads, args.shards)
    try:
        import torch  # noqa: F401

        with_torch = not args.no_torch
    except ImportError:
        with_torch = False
    results = [measure(name, args, with_torch) for name in args.config or CONFIGS]
    env = versions()
    env["threads"] = args.threads or "default"
    env["shards"] = args.shards
    env["process_tuning"] = args.process_tuning
    env["malloc_env"] = " ".join(f"{k}={v}" for k, v in sorted(os.environ.items()) if k.startswith("MALLOC_"))
    if args.json:
        print(json.dumps({"env": env, "results": results}, indent=1))
    else:
        print_table(results, env)


if __name__ == "__main__":
    main()
