"""How long a command takes to start: the default corpus against a small text file, and the
time from the command to its first output for train, sample, eval, score and --help.

    python benchmarks/startup.py                 # 3 repeats, medians
    python benchmarks/startup.py --repeats 5

Everything runs in a temporary folder with its own cache of built-in corpora
(``LSTMGEN_CACHE_DIR``), built once first (that time is printed too), so the user's cache is
never touched and the figures are those of a user after the first build.

1. ``lstmgen train --config tiny --set train.max_steps=1 --out RUN`` on the default corpus
   (``builtin:python-docstrings``) and on a generated text file of about 6 KB, alternated
   (A B A B ...) so that a change in the machine's load hits both; the ratio of their median
   wall times (the goal of issue 20: at most 1.5). The run ends with an evaluation of the
   whole validation split, which is work, not start-up, and grows with the corpus (175,000
   characters for the default corpus, 640 for the file); so the pair is timed again with
   ``data.val_fraction=0`` (no validation split): start-up, one step and the checkpoint.
2. For each command, the time from starting it to its first byte of output (stdout or
   stderr) and to its end: ``train`` (the 1-step run above: its first output is the resolved
   config, its end is after the first step and checkpoint), ``sample`` (200 characters),
   ``eval`` (the default corpus's validation split), ``score`` (a sentence), ``--help``. The
   run they use is a tiny 1-step run made here.

Times are medians over --repeats, min-max beside them; a shared machine makes them noisy.
"""

import argparse
import os
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def lstmgen(*args, env):
    """Run ``python -m lstmgen ARGS``: (seconds to the first byte of output, seconds to the end)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "lstmgen", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first, output = None, []
    with selectors.DefaultSelector() as sel:
        for stream in (proc.stdout, proc.stderr):
            sel.register(stream, selectors.EVENT_READ)
        while sel.get_map():
            for key, _ in sel.select():
                data = os.read(key.fileobj.fileno(), 65536)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                first = first if first is not None else time.perf_counter() - start
                output.append(data)
    code = proc.wait()
    end = time.perf_counter() - start
    if code != 0:
        sys.exit(f"lstmgen {' '.join(map(str, args))} exited {code}:\n{b''.join(output).decode(errors='replace')}")
    return first if first is not None else end, end


def write_text(path):
    """About 6 KB of generated text: 200 lines of 8 words drawn with seed 0 (as tests/conftest.py)."""
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "big", "red", "house"]
    path.write_text("\n".join(" ".join(rng.choice(words, size=8)).capitalize() + "." for _ in range(200)) + "\n")
    return path


def summary(times):
    return f"{statistics.median(times):6.2f} s  ({min(times):.2f}-{max(times):.2f})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lstmgen-startup-") as tmp:
        tmp = Path(tmp)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "LSTMGEN_CACHE_DIR": str(tmp / "cache")}
        text = write_text(tmp / "small.txt")
        _, build = lstmgen("corpora", env=env)
        print(f"first build of the built-in corpora (lstmgen corpora, empty cache): {build:.2f} s")

        tiny = ["train", "--config", "tiny", "--set", "train.max_steps=1"]
        for label, extra in (("", []), (", no validation split", ["--set", "data.val_fraction=0"])):
            runs = {"default": [], "small": []}
            for i in range(args.repeats):
                runs["default"].append(lstmgen(*tiny, *extra, "--out", tmp / f"default{len(extra)}-{i}", env=env))
                runs["small"].append(lstmgen(*tiny, *extra, "--set", f"data.corpus={text}",
                                             "--out", tmp / f"small{len(extra)}-{i}", env=env))
            default, small = ([e for _, e in runs[k]] for k in ("default", "small"))
            print(f"\n1-step tiny run{label}, {args.repeats} repeats, wall time (median, min-max):")
            print(f"  default corpus (builtin:python-docstrings, cached) {summary(default)}")
            print(f"  small text file ({text.stat().st_size:,} bytes)            {summary(small)}")
            print(f"  ratio default / small: {statistics.median(default) / statistics.median(small):.2f}x "
                  "(goal: at most 1.5x)")
            if not extra:
                train_times = runs["default"]  # (first output, end) of the train command below

        run = tmp / "default0-0"
        commands = {"train": None, "sample": ["sample", run, "--length", "200"], "eval": ["eval", run],
                    "score": ["score", run, "The quick brown fox jumps over the lazy dog."], "--help": ["--help"]}
        print(f"\nfrom the command to its first output and to its end, {args.repeats} repeats (median, min-max):")
        for name, command in commands.items():
            times = train_times if command is None else [lstmgen(*command, env=env) for _ in range(args.repeats)]
            print(f"  {name:<7} first output {summary([f for f, _ in times])}   end {summary([e for _, e in times])}")


if __name__ == "__main__":
    main()
