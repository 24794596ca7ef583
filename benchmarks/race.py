"""The best model in T minutes: `lstmgen train FILE --time T` against nanoGPT's CPU recipe, run
for the same wall-clock time on the same text, both scored on the same held-out text (issue 25).

    python benchmarks/race.py --nanogpt /tmp/nanogpt                       # every budget: hours
    python benchmarks/race.py --nanogpt /tmp/nanogpt --budgets 1,2 --seeds 1,2 --out race.jsonl

nanoGPT comes from a clone you point to (``--nanogpt DIR``: `git clone
https://github.com/karpathy/nanoGPT`); nothing of it is copied here. It needs torch and numpy.

What runs, for each budget, seed and corpus (the sides alternate their order from one round to
the next, so a change in the machine's load hits each side alike):

- The corpus (``builtin:python-docstrings``, the default, and ``builtin:python-code``) is split
  as lstmgen splits it (``data.val_fraction`` 0.1: whole documents, a fixed choice); the
  documents of each side are joined by a blank line into ``train.txt`` (90%) and
  ``heldout.txt`` (10%). Neither side sees the held-out text while it trains.
- ``lstmgen``: ``lstmgen train train.txt --time T --set train.seed=S`` (its defaults and what a
  time budget picks); it holds out its own validation split from train.txt, as a user's run does.
  ``lstmgen-cosine`` (``--sides``): the same with no dropout and a schedule that ends with the
  budget (``model.dropout=0``, ``train.lr_schedule=cosine``, ``train.final_lr_ratio=0.1``), the
  candidate the 1-minute race turned down (docs/time-budget.md).
- ``nanogpt``: ``python train.py config/train_shakespeare_char.py`` with the CPU recipe of its
  README (``--device=cpu --compile=False --eval_iters=20 --log_interval=1 --block_size=64
  --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128 --dropout=0.0``, min_lr a tenth of the
  learning rate, as that config has it), trained on train.txt; ``max_iters`` and
  ``lr_decay_iters`` set to what fits the budget at the iterations per second measured on
  this machine just before (a short run per corpus on each CPU at once, so the machine is as
  busy as in the race), then the median of that and the rates of the nanoGPT runs since; one
  evaluation at the end (``eval_interval = max_iters``) so its checkpoint is the last
  iteration. Its seed is fixed in train.py (1337); a seed file passed as one more config file
  shifts it by S.
- **Side by side** (the default, ``--cpus 0,1``): the sides of one budget, seed and corpus run at
  the same time, two at once, each pinned to a CPU of its own with one thread (lstmgen's
  ``--threads 1``, nanoGPT's ``OMP_NUM_THREADS=1``), so each has one core and both meet the same
  machine: the same load, the same shared cache. Twice the trials per hour of a race that runs
  one side at a time on both cores, and a third program slows both sides alike rather than
  whichever ran at the time. ``--cpus 0`` runs one side at a time on CPU 0; ``--threads``
  gives each side more threads (then pin nothing: ``--cpus ''``).
- The budget is the wall clock of the whole training command, start-up included, the same rule
  for both; the held-out scoring after it is not part of it. lstmgen's ``--time`` counts from
  when training starts reading the corpus, so it is given T less the interpreter's start-up
  (measured); nanoGPT's iterations are sized to T less its start-up (measured). The table gives
  each command's measured wall time beside its budget.
- Scoring, in nats per character of heldout.txt: lstmgen with ``lstmgen eval RUN --corpus
  heldout.txt`` (its best checkpoint: after a budget, the last one); nanoGPT with its own model
  code on the checkpoint, every character after the first 31 given 32 to 63 characters of
  context (windows of 64, one every 32 characters, the last 32 predictions of each scored; the
  first window's first 31 too).

Each result is one JSON line (``--out``, appended as it comes: a long race can be stopped and
its figures kept); a trial already in ``--out`` (same budget, corpus, side, seed) is not run
again, so the grid can be filled over several sittings, and ``--summary`` prints the table of
a file without running anything. The summary gives, per budget and corpus, the mean over seeds,
then lstmgen against nanoGPT over the seeds both sides ran (their ratio, and in how many lstmgen won).

``--variant NAME=KEY=VALUE,KEY=VALUE`` adds a side: ``lstmgen train --time T`` with those
``--set`` overrides (how the defaults are chosen: docs/time-budget.md).
Everything is written in a temporary folder, with its own cache of built-in corpora.
"""

import argparse
import itertools
import json
import os
import pickle  # nanoGPT's own input format (meta.pkl), written only into the race's temporary folder
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BUDGETS = [1, 2, 5, 10, 30]  # minutes
CORPORA = ["builtin:python-docstrings", "builtin:python-code"]
RECIPE = ["config/train_shakespeare_char.py", "--device=cpu", "--compile=False", "--eval_iters=20",
          "--log_interval=1", "--block_size=64", "--batch_size=12", "--n_layer=4", "--n_head=4", "--n_embd=128",
          "--dropout=0.0"]
COSINE = ["--set", "model.dropout=0", "--set", "train.lr_schedule=cosine", "--set", "train.final_lr_ratio=0.1"]


def prepare(corpus: str, folder: Path, env) -> dict:
    """train.txt, heldout.txt and nanoGPT's data (train.bin, val.bin, meta.pkl) for one corpus."""
    folder.mkdir(parents=True, exist_ok=True)
    code = ("import json, sys; from lstmgen.data.corpus import load_corpus; c = load_corpus(sys.argv[1], "
            "val_fraction=0.1); print(json.dumps([c.train, c.val]))")
    out = subprocess.run([sys.executable, "-c", code, corpus], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    train_docs, val_docs = json.loads(out)
    train, heldout = "\n\n".join(train_docs) + "\n", "\n\n".join(val_docs) + "\n"
    (folder / "train.txt").write_text(train, encoding="utf-8")
    (folder / "heldout.txt").write_text(heldout, encoding="utf-8")
    chars = sorted(set(train + heldout))  # nanoGPT's char recipe: the vocabulary of the whole text
    index = {c: i for i, c in enumerate(chars)}
    np.array([index[c] for c in train], np.uint16).tofile(folder / "train.bin")
    np.array([index[c] for c in heldout], np.uint16).tofile(folder / "val.bin")
    with open(folder / "meta.pkl", "wb") as f:
        pickle.dump({"vocab_size": len(chars), "itos": dict(enumerate(chars)), "stoi": index}, f)
    return {"train_chars": len(train), "heldout_chars": len(heldout), "vocab": len(chars)}


def nanogpt_command(nanogpt: Path, data: Path, out: Path, seed: int, iters: int):
    seed_file = out.parent / f"seed{seed}.py"  # train.py seeds torch with 1337: shift it by the seed
    seed_file.write_text(f"import torch as _torch\n_seed = _torch.manual_seed\n"
                         f"_torch.manual_seed = lambda s: _seed(s + {seed})\n")
    return [sys.executable, "train.py", *RECIPE, str(seed_file), f"--dataset={data}", f"--out_dir={out}",
            f"--max_iters={iters}", f"--lr_decay_iters={iters}", f"--eval_interval={iters}",
            "--always_save_checkpoint=True"], nanogpt


def pinned(cpu):
    """A ``preexec_fn`` that pins the child to ``cpu`` (None: no pinning)."""
    return None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))


def timed(command, cwd, env, cpu=None):
    """Run a command (pinned to ``cpu``); its wall time in seconds and its output."""
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, preexec_fn=pinned(cpu))
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, command))} exited {proc.returncode}:\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return wall, proc.stdout + proc.stderr


def calibrate_nanogpt(nanogpt: Path, data: Path, tmp: Path, env, cpu) -> list:
    """[start-up seconds, seconds per iteration] of the recipe on this corpus, from a 150-iteration run
    (``run_nanogpt`` appends the seconds per iteration of each run)."""
    iters = 150
    out = tmp / f"calibrate-{data.name}-{cpu}"
    wall, output = timed(*nanogpt_command(nanogpt, data, out, 0, iters), env, cpu)
    times = [float(t) / 1000 for t in re.findall(r"^iter \d+: loss [\d.]+, time ([\d.]+)ms", output, re.M)]
    per_iter = statistics.median(times[5:])
    return [max(0.0, wall - per_iter * (iters + 1)), per_iter]


def cpu_model():
    """The processor's name, as Linux gives it (None elsewhere): each row records it."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)


def lstmgen_startup(env) -> float:
    """Seconds from starting `python -m lstmgen` to its command running (``config train.seed``)."""
    return min(timed([sys.executable, "-m", "lstmgen", "config", "train.seed"], ROOT, env)[0] for _ in range(3))


def score_nanogpt(nanogpt: Path, ckpt: Path, ids: np.ndarray) -> float:
    """Mean nats per character of ``ids`` (all but the first) under a nanoGPT checkpoint."""
    import torch  # noqa: PLC0415: only the race needs it

    sys.path.insert(0, str(nanogpt))
    from model import GPT, GPTConfig  # noqa: PLC0415: nanoGPT's model.py

    checkpoint = torch.load(ckpt, map_location="cpu", weights_only=False)  # nanoGPT's own file, made here
    model = GPT(GPTConfig(**checkpoint["model_args"]))
    state = {k.removeprefix("_orig_mod."): v for k, v in checkpoint["model"].items()}
    model.load_state_dict(state)
    model.eval()
    block, stride = 64, 32
    starts = list(range(0, max(1, len(ids) - block), stride))
    total, count = 0.0, 0
    with torch.no_grad():
        for b in range(0, len(starts), 256):
            batch = starts[b:b + 256]
            x = torch.from_numpy(np.stack([ids[s:s + block] for s in batch]).astype(np.int64))
            y = torch.from_numpy(np.stack([ids[s + 1:s + block + 1] for s in batch]).astype(np.int64))
            logits, _ = model(x, y)  # (B, 64, V): with targets, every position
            nll = -torch.log_softmax(logits.float(), -1).gather(-1, y[..., None])[..., 0]  # (B, 64)
            first = 0 if b == 0 else None
            for row, s in enumerate(batch):
                lo = 0 if (first == 0 and row == 0) else block - stride - 1  # 32-63 characters of context
                hi = block if s + block + 1 >= len(ids) else block - 1
                total += float(nll[row, lo:hi].sum())
                count += hi - lo
    return total / count


def run_lstmgen(settings, name, data, tmp, seed, budget_s, startup, env, threads, cpu):
    run = tmp / f"{name}-{seed}-{int(budget_s)}-{data.name}"
    extra = [a for kv in settings for a in ("--set", kv)]
    command = [sys.executable, "-m", "lstmgen", "train", str(data / "train.txt"), "--out", str(run),
               "--time", f"{budget_s - startup:.1f}", "--set", f"train.seed={seed}", "--threads", str(threads), *extra]
    wall, output = timed(command, ROOT, env, cpu)
    step = int(re.search(r"done: step (\d+)", output).group(1))
    _, scored = timed([sys.executable, "-m", "lstmgen", "eval", str(run), "--corpus", str(data / "heldout.txt"),
                       "--json", "--threads", str(threads)], ROOT, env, cpu)
    result = json.loads(scored.strip().splitlines()[-1])
    return {"wall_s": wall, "steps": step, "nats_per_char": result["loss"]}


def run_nanogpt(nanogpt, data, tmp, seed, budget_s, calibration, env, cpu):
    startup, per_iter = calibration[0], statistics.median(calibration[1:])
    iters = max(1, int((budget_s - startup) / per_iter))
    out = tmp / f"nanogpt-{seed}-{int(budget_s)}-{data.name}"
    wall, _ = timed(*nanogpt_command(nanogpt, data, out, seed, iters), env, cpu)
    # the rates seen so far size the next run: their median, since one run's rate swings by 10-20%
    calibration.append(max(1e-3, (wall - startup) / iters))
    _, scored = timed([sys.executable, __file__, "--nanogpt", str(nanogpt), "--score", str(out / "ckpt.pt"),
                       str(data / "val.bin")], ROOT, env, cpu)
    return {"wall_s": wall, "steps": iters, "nats_per_char": float(scored.strip().splitlines()[-1])}


def summary(rows):
    print("\n| budget | corpus | side | seeds | wall s (mean) | steps (mean) | held-out nats/char (mean, min-max) |")
    print("|---|---|---|---:|---:|---:|---|")
    keys = sorted({(r["budget_min"], r["corpus"], r["side"]) for r in rows})
    for budget, corpus, side in keys:
        rs = [r for r in rows if (r["budget_min"], r["corpus"], r["side"]) == (budget, corpus, side)]
        losses = [r["nats_per_char"] for r in rs]
        print(f"| {budget:g} min | {corpus} | {side} | {len(rs)} | {statistics.mean(r['wall_s'] for r in rs):.0f} "
              f"| {statistics.mean(r['steps'] for r in rs):,.0f} | {statistics.mean(losses):.3f} "
              f"({min(losses):.3f}-{max(losses):.3f}) |")
    print("\n| budget | corpus | lstmgen | nanoGPT | lstmgen / nanoGPT | seeds | wins |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for budget, corpus in sorted({(r["budget_min"], r["corpus"]) for r in rows}):
        loss = {side: {r["seed"]: r["nats_per_char"] for r in rows
                       if (r["budget_min"], r["corpus"], r["side"]) == (budget, corpus, side)}
                for side in ("lstmgen", "nanogpt")}
        seeds = sorted(set(loss["lstmgen"]) & set(loss["nanogpt"]))  # the seeds both sides ran
        if seeds:
            ours, theirs = (statistics.mean(loss[side][s] for s in seeds) for side in ("lstmgen", "nanogpt"))
            wins = sum(loss["lstmgen"][s] < loss["nanogpt"][s] for s in seeds)
            print(f"| {budget:g} min | {corpus} | {ours:.3f} | {theirs:.3f} | {ours / theirs:.3f} | {len(seeds)} "
                  f"| {wins}/{len(seeds)} |")


def parse_sides(names, variants):
    """{side: None for nanoGPT, else lstmgen's ``--set`` overrides}."""
    known = {"lstmgen": [], "lstmgen-cosine": COSINE, "nanogpt": None}
    for text in variants:
        name, _, settings = text.partition("=")
        known[name] = [kv for kv in settings.split(",") if kv]
    unknown = [n for n in names if n not in known]
    if unknown:
        sys.exit(f"--sides: unknown side(s) {', '.join(unknown)}; known: {', '.join(known)}")
    return {n: known[n] for n in names}


def read_rows(path):
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nanogpt", type=Path, required=True, help="a clone of karpathy/nanoGPT")
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)), help="minutes, comma-separated")
    parser.add_argument("--seeds", default="1,2,3", help="seeds a side, comma-separated")
    parser.add_argument("--corpora", default=",".join(CORPORA))
    parser.add_argument("--sides", default="lstmgen,nanogpt")
    parser.add_argument("--variant", action="append", default=[], metavar="NAME=KEY=VALUE,...",
                        help="one more lstmgen side: its --set overrides")
    parser.add_argument("--out", type=Path, default=None, help="append each result to this JSON-lines file")
    parser.add_argument("--summary", action="store_true", help="print the table of --out and stop")
    parser.add_argument("--cpus", default="0,1", help="CPUs to pin the sides to, one side on each at a time")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of each side: lstmgen's train.threads, nanoGPT's OMP_NUM_THREADS")
    parser.add_argument("--score", nargs=2, type=Path, metavar=("CKPT", "VAL_BIN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (args.nanogpt / "train.py").is_file() or not (args.nanogpt / "model.py").is_file():
        sys.exit(f"--nanogpt {args.nanogpt}: no train.py and model.py there; give a clone of karpathy/nanoGPT")
    if args.score:  # one nanoGPT checkpoint's held-out loss, in a process of its own
        print(score_nanogpt(args.nanogpt, args.score[0], np.fromfile(args.score[1], dtype=np.uint16)))
        return
    done = read_rows(args.out)
    if args.summary:
        summary(done)
        return
    budgets = [float(b) for b in args.budgets.split(",")]
    seeds = [int(s) for s in args.seeds.split(",")]
    sides = parse_sides(args.sides.split(","), args.variant)
    cpus = [int(c) for c in args.cpus.split(",") if c] or [None]
    rows, machine = [], cpu_model()
    with tempfile.TemporaryDirectory(prefix="lstmgen-race-") as tmp, ThreadPoolExecutor(len(cpus)) as pool:
        tmp = Path(tmp)
        env = {**os.environ, "LSTMGEN_CACHE_DIR": str(tmp / "cache"), "PYTHONPATH": str(ROOT),
               "OMP_NUM_THREADS": str(args.threads)}
        startup = lstmgen_startup(env)
        print(f"lstmgen start-up {startup:.2f} s", flush=True)
        data, calibration = {}, {}
        for corpus in args.corpora.split(","):
            data[corpus] = tmp / corpus.split(":")[-1]
            print(f"{corpus}: {prepare(corpus, data[corpus], env)}", flush=True)
        if "nanogpt" in sides:
            # every CPU busy, as in the race: one corpus is measured on each CPU at once
            corpora = list(itertools.islice(itertools.cycle(data), max(len(cpus), len(data))))
            futures = [(c, pool.submit(calibrate_nanogpt, args.nanogpt, data[c], tmp, env, cpus[i % len(cpus)]))
                       for i, c in enumerate(corpora)]
            for corpus, future in futures:
                startup, per_iter = future.result()
                calibration.setdefault(corpus, [startup]).append(per_iter)
                print(f"  nanoGPT on {corpus}: start-up {startup:.1f} s, {1 / per_iter:.1f} iterations/s", flush=True)
        have = {(r["budget_min"], r["corpus"], r["side"], r["seed"]) for r in done}
        turn = 0
        for budget in budgets:
            for seed in seeds:
                for corpus in data:
                    order = list(sides) if turn % 2 == 0 else list(sides)[::-1]
                    turn += 1
                    todo = [s for s in order if (budget, corpus, s, seed) not in have]
                    for group in range(0, len(todo), len(cpus)):
                        futures = {}
                        for cpu, side in zip(cpus, todo[group:group + len(cpus)]):
                            if sides[side] is None:
                                futures[side] = pool.submit(run_nanogpt, args.nanogpt, data[corpus], tmp, seed,
                                                            budget * 60, calibration[corpus], env, cpu)
                            else:
                                futures[side] = pool.submit(run_lstmgen, sides[side], side, data[corpus], tmp, seed,
                                                            budget * 60, startup, env, args.threads, cpu)
                        for cpu, (side, future) in zip(cpus, futures.items()):
                            result = future.result()
                            row = {"date": time.strftime("%Y-%m-%d %H:%M"), "budget_min": budget, "corpus": corpus,
                                   "side": side, "seed": seed, "cpu": cpu, "cpu_model": machine,
                                   "settings": sides[side], **result}
                            rows.append(row)
                            print(json.dumps(row), flush=True)
                            if args.out:
                                with open(args.out, "a", encoding="utf-8") as f:
                                    f.write(json.dumps(row) + "\n")
    summary(done + rows)


if __name__ == "__main__":
    main()
