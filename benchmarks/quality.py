"""Quality at equal steps: ``lstmgen train`` against a plain PyTorch loop (issue 12).

Both sides train the same model (Embedding -> L recurrent layers -> Linear) on the same 90% of
a corpus, in the same N-stream truncated-BPTT layout (lstmgen's ``data.Batches``: one stream
cut into N columns read T tokens at a time, the state carried from window to window and reset
to zero at each epoch), with Adam, global-norm clipping and a constant learning rate, for the
same number of steps. Then each scores the held-out 10% as one stream from a zero state, and
the script reports held-out nats per character, mean and spread over seeds, and the ratio of
each lstmgen row to the PyTorch row.

    lstmgen side   ``lstmgen.training.trainer.train(cfg, run_dir)``, the path of ``lstmgen train``, with
                   ``model.init`` as given (several: one row each); it never imports torch
    PyTorch side   nn.Embedding, nn.LSTM / nn.GRU, nn.Linear with PyTorch's default
                   initialisation; torch.optim.Adam; torch.nn.utils.clip_grad_norm_

The corpus is cut 90/10 at the paragraph break ("\\n\\n") nearest 90% of its characters; the
training part is written to a file that lstmgen reads with ``data.val_fraction: 0`` and the
PyTorch side reads through the same corpus reader, tokenizer and ``Batches``, so both see the
same token ids in the same windows. Every run is a subprocess on one core of its own (CPU
affinity; OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)); ``--jobs`` run at a time.

The defaults are the issue's reference: a 2x256 LSTM, E=64, N=64, T=64, Adam 2e-3, clip 5,
1,500 steps, 3 seeds, ``builtin:python-docstrings``, about 4-8 minutes a run on one core.
Smaller, for comparing initialisation schemes:

    python benchmarks/quality.py --hidden 128 --steps 600 --init pytorch uniform chrono
    python benchmarks/quality.py --cell gru_cudnn --init pytorch forget_bias

Each finished run is appended to ``--results`` (JSON lines), so a table can be rebuilt from
several invocations with ``--table-only``.
"""

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import time
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_APPEND = threading.Lock()  # one --results line at a time
_CPUS = queue.Queue()  # the cores not running a run now
TORCH_CELLS = {"lstm": "LSTM", "gru_cudnn": "GRU", "rnn": "RNN"}  # lstmgen cell -> its torch.nn twin


# ---- the data: a 90/10 cut at a paragraph break, shared by both sides ------------------------
def split_corpus(source: str, folder: Path):
    """Write ``train.txt`` (the first ~90%) and ``heldout.txt`` (the rest) into ``folder``."""
    from lstmgen.data.corpus import read_documents

    text = "\n\n".join(read_documents(source))
    cut = text.rfind("\n\n", 0, int(0.9 * len(text)))
    if cut <= 0:
        cut = text.find("\n\n", int(0.9 * len(text)))
    if cut <= 0:
        raise SystemExit(f"{source}: no paragraph break to cut at")
    (folder / "train.txt").write_text(text[:cut], encoding="utf-8")
    (folder / "heldout.txt").write_text(text[cut + 2:], encoding="utf-8")


def training_data(folder: Path, level: str, batch_size: int, seq_len: int):
    """The tokenizer and windows ``lstmgen train`` builds from ``train.txt`` (val_fraction 0)."""
    from lstmgen.data.corpus import load_corpus
    from lstmgen.data.batches import Batches
    from lstmgen.tokenizers import build_tokenizer

    corpus = load_corpus(str(folder / "train.txt"), val_fraction=0.0)
    tokenizer = build_tokenizer(level, corpus.train)
    return tokenizer, Batches(tokenizer.encode_documents(corpus.train), batch_size, seq_len)


def heldout_ids(folder: Path, tokenizer):
    """The held-out text's ids and the characters its targets stand for."""
    ids = tokenizer.encode((folder / "heldout.txt").read_text(encoding="utf-8"))
    return ids, tokenizer.num_chars(ids[1:])


# ---- one run of each side ---------------------------------------------------------------
def run_lstmgen(a, folder: Path, seed: int, init: str) -> dict:
    from lstmgen.runs.checkpoint import read_checkpoint
    from lstmgen.runs.config import load_config
    from lstmgen.evaluation.evaluate import evaluate_ids
    from lstmgen.nn.model import LanguageModel
    from lstmgen.training.trainer import train

    cfg = load_config(None, [
        f"data.corpus={folder / 'train.txt'}", "data.val_fraction=0", f"tokenizer.level={a.level}",
        f"model.cell={a.cell}", f"model.embed_dim={a.embed}", f"model.hidden_size={a.hidden}",
        f"model.num_layers={a.layers}", "model.dropout=0", f"model.init={init}",
        f"train.batch_size={a.batch_size}", f"train.seq_len={a.seq_len}", f"train.learning_rate={a.lr}",
        "train.lr_schedule=constant", f"train.grad_clip={a.clip}", f"train.max_steps={a.steps}",
        f"train.eval_interval={a.steps}", f"train.log_interval={a.steps}", f"train.seed={seed}",
    ])
    with tempfile.TemporaryDirectory() as run_dir:
        train(cfg, run_dir)
        saved = read_checkpoint(Path(run_dir), "last", with_training_state=False)
        tokenizer, _ = training_data(folder, a.level, a.batch_size, a.seq_len)
        model = LanguageModel.from_config(cfg.model, tokenizer.vocab_size)
        ids, chars = heldout_ids(folder, tokenizer)
        nll, _ = evaluate_ids(model, saved.params, ids, 1, a.seq_len)  # one stream from a zero state
    return {"nats_per_char": nll / chars}


def run_torch(a, folder: Path, seed: int) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    tokenizer, batches = training_data(folder, a.level, a.batch_size, a.seq_len)
    V = tokenizer.vocab_size
    embed = torch.nn.Embedding(V, a.embed)
    rnn = getattr(torch.nn, TORCH_CELLS[a.cell])(a.embed, a.hidden, a.layers)
    head = torch.nn.Linear(a.hidden, V)
    params = [*embed.parameters(), *rnn.parameters(), *head.parameters()]
    opt = torch.optim.Adam(params, lr=a.lr)

    def forward(x, state):
        out, state = rnn(embed(x), state)  # (T, N, H)
        return head(out).reshape(-1, V), state

    def detach(state):
        return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()

    state, window = None, 0
    for _ in range(a.steps):
        if window == 0:
            state = None  # a new epoch: every stream from its start, zero state
        x, y = (torch.from_numpy(v.astype(np.int64)) for v in batches.window(window))
        logits, state = forward(x, state)
        loss = torch.nn.functional.cross_entropy(logits, y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, a.clip)
        opt.step()
        state = detach(state)
        window = (window + 1) % batches.num_windows

    ids, chars = heldout_ids(folder, tokenizer)
    ids = torch.from_numpy(ids.astype(np.int64))
    nll, state = 0.0, None
    with torch.no_grad():
        for t0 in range(0, len(ids) - 1, a.seq_len):  # one stream from a zero state
            x, y = ids[t0:t0 + a.seq_len], ids[t0 + 1:t0 + a.seq_len + 1]
            x = x[:len(y)]
            logits, state = forward(x[:, None], state)
            nll += torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
    return {"nats_per_char": nll / chars}


def worker(a) -> None:
    folder, seed = Path(a.data), a.seed
    t0 = time.perf_counter()
    out = run_torch(a, folder, seed) if a.side == "torch" else run_lstmgen(a, folder, seed, a.init[0])
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out))


# ---- the driver: every (side, init, seed) as a one-thread subprocess -------------------------
def size_key(a) -> dict:
    return {k: getattr(a, k) for k in ("corpus", "level", "cell", "layers", "hidden", "embed", "batch_size",
                                       "seq_len", "lr", "clip", "steps")}


def launch(a, folder: Path, side: str, init: str, seed: int) -> dict:
    cpu = _CPUS.get()  # one core per run, so lstmgen's row-block threads (nn/blocks.py) stay on it too
    try:
        return _launch(a, folder, side, init, seed, cpu)
    finally:
        _CPUS.put(cpu)


def _launch(a, folder, side, init, seed, cpu) -> dict:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, __file__, "--worker", side, "--data", str(folder), "--seed", str(seed),
           "--init", init]
    for k, v in size_key(a).items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          preexec_fn=lambda: os.sched_setaffinity(0, {cpu}))
    if done.returncode != 0:
        raise SystemExit(f"{side} {init} seed {seed} failed:\n{done.stderr[-3000:]}")
    record = {**size_key(a), "side": side, "init": init, "seed": seed, **json.loads(done.stdout.splitlines()[-1])}
    print(f"  {side:8s} {init:12s} seed {seed}: {record['nats_per_char']:.4f} nats/char "
          f"({record['seconds']:.0f} s)", flush=True)
    with _APPEND, open(a.results, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    return record


def table(records) -> str:
    """Markdown: one row per (size, side, init), mean ± sample std over seeds, ratio to torch."""
    groups = {}
    for r in records:
        size = json.dumps({k: r[k] for k in ("corpus", "cell", "layers", "hidden", "steps")})
        groups.setdefault(size, {}).setdefault((r["side"], r["init"]), []).append(r["nats_per_char"])
    lines = ["| corpus | model | steps | trainer | init | seeds | held-out nats/char | vs PyTorch |",
             "|---|---|---:|---|---|---:|---:|---:|"]
    for size, rows in groups.items():
        s = json.loads(size)
        ref = rows.get(("torch", "pytorch"))
        ref_mean = statistics.mean(ref) if ref else None
        for (side, init), vals in sorted(rows.items(), key=lambda kv: (kv[0][0] != "torch", statistics.mean(kv[1]))):
            mean = statistics.mean(vals)
            spread = statistics.stdev(vals) if len(vals) > 1 else 0.0
            ratio = f"{mean / ref_mean:.4f}" if ref_mean else "-"
            trainer = "PyTorch loop" if side == "torch" else "`lstmgen train`"
            lines.append(f"| {s['corpus']} | {s['cell']} {s['layers']}x{s['hidden']} | {s['steps']} | {trainer} | "
                         f"{init} | {len(vals)} | {mean:.4f} ± {spread:.4f} | {ratio} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--corpus", default="builtin:python-docstrings", help="any data.corpus source (default: %(default)s)")
    p.add_argument("--level", default="char", choices=["char", "word"], help="tokenizer.level (default: char)")
    p.add_argument("--cell", default="lstm", choices=sorted(TORCH_CELLS), help="model.cell (default: lstm)")
    p.add_argument("--layers", type=int, default=2, help="model.num_layers (default: 2)")
    p.add_argument("--hidden", type=int, default=256, help="model.hidden_size (default: 256)")
    p.add_argument("--embed", type=int, default=64, help="model.embed_dim (default: 64)")
    p.add_argument("--batch-size", type=int, default=64, help="train.batch_size, N (default: 64)")
    p.add_argument("--seq-len", type=int, default=64, help="train.seq_len, T (default: 64)")
    p.add_argument("--lr", type=float, default=2e-3, help="Adam's learning rate, constant (default: 2e-3)")
    p.add_argument("--clip", type=float, default=5.0, help="global gradient-norm clip (default: 5)")
    p.add_argument("--steps", type=int, default=1500, help="optimiser steps of every run (default: 1500)")
    p.add_argument("--seeds", type=int, default=3, help="seeds per row: 0, 1, ... (default: 3)")
    p.add_argument("--init", nargs="+", default=["pytorch"], help="lstmgen's model.init values, one row each")
    p.add_argument("--no-torch", action="store_true", help="skip the PyTorch rows")
    p.add_argument("--jobs", type=int, default=2, help="runs at a time, one thread each (default: 2)")
    p.add_argument("--results", default="quality-results.jsonl", help="JSON lines of every run, appended to")
    p.add_argument("--table-only", action="store_true", help="print the table of --results and stop")
    p.add_argument("--worker", choices=["lstmgen", "torch"], dest="side", help=argparse.SUPPRESS)
    p.add_argument("--data", help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.side:
        return worker(a)
    results = Path(a.results)
    if a.table_only:
        print(table([json.loads(line) for line in results.read_text().splitlines() if line.strip()]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        split_corpus(a.corpus, folder)
        print(f"{a.corpus}: {(folder / 'train.txt').stat().st_size:,} bytes to train on, "
              f"{(folder / 'heldout.txt').stat().st_size:,} held out; {json.dumps(size_key(a))}", flush=True)
        jobs = [("torch", "pytorch", s) for s in range(a.seeds) if not a.no_torch]
        jobs += [("lstmgen", init, s) for init in a.init for s in range(a.seeds)]
        for cpu in sorted(os.sched_getaffinity(0))[:a.jobs]:
            _CPUS.put(cpu)
        with ThreadPoolExecutor(a.jobs) as pool:
            records = list(pool.map(lambda job: launch(a, folder, *job), jobs))
    print(table(records))


if __name__ == "__main__":
    main()
