"""Where one training step of lstmgen spends its time, by phase, on the reference configurations.

    python benchmarks/phases.py [--config char_h256] [--threads 1] [--no-vocab-space]

Each phase is timed on its own with the real shapes and dtypes (best of several runs):
  embedding       lookup and its backward (none where layer 0 works in vocabulary space)
  input GEMM      x W_x of all T steps, one per layer (layer 0 in vocabulary space: the
                  (V, 4H) table and its lookup, nn/vocab_space.py)
  recurrent GEMM  the T products h_{t-1} W_h of forward and the T products da W_h^T of backward
  elementwise     what remains of the layers' forward + backward: activations, cell update,
                  their derivatives (the layer timed whole, minus its GEMMs)
  weight GEMM     dW and dx of each layer, after its time loop (layer 0 in vocabulary space:
                  the per-token sums, E^T S, S W_x^T and H_prev^T da)
  head GEMM       logits, and the head's dW and dh
  softmax         cross-entropy forward and backward
  clip, Adam      gradient clipping and the optimiser step
The phases add up to about the measured step (the rest is Python glue); timings are noisy.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lstmgen._entry import tune_process  # noqa: E402

tune_process()  # as the `lstmgen` command does, before NumPy loads: `import lstmgen` alone sets nothing
import numpy as np  # noqa: E402
from speed import CONFIGS  # noqa: E402

from lstmgen.nn.model import LanguageModel  # noqa: E402
from lstmgen.nn import layers  # noqa: E402
from lstmgen.nn.ops import backward_product, input_and_weight_grads, project_inputs  # noqa: E402
from lstmgen.nn.vocab_space import Tokens  # noqa: E402
from lstmgen.training.optim import Adam, clip_grad_norm  # noqa: E402


def best(fn, repeats=7):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def phases(c, vocab_space=True):
    V, E, H, L, N, T = (c[k] for k in "VEHLNT")
    model = LanguageModel("lstm", V, E, H, L, dropout=0.0, vocab_space=vocab_space, reset_at_eod=False)
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    opt = Adam(params)
    x, y = rng.integers(0, V, (T, N)), rng.integers(0, V, (T, N))  # (T, N)
    state = model.init_state(N)
    f32 = np.float32
    out = {}
    _, grads, _ = model.loss_and_grads(params, x, y, state)
    step = best(lambda: model.loss_and_grads(params, x, y, state))
    out["clip"] = best(lambda: clip_grad_norm(grads, 5.0))
    out["Adam"] = best(lambda: opt.step(params, grads, 1e-9))
    step += out["clip"] + out["Adam"]
    demb = np.ones((T, N, E), f32)
    tokens = model._embed(params, x)  # (T, N, E), or Tokens where layer 0 works in vocabulary space
    in_vocab_space = isinstance(tokens, Tokens)
    out["embedding"] = 0.0 if in_vocab_space else best(lambda: (layers.embedding_forward(params["embed.W"], x),
                                                                layers.embedding_backward(params["embed.W"], x, demb)))
    out["input GEMM"] = out["recurrent GEMM"] = out["weight GEMM"] = out["elementwise"] = 0.0
    for l, cell in enumerate(model.cells):
        D = cell.input_size
        W = params[f"layers.{l}.W"]
        xl = tokens if l == 0 and in_vocab_space else np.ones((T, N, D), f32)
        h, da = np.ones((N, H), f32), np.ones((N, 4 * H), f32)
        ah, dh = np.empty((N, 4 * H), f32), np.empty((N, H), f32)
        dh_prev = backward_product(W[D:], N, f32)  # as the cells' backward computes da W_h^T
        ax = np.empty((T, N, 4 * H), f32)
        gi = best(lambda: project_inputs(xl, W[:D], params[f"layers.{l}.b"], ax))
        gr = best(lambda: [np.matmul(h, W[D:], out=ah) for _ in range(T)]) + \
            best(lambda: [dh_prev(da, dh) for _ in range(T)])
        daf, hsf = np.ones((T * N, 4 * H), f32), np.ones((T * N, H), f32)
        dxl, dW = np.empty(xl.table.shape if l == 0 and in_vocab_space else (T, N, D), f32), np.empty_like(W)
        gw = best(lambda: input_and_weight_grads(daf, xl, hsf, W, dxl, dW))
        p = {"W": W, "b": params[f"layers.{l}.b"]}
        dout = np.ones((T, N, H), f32)

        def layer():
            _, _, cache = cell.forward(p, xl, cell.init_state(N))
            cell.backward(p, dout, None, cache)
        whole = best(layer)
        out["input GEMM"] += gi
        out["recurrent GEMM"] += gr
        out["weight GEMM"] += gw
        out["elementwise"] += max(0.0, whole - gi - gr - gw)
    hs = np.ones((T * N, H), f32)
    dlogits = np.ones((T * N, V), f32)
    out["head GEMM"] = best(lambda: (hs @ params["head.W"], hs.T @ dlogits, dlogits @ params["head.W"].T))
    logits = np.ones((T * N, V), f32)
    out["softmax"] = best(lambda: layers.cross_entropy_backward(
        layers.cross_entropy_forward(logits.copy(), y.reshape(-1))[1], y.reshape(-1), 1.0)) - best(logits.copy)
    return step, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", action="append", choices=sorted(CONFIGS))
    ap.add_argument("--threads", type=int, default=0, help="BLAS threads (0 = default; needs threadpoolctl)")
    ap.add_argument("--no-vocab-space", action="store_true", help="layer 0 on the plain (T*N, E) path")
    args = ap.parse_args()
    if args.threads:
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads, user_api="blas")
    for name in args.config or CONFIGS:
        c = CONFIGS[name]
        step, out = phases(c, vocab_space=not args.no_vocab_space)
        tokens = c["T"] * c["N"]
        print(f"{name}: one training step {step * 1e3:.1f} ms ({tokens / step:.0f} tokens/s); phases:")
        for k, v in sorted(out.items(), key=lambda kv: -kv[1]):
            print(f"  {k:<15} {v * 1e3:8.2f} ms  {100 * v / step:5.1f}%")
        print(f"  {'(sum)':<15} {sum(out.values()) * 1e3:8.2f} ms  {100 * sum(out.values()) / step:5.1f}%")


if __name__ == "__main__":
    main()
