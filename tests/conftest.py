"""Shared helpers for the tests: small generated corpora and a numeric gradient checker; and
the cache of built-in corpora kept in a folder of the test session, never the user's."""

import os

import numpy as np
import pytest

ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _working_folder(tmp_path_factory, monkeypatch):
    """Every test runs in an empty folder of its own, so that no test depends on (or writes
    into) the folder pytest was started from: a `notes.txt` or `runs/` there changes nothing.
    Tests name the repository's files from ROOT."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


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


def write_corpus(path, capitalize=True):
    """Write a generated plain-text corpus of about 6 KB (no text from elsewhere) to ``path``:
    200 lines of 8 words drawn with seed 0, each ending with a full stop."""
    rng = np.random.default_rng(0)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "to", "big", "red", "house"]
    lines = [" ".join(rng.choice(words, size=8)) for _ in range(200)]
    path.write_text("\n".join((line.capitalize() if capitalize else line) + "." for line in lines) + "\n",
                    encoding="utf-8")
    return path


@pytest.fixture
def text_file(tmp_path):
    return write_corpus(tmp_path / "corpus.txt")


@pytest.fixture(scope="session", autouse=True)
def builtin_cache_dir(tmp_path_factory):
    """LSTMGEN_CACHE_DIR in a folder of this session (set in os.environ, so commands the tests
    start in subprocesses inherit it): the suite builds each built-in corpus once, and never
    writes into the user's cache."""
    folder = tmp_path_factory.mktemp("lstmgen-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LSTMGEN_CACHE_DIR", str(folder))
        yield folder
