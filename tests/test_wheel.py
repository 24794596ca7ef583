"""A built wheel, installed in a fresh virtual environment, trains from an empty folder with a
shipped config named by its name: the configs/ folder travels inside the package.

Builds with the running environment's setuptools (no build isolation, no network), installs
with the new venv's own pip (no index), and lends that venv this environment's
site-packages for numpy, click, tqdm and pyyaml (a path in a .pth file: the editable
lstmgen there is not loaded). About 10 s.
"""

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig

import pytest

from tests.helpers import ROOT, write_corpus


def sh(*cmd, cwd=None, env=None):
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{cmd}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.mark.slow  # builds a wheel and a virtual environment: about 20 s
@pytest.mark.skipif(os.name == "nt", reason="the venv layout below is POSIX's (bin/, lib/)")
def test_wheel_ships_the_configs_and_trains_from_an_empty_folder(tmp_path):
    setuptools = pytest.importorskip("setuptools")  # the test extra installs it
    # bdist_wheel is built into setuptools from 70.1; an older one needs the `wheel` package
    assert tuple(map(int, setuptools.__version__.split(".")[:2])) >= (70, 1) or importlib.util.find_spec("wheel"), \
        f"setuptools {setuptools.__version__} cannot build a wheel alone: pip install -e '.[test]' upgrades it"
    src = tmp_path / "src"  # a copy, so the build leaves no build/ or egg-info in the repository
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for name in ("lstmgen", "configs"):  # lstmgen/configs is a link to ../configs: kept as a link
        shutil.copytree(ROOT / name, src / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    sh(sys.executable, "-m", "pip", "wheel", src, "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist")
    wheel, = (tmp_path / "dist").glob("lstmgen-*.whl")

    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", venv)  # with its own pip (ensurepip: offline)
    python = venv / "bin" / "python"
    sh(python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel)
    site = sh(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    paths = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (tmp_path / site / "dependencies.pth").write_text("\n".join(sorted(paths)) + "\n")

    empty = tmp_path / "empty"
    empty.mkdir()
    write_corpus(tmp_path / "corpus.txt")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = sh(python, "-c", "import lstmgen; print(lstmgen.__file__)", cwd=empty, env=env)
    assert where.startswith(str(venv)), where
    lstmgen = venv / "bin" / "lstmgen"
    sh(lstmgen, "train", "--config", "tiny", "--out", "run", "--set", f"data.corpus={tmp_path / 'corpus.txt'}",
       "--set", "train.max_steps=3", "--set", "train.eval_interval=3", cwd=empty, env=env)
    assert "hidden_size: 32" in (empty / "run" / "config.yaml").read_text()  # tiny's, not the default 256
    help_text = " ".join(sh(lstmgen, "train", "--help", cwd=empty, env=env).split())
    assert "classic-word-lstm" in help_text and "tiny" in help_text
    assert "train.seq_len = 100" in sh(lstmgen, "config", "train.seq_len", cwd=empty, env=env)
