"""``lstmgen train --procs P`` (and ``eval``): start P processes on this machine through ``mpiexec``.

    lstmgen train --procs 2 --config c.yaml
      -> mpiexec -n 2 -bind-to core:1 python -m mpi4py -m lstmgen train --config c.yaml

``python -m mpi4py`` makes an exception on one rank abort the whole job instead of leaving
the others waiting. Each rank gets ``cores // P`` BLAS threads (``OPENBLAS_NUM_THREADS``,
``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, set before NumPy loads; your own settings win) and,
when P <= cores, is bound to that many cores, so the ranks do not oversubscribe the machine
(``nn/blocks.py`` also sizes its threads by the cores a process may run on).

``--procs auto`` is one process per core, as many as divide ``train.batch_size`` while
every rank keeps at least ``AUTO_MIN_STREAMS`` streams, when mpi4py and mpiexec are
installed; one process otherwise (never an error). How two processes compare with one, and
what is not measured: benchmarks/RESULTS.md, "Data parallel on MPI". The floor of 8 streams
keeps each rank's per-step GEMMs from shrinking to a row or two.

This module imports neither NumPy nor mpi4py: ``__main__`` uses it before NumPy loads.
"""

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from typing import List, Optional

from ..errors import ConfigError, MissingPackageError
from ..nn.blocks import cores  # noqa: F401 (no NumPy there)

INSTALL_HINT = "pip install 'lstmgen[mpi]'"
BLAS_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
AUTO_MIN_STREAMS = 8  # --procs auto keeps at least this many streams per rank
# the world size, this process's rank and the ranks on this host, as MPICH's mpiexec (hydra) and Open MPI's set them
_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE")
_RANK_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK")
_LOCAL_SIZE_VARIABLES = ("MPI_LOCALNRANKS", "OMPI_COMM_WORLD_LOCAL_SIZE")


def launched_size(environ=os.environ) -> int:
    """How many ranks the MPI launcher that started this process started (1: none)."""
    for name in _SIZE_VARIABLES:
        value = environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return 1


def launched_rank(environ=os.environ) -> int:
    """This process's rank in the MPI job that started it (0: none)."""
    for name in _RANK_VARIABLES:
        value = environ.get(name, "")
        if value.isdigit():
            return int(value)
    return 0


def ranks_on_this_host(environ=os.environ) -> int:
    """How many ranks share this machine (for their BLAS threads); 1 when not launched by MPI."""
    for name in _LOCAL_SIZE_VARIABLES:
        value = environ.get(name, "")
        if value.isdigit() and int(value) > 0:
            return int(value)
    return launched_size(environ)


def parse_procs(value: str) -> Optional[int]:
    """``--procs`` text -> a positive count, or None for ``auto``."""
    text = str(value).strip().lower()
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise ConfigError(f"--procs {value}: expected a positive whole number of processes, or auto")
    return int(text)


def auto_procs(batch_size: Optional[int], num_cores: int, mpi: bool) -> int:
    """What ``--procs auto`` starts (see the module docstring): ``mpi`` whether mpi4py and
    mpiexec are installed; ``batch_size`` None for evaluation (any count: it splits unevenly)."""
    if not mpi:
        return 1
    if batch_size is None:
        return num_cores
    fits = [p for p in range(1, num_cores + 1) if batch_size % p == 0 and batch_size // p >= AUTO_MIN_STREAMS]
    return max(fits, default=1)


def mpi_installed() -> bool:
    try:
        find_mpiexec()
    except MissingPackageError:
        return False
    return True


def blas_threads(num_cores: int, ranks_here: int) -> int:
    return max(1, num_cores // max(1, ranks_here))


def set_blas_threads(environ, num_cores: int, ranks_here: int) -> None:
    """Each of ``ranks_here`` ranks on this machine gets its share of the cores for BLAS,
    unless the variable is already set. Call before NumPy loads."""
    if ranks_here > 1:
        for name in BLAS_VARIABLES:
            environ.setdefault(name, str(blas_threads(num_cores, ranks_here)))


def find_mpiexec() -> str:
    """The ``mpiexec`` beside this Python (the ``mpich`` wheel's), else the first on PATH;
    without mpi4py or mpiexec, a one-line error naming the install command."""
    if importlib.util.find_spec("mpi4py") is None:
        raise MissingPackageError(f"--procs needs mpi4py, which is not installed; install it with: {INSTALL_HINT}")
    beside = os.path.join(os.path.dirname(sys.executable), "mpiexec")
    found = beside if os.access(beside, os.X_OK) else shutil.which("mpiexec")
    if found is None:
        raise MissingPackageError(f"--procs needs mpiexec, which is not on PATH; install MPICH with: {INSTALL_HINT}")
    return found


def command(mpiexec: str, procs: int, args: List[str], num_cores: int) -> List[str]:
    """The ``mpiexec`` command line that runs ``lstmgen ARGS`` (``train ...``) on ``procs`` ranks."""
    bind = ["-bind-to", f"core:{num_cores // procs}"] if procs <= num_cores else []
    return [mpiexec, "-n", str(procs), *bind, sys.executable, "-m", "mpi4py", "-m", "lstmgen", *args]


def run(cmd: List[str], procs: int, num_cores: int) -> int:
    """Run ``cmd`` and return its exit status. Ctrl-C reaches the ranks through ``mpiexec``
    (which forwards SIGINT and SIGTERM to every rank): this process ignores SIGINT while it
    waits and passes SIGTERM on."""
    env = dict(os.environ)
    set_blas_threads(env, num_cores, procs)
    proc = subprocess.Popen(cmd, env=env)
    previous_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, lambda signum, frame: proc.send_signal(signal.SIGTERM))
    try:
        return proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
