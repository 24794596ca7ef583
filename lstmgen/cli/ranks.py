"""``--procs P``: the processes of an MPI job (``train`` and ``eval``). Without mpiexec, the
command starts P ranks that each run what the user typed less ``--procs``; under mpiexec each
process is one of them."""

import os
import sys
from typing import List, Sequence

import click

from .common import UserError

ARGV = "lstmgen.argv"  # ctx.meta key: the command line as typed, less the program (LstmgenGroup.parse_args)


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


def without_procs(args: Sequence[str], extra: Sequence[str] = ()) -> List[str]:
    """``args`` less ``--procs P`` (or ``--procs=P``), with ``extra`` after the options (before a
    ``--`` that ends them)."""
    args, kept = list(args), []
    while args and args[0] != "--":
        arg = args.pop(0)
        if arg == "--procs":
            args = args[1:]
        elif not arg.startswith("--procs="):
            kept.append(arg)
    return [*kept, *extra, *args]


def run_ranks(count: int, extra: Sequence[str] = ()):
    """Run the command the user typed, less ``--procs`` and plus ``extra``, on ``count``
    processes through mpiexec (launch.py) and exit as it does."""
    from ..parallel import launch

    if count > 1:
        args = without_procs(click.get_current_context().meta[ARGV], extra)
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
