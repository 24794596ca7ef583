"""``python -m lstmgen`` runs the command line, through the same entry point as ``lstmgen``.

Started by ``mpiexec`` (data-parallel training, ``launch.py``), each rank first takes its
share of this machine's cores for BLAS, before NumPy loads (your own settings win).
"""

import os

from .parallel.launch import cores, ranks_on_this_host, set_blas_threads

set_blas_threads(os.environ, cores(), ranks_on_this_host())

from ._entry import main  # noqa: E402 (after the BLAS threads are set)

main()
