"""What many test modules share, as plain functions: the repository's root, a generated corpus,
the command line in process, a tiny training run, reading a run's weights and metrics, the
numeric gradient check, and waiting for an event with a deadline.

The fixtures built on them (the session's trained runs, the working folder, the cache) are in
``conftest.py``.
"""

import json
import pathlib
import time

import numpy as np
from click.testing import CliRunner

from lstmgen.cli import cli
from lstmgen.runs import checkpoint as ckpt

ROOT = pathlib.Path(__file__).resolve().parent.parent
TINY = str(ROOT / "configs" / "tiny.yaml")  # trains in seconds


# ---- text ---------------------------------------------------------------------------------------
def write_corpus(path, capitalize=True):
    """Write a generated plain-text corpus of about 6 KB (no text from elsewhere) to ``path``:
    200 lines of 8 words drawn with seed 0, each ending with a full stop."""
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "big", "red", "house"]
    lines = [" ".join(rng.choice(words, size=8)) for _ in range(200)]
    path.write_text("\n".join((line.capitalize() if capitalize else line) + "." for line in lines) + "\n",
                    encoding="utf-8")
    return path


# ---- the command line, in process ---------------------------------------------------------------
def run(*args):
    """``lstmgen ARGS...`` through click's runner; exceptions that are not user errors propagate."""
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def sets(*settings):
    """``--set K=V`` for each setting."""
    return sum((["--set", s] for s in settings), [])


def train_tiny(text_file, out, *settings):
    """``lstmgen train`` of configs/tiny.yaml on ``text_file``: 12 steps, evaluated every 4."""
    return run("train", "--config", TINY, "--out", out, "--set", f"data.corpus={text_file}",
               "--set", "train.max_steps=12", "--set", "train.eval_interval=4", *sets(*settings))


def train(text_file, out, *settings, resume=False):
    """``lstmgen train`` of configs/tiny.yaml on ``text_file`` with the settings (its 40 steps
    unless they say otherwise), or ``--resume`` of ``out`` with them."""
    args = ["train", "--out", out] + (["--resume"] if resume else ["--config", TINY, "--set", f"data.corpus={text_file}"])
    return run(*args, *sets(*settings))


def assert_user_error(result, code, *needles):
    """A user's mistake: exit ``code``, no traceback, and each needle in what was written."""
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.output, result.output


# ---- a run on disk ------------------------------------------------------------------------------
def weights(run_dir, which="last"):
    """The arrays of a run's checkpoint ``which``, by name."""
    with np.load(ckpt.find_checkpoint(run_dir, which) / "model.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def metrics(run_dir, *fields):
    """Each line of metrics.jsonl as a tuple of ``fields``."""
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [tuple(r[f] for f in fields) for r in lines]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


# ---- gradient checks ----------------------------------------------------------------------------
def numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar f() with respect to every element of x (in place)."""
    g = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        fp = f()
        x[i] = old - eps
        fm = f()
        x[i] = old
        g[i] = (fp - fm) / (2 * eps)
    return g


def rel_error(a, b):
    """Relative error of two arrays as a whole: |a - b| / (|a| + |b|) in the L2 norm.

    Element-wise ratios blow up on entries near zero, where the central difference's own
    rounding error (~1e-10) dominates; the norm-wise ratio is the usual gradient-check measure.
    """
    return float(np.linalg.norm(a - b) / max(1e-20, np.linalg.norm(a) + np.linalg.norm(b)))


# ---- waiting for an event -----------------------------------------------------------------------
def wait_for(event, what, seconds=60, interval=0.05, alive=None):
    """Poll ``event()`` until it returns something true and return that; after ``seconds`` (a
    deadline generous for a loaded machine: the event normally comes in well under a second or
    two), or as soon as ``alive()`` says the process we wait on has ended, fail saying ``what``
    did not happen."""
    deadline = time.monotonic() + seconds
    while True:
        got = event()
        if got:
            return got
        if alive is not None and not alive():
            got = event()  # it may have happened just before the end
            if got:
                return got
            raise AssertionError(f"{what} did not happen: the process ended first")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {seconds} s")
        time.sleep(interval)
