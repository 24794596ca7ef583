"""The suite's fixtures: an empty working folder for every test, the cache of built-in corpora in
a folder of the session (never the user's), a generated corpus, and the trained runs that many
tests read, each trained once per session.

The session's runs are shared: a test that changes a run (breaks a checkpoint, resumes it,
trains into it) takes ``run_copy`` or copies the run into its own ``tmp_path`` first. Plain
helper functions are in ``helpers.py``.
"""

import pathlib
import shutil

import pytest

import lstmgen
from lstmgen.runs.config import load_config
from tests.helpers import TINY, write_corpus


@pytest.fixture(autouse=True)
def _working_folder(tmp_path_factory, monkeypatch):
    """Every test runs in an empty folder of its own, so that no test depends on (or writes
    into) the folder pytest was started from: a `notes.txt` or `runs/` there changes nothing.
    Tests name the repository's files from ROOT."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


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


# ---- the session's trained runs ------------------------------------------------------------------
def _tiny_run(tmp_path_factory, name, *settings):
    """configs/tiny.yaml (40 steps, evaluated at 20 and 40) at learning rate 0.01 on the
    generated corpus (``write_corpus``, the same text as ``text_file``), trained with the Python
    API into a folder of the session; a few seconds."""
    folder = tmp_path_factory.mktemp(name)
    corpus = write_corpus(folder / "corpus.txt")
    config = load_config(TINY, [f"data.corpus={corpus}", "train.learning_rate=0.01", *settings])
    result = lstmgen.train(config, out=folder / "run")
    assert result.step == 40 and not result.interrupted
    return folder / "run"


@pytest.fixture(scope="session")
def char_run(tmp_path_factory):
    """The tiny character-level run. Read it; never change it (see ``run_copy``)."""
    return _tiny_run(tmp_path_factory, "char-run")


@pytest.fixture(scope="session")
def word_run(tmp_path_factory):
    """The tiny word-level run, lowercased. Read it; never change it."""
    return _tiny_run(tmp_path_factory, "word-run", "tokenizer.level=word", "tokenizer.lowercase=true")


@pytest.fixture(scope="session")
def bpe_run(tmp_path_factory):
    """The tiny byte-level BPE run, 300 tokens. Read it; never change it."""
    return _tiny_run(tmp_path_factory, "bpe-run", "tokenizer.level=bpe", "tokenizer.vocab_size=300")


@pytest.fixture
def run_copy(char_run, tmp_path):
    """A copy of the tiny character-level run in this test's folder, for the test to change."""
    return pathlib.Path(shutil.copytree(char_run, tmp_path / "run"))
