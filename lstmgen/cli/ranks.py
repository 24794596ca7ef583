"""``--procs P``: the processes of an MPI job (``train`` and ``eval``). Without mpiexec, the
command starts P ranks that each run it again without ``--procs``; under mpiexec each process
is one of them."""

import os
import sys
from .common import UserError


def procs(text: str):
    """``--procs`` as a count (None: auto), and this process's communicator: MPI's world when
    mpiexec started it (then --procs, if given, must be that many)."""
    from ..parallel.comm import world
    from ..parallel.launch import parse_procs

    count = parse_procs(text)
    comm = world()
    if comm.size > 1 and count not in (1, comm.size):
        raise UserError(f"--procs {text} does not match the {comm.size} processes mpiexec started; "
                        "drop --procs when you start lstmgen with mpiexec yourself", 2)
    return count, comm


def run_ranks(count: int, args):
    """Run ``lstmgen ARGS`` on ``count`` processes through mpiexec (launch.py) and exit as it does."""
    from ..parallel import launch

    if count > 1:
        sys.exit(launch.run(launch.command(launch.find_mpiexec(), count, args, launch.cores()), count, launch.cores()))


def exit_all(comm, code: int):
    """Exit with ``code``; the ranks of an MPI job leave together (an exit status other than 0
    would otherwise make each rank call MPI_Abort, which kills the others and says so)."""
    if comm.size > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        comm.finish()
        os._exit(code)
    sys.exit(code)
