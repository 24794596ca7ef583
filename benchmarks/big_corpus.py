"""A corpus larger than memory: tokenisation MB/s and peak resident memory while training.

    python benchmarks/big_corpus.py [--mb 500] [--dir /tmp/lstmgen-big] [--level char] [--steps 50]

Generates ``--mb`` MB of text (lines of random words over a generated vocabulary of 5,000
words with some accented and CJK characters, reshuffled per file; written once, kept for later
runs) as 50 files, then trains
a tiny model on it twice with ``data.token_cache``, each run in a fresh process: the first
tokenises the corpus into the cache, the second finds it there. For each run it prints the
time until training starts (tokenising or cache lookup), the tokenisation speed, the training
time, and the peak resident memory of the process (``ru_maxrss``). Timings are noisy on a
shared machine.
"""

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from lstmgen.runs.config import load_config
from lstmgen.training.trainer import Reporter, train

class Clock(Reporter):
    def start(self, info):
        self.started = time.perf_counter()
        self.info = info

corpus, cache, out, level, steps = sys.argv[2:7]
cfg = load_config(None, [f"data.corpus={corpus}", f"data.token_cache={cache}", f"tokenizer.level={level}",
                         "data.val_fraction=0.002", "model.embed_dim=16", "model.hidden_size=64",
                         "model.num_layers=1", "model.dropout=0", "train.batch_size=32", "train.seq_len=64",
                         f"train.max_steps={steps}", f"train.eval_interval={steps}"])
clock = Clock()
t0 = time.perf_counter()
train(cfg, out, reporter=clock)
t1 = time.perf_counter()
print(json.dumps({"prepare_s": clock.started - t0, "train_s": t1 - clock.started,
                  "train_tokens": clock.info["train_tokens"], "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def generate(folder, mb):
    """``mb`` MB of generated text in 50 files (kept when already there): 10 MB of random
    lines, reshuffled for each file."""
    folder.mkdir(parents=True, exist_ok=True)
    done = folder / "complete.json"
    if done.exists() and json.loads(done.read_text()) == {"mb": mb}:
        return
    rng = np.random.default_rng(0)
    letters = list("abcdefghijklmnopqrstuvwxyz") * 4 + list("éèüößç中文字")
    words = np.array(["".join(rng.choice(letters, size=rng.integers(1, 10))) for _ in range(5000)])
    per_file = int(mb * 1e6 / 50)
    parts, size = [], 0
    while size < min(per_file, 10e6):
        text = " ".join(words[rng.zipf(1.3, size=200_000) % len(words)])
        parts.append(text)
        size += len(text.encode())
    base = "".join(parts).split(" ")
    lines = np.array([" ".join(base[i : i + 12]) + ".\n" for i in range(0, len(base), 12)], dtype=object)
    for i in range(50):
        text = "".join(lines[rng.permutation(len(lines))])
        while len(text.encode()) < per_file:
            text += "".join(lines[rng.permutation(len(lines))])
        (folder / f"part-{i:02d}.txt").write_text(text[:per_file], encoding="utf-8")
    done.write_text(json.dumps({"mb": mb}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=500)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/lstmgen-big"))
    parser.add_argument("--level", default="char", choices=["char", "word", "bpe"])
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    corpus, cache = args.dir / "corpus", args.dir / "cache"
    t0 = time.perf_counter()
    generate(corpus, args.mb)
    size = sum(p.stat().st_size for p in corpus.glob("*.txt"))
    print(f"corpus: {size / 1e6:.0f} MB in 50 files under {corpus} (ready in {time.perf_counter() - t0:.0f} s)")
    shutil.rmtree(cache, ignore_errors=True)
    for run in ("first run (tokenises)", "second run (cached)"):
        out = args.dir / "run"
        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.run([sys.executable, "-c", CHILD, str(ROOT), str(corpus), str(cache), str(out),
                               args.level, str(args.steps)], capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(proc.stderr)
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{run:<22} start after {r['prepare_s']:6.1f} s ({size / 1e6 / r['prepare_s']:6.1f} MB/s), "
              f"{args.steps} steps in {r['train_s']:5.1f} s, {r['train_tokens']:,} tokens per epoch, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
