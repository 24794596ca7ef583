"""Both ways a rank sums a buffer over the ranks, checked against a sum in rank order (for
test_distributed.py):

    mpiexec -n P python -m mpi4py tests/mpi_sums.py OUT.json

Every rank can make every rank's buffer (seeded by rank), so each knows the exact sum. Rank 0
writes what it found to OUT.json: which summer the ranks got by default and when asked for
MPI's all-reduce, and whether each sum was exact, close, and the same bytes on every rank.
"""

import json
import sys

import numpy as np

from lstmgen.parallel.comm import world

LENGTH = 1001  # not a multiple of P: the chunks differ in size


def buffer_of(rank: int, round_: int) -> np.ndarray:
    return np.random.default_rng([rank, round_]).standard_normal(LENGTH).astype(np.float32)


def check(comm, summer, round_: int) -> dict:
    summer.data[...] = buffer_of(comm.rank, round_)
    got = summer.sum_().copy()
    exact = buffer_of(0, round_)
    for r in range(1, comm.size):
        exact = exact + buffer_of(r, round_)  # in rank order, as the chunks are added
    everyone = comm.gather_rows(got[None])  # (P, LENGTH) on rank 0
    return {"exact": bool(np.array_equal(got, exact)), "close": bool(np.allclose(got, exact, rtol=1e-6)),
            "same_on_every_rank": None if everyone is None else bool((everyone == everyone[0]).all())}


if __name__ == "__main__":
    comm = world()
    found = {}
    for asked, shared in (("default", None), ("all-reduce", False)):
        summer = comm.summing_buffer(LENGTH, np.float32, shared)
        found[asked] = {"summer": type(summer).__name__,
                        "rounds": [check(comm, summer, k) for k in range(3)]}  # reused: the barriers hold
    comm.finish()
    if comm.rank == 0:
        with open(sys.argv[1], "w") as f:
            json.dump(found, f)
