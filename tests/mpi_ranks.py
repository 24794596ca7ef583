"""Run ``lstmgen ARGS...`` as one rank of an MPI job, and let a test see inside each rank
(for test_distributed.py; the hooks are installed here, from the outside).

    mpiexec -n P python -m mpi4py tests/mpi_ranks.py OUT_DIR KILL lstmgen-args...

On a normal exit every rank writes its weights to ``OUT_DIR/rank-R.npz``, so a test can
check that the ranks' copies are bitwise identical. ``KILL`` is ``R:K`` (SIGKILL rank R after
its K-th forward and backward pass, before the update) or ``-``.
"""

import os
import signal
import sys
from pathlib import Path

import numpy as np

from lstmgen.cli import main
from lstmgen.parallel.launch import launched_size
from lstmgen.nn.shards import Shards

out_dir, kill = Path(sys.argv[1]), sys.argv[2]
rank = int(os.environ.get("PMI_RANK", "0")) if launched_size() > 1 else 0
seen = {"params": None, "steps": 0}
real = Shards.loss_and_grads  # one call per step, however many shards


def loss_and_grads(self, params, *args, **kwargs):
    out = real(self, params, *args, **kwargs)
    seen["params"], seen["steps"] = params, seen["steps"] + 1
    if kill != "-" and kill.split(":") == [str(rank), str(seen["steps"])]:
        os.kill(os.getpid(), signal.SIGKILL)
    return out


Shards.loss_and_grads = loss_and_grads
sys.argv = ["lstmgen", *sys.argv[3:]]
try:
    main()
except SystemExit as e:
    if not e.code and seen["params"] is not None:
        np.savez(out_dir / f"rank-{rank}.npz", **seen["params"])
    raise
