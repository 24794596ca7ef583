"""`import lstmgen` changes nothing outside lstmgen; only the command line's entry point tunes
its process, and LSTMGEN_NO_PROCESS_TUNING turns that off. Each check runs a fresh interpreter."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Imports lstmgen and every submodule (or nothing), then measures what freeing 400 MB of 20 MB
# arrays gives back: RSS returns near its start under glibc's default malloc, and stays up when
# something told malloc to keep freed memory (as `import lstmgen` once did with mallopt).
PROBE = r"""
import importlib, json, os, pkgutil, sys
env_before = dict(os.environ)
skipped = []
if sys.argv[1] == "import":
    import lstmgen
    for mod in pkgutil.walk_packages(lstmgen.__path__, "lstmgen.", onerror=skipped.append):
        if mod.name == "lstmgen.__main__":  # runs the command line
            continue
        try:
            importlib.import_module(mod.name)
        except ImportError as e:  # a module of an optional extra that is not installed
            skipped.append(f"{mod.name}: {e}")
env_after = dict(os.environ)
import numpy as np

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

start = rss_mb()
arrays = [np.ones(20 * 2**20 // 8) for _ in range(20)]
held = rss_mb()
del arrays
print(json.dumps({"env_changed": sorted(set(env_after.items()) ^ set(env_before.items())),
                  "held": held - start, "kept": rss_mb() - start, "skipped": [str(s) for s in skipped],
                  "modules": sorted(m for m in sys.modules if m.startswith("lstmgen"))}))
"""


def clean_env():
    """The test's environment without the variables whose setting we look for."""
    return {k: v for k, v in os.environ.items()
            if k not in ("OPENBLAS_THREAD_TIMEOUT", "LSTMGEN_NO_PROCESS_TUNING") and not k.startswith("MALLOC_")}


def probe(mode):
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=300,
                          env={**clean_env(), "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_importing_every_module_leaves_environment_and_malloc_alone():
    plain, imported = probe("plain"), probe("import")
    assert len(imported["modules"]) > 20, imported  # the walk really imported the package
    assert imported["env_changed"] == []
    assert plain["held"] > 350 and imported["held"] > 350  # the arrays were really made
    # freed memory goes back to the system as it does without the import (margin: 100 MB of 400)
    assert imported["kept"] < plain["kept"] + 100, (plain, imported)


def entry_env_after(extra_env):
    """OPENBLAS_THREAD_TIMEOUT as seen after `python -m lstmgen --version` ran in this process."""
    code = ("import os, runpy, sys\n"
            "sys.argv = ['lstmgen', '--version']\n"
            "try:\n    runpy.run_module('lstmgen', run_name='__main__')\n"
            "except SystemExit:\n    pass\n"
            "print(os.environ.get('OPENBLAS_THREAD_TIMEOUT', 'unset'))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**clean_env(), "PYTHONPATH": str(ROOT), **extra_env})
    assert done.returncode == 0, done.stderr
    return done.stdout.split()[-1]


def test_entry_point_tunes_the_process_and_the_opt_out_stops_it():
    assert entry_env_after({}) == "22"
    assert entry_env_after({"OPENBLAS_THREAD_TIMEOUT": "5"}) == "5"  # the user's value wins
    assert entry_env_after({"LSTMGEN_NO_PROCESS_TUNING": "1"}) == "unset"
    assert entry_env_after({"LSTMGEN_NO_PROCESS_TUNING": "0"}) == "22"


def test_entry_point_module_loads_no_numpy_before_tuning():
    code = "import sys, lstmgen._entry; print('numpy' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                          env={**clean_env(), "PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == "False", done.stderr


def test_console_script_goes_through_the_entry_point():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["lstmgen"] == "lstmgen._entry:main"
