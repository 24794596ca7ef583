"""Kill a real trainer with SIGKILL at many random points, resume each, and count the bitwise matches.

    python benchmarks/kill_sweep.py [--trials 40] [--seed 0]

Each trial starts a tiny ``lstmgen train`` (2 layers, dropout 0.3, 16 steps, a checkpoint every
4 steps and a kept one every 6) through ``tests/killer.py``, which SIGKILLs it at one point drawn
at random (a step, half-way through an array file, before a rename, before a pointer, before a
prune, half-way through a metrics line); then ``--resume`` runs to the end (a run killed
before its first checkpoint is started again instead). The final weights and metrics.jsonl
are compared with an uninterrupted run of the same config. Prints one line per trial and a summary. The test suite does the same with
fixed kill points (tests/test_kill_resume.py); this is for more evidence than a test should cost.
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
POINTS = ["step", "model.npz", "optimizer.npz", "state.npz", "rename", "last.json", "best.json", "prune",
          "metrics.jsonl"]
MAX_COUNT = {"step": 16, "model.npz": 5, "optimizer.npz": 5, "state.npz": 5, "rename": 5, "last.json": 5,
             "best.json": 4, "prune": 6, "metrics.jsonl": 16}


def lstmgen(args, kill_at="step:1000000000"):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "tests" / "killer.py"), kill_at, *map(str, args)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300).returncode


def final(run_dir):
    with np.load(run_dir / "checkpoints" / json.loads((run_dir / "checkpoints" / "last.json").read_text())["checkpoint"]
                 / "model.npz", allow_pickle=False) as z:
        weights = {k: z[k] for k in z.files}
    lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return weights, [(r["step"], r["train_loss"], r["val_loss"], r["learning_rate"]) for r in lines]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    opts = parser.parse_args()
    rng = np.random.default_rng(opts.seed)
    work = Path(tempfile.mkdtemp(prefix="kill-sweep-"))
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "big", "red", "house"]
    corpus = work / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(words, size=8)) + "." for _ in range(200)) + "\n")
    sets = ["model.num_layers=2", "model.dropout=0.3", "train.max_steps=16", "train.eval_interval=4",
            "train.log_interval=1", "train.keep_every=6", "train.lr_schedule=cosine", "train.warmup_steps=3",
            f"data.corpus={corpus}"]
    fresh = lambda out: ["train", "--config", ROOT / "configs" / "tiny.yaml", "--out", out,
                         *sum((["--set", s] for s in sets), [])]
    counts = {"identical": 0, "different": 0, "not reached": 0}
    for optimizer in ("adam", "sgd"):
        reference = work / f"reference-{optimizer}"
        assert lstmgen(fresh(reference) + ["--set", f"train.optimizer={optimizer}"]) == 0
        ref_weights, ref_metrics = final(reference)
        for trial in range(opts.trials // 2):
            where = POINTS[rng.integers(len(POINTS))]
            kill_at = f"{where}:{rng.integers(1, MAX_COUNT[where] + 1)}"
            out = work / f"{optimizer}-{trial}"
            code = lstmgen(fresh(out) + ["--set", f"train.optimizer={optimizer}"], kill_at)
            if code != -signal.SIGKILL:
                counts["not reached"] += 1
                print(f"{optimizer} {kill_at:16s} not reached (exit {code})")
                continue
            restarted = not (out / "checkpoints" / "last.json").exists()
            args = fresh(out) + ["--set", f"train.optimizer={optimizer}"] if restarted else ["train", "--out", out, "--resume"]
            assert lstmgen(args) == 0, (kill_at, restarted)
            weights, metrics = final(out)
            same = metrics == ref_metrics and all(np.array_equal(weights[k], ref_weights[k]) for k in ref_weights)
            counts["identical" if same else "different"] += 1
            print(f"{optimizer} {kill_at:16s} "
                  f"{'(before the first checkpoint: started again) ' if restarted else ''}"
                  f"-> {'bitwise identical' if same else 'DIFFERENT'}")
            shutil.rmtree(out)
    print(f"kill points tried: {sum(counts.values())}; killed and resumed: {counts['identical'] + counts['different']}; "
          f"bitwise identical: {counts['identical']}; different: {counts['different']}; "
          f"not reached (run ended first): {counts['not reached']}")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
