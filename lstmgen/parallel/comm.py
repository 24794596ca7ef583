"""Data parallelism over processes and machines (MPI): P ranks, one model each, N/P streams each.

Every rank holds the whole model and optimiser. The N streams of a batch (``data.py``) are
cut into P equal runs of N_r = N / P streams; rank r trains on run r:

    streams:   0 1 2 3 | 4 5 6 7 | 8 9 10 11        N = 12, P = 3, N_r = 4
               rank 0  | rank 1  | rank 2

Each step, each rank computes the loss and gradients of its streams as their share of the
whole batch's mean (``LanguageModel.loss_and_grads(..., streams=)``: divided by T*N, so the
shares sum to the one-process figures), written straight into one flat buffer that also
holds the loss, the tokens and a stop flag, and one in-place sum over the ranks replaces
every rank's buffer by the total: in shared memory when the ranks share one machine
(``SharedWindowSum``), else MPI's all-reduce. Clipping, weight decay and the optimiser then
run on every rank on the same sums, so the weights stay bitwise identical (every rank gets
the same bytes of the sum). The dropout masks are drawn for all N streams on every rank from
the shared generator and cut to the rank's streams, so P ranks give the numbers of one process.

Rank 0 reads the config, corpus and checkpoints and sends what the others need
(``bcast_json``, ``bcast_array``): only rank 0 needs the data and the run directory. The
recurrent state of all N streams is gathered to rank 0 for checkpoints (``gather_rows``).

``world()`` is this process's communicator: ``SingleProcess`` (every operation the
identity; mpi4py is never imported) unless the process was started by ``mpiexec`` with more
than one rank, then ``MPICommunicator`` over mpi4py's ``COMM_WORLD``.
"""

import json
import time
from typing import Dict, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConfigError, MissingPackageError
from .launch import INSTALL_HINT, launched_size

Arrays = Dict[str, np.ndarray]


# ---- the stream split --------------------------------------------------------------------------
def stream_slice(batch_size: int, procs: int, rank: int) -> slice:
    """Rank ``rank``'s run of the ``batch_size`` training streams: N_r = N / P of them."""
    if batch_size % procs:
        divisors = [d for d in range(1, batch_size + 1) if batch_size % d == 0]
        raise ConfigError(
            f"train.batch_size {batch_size} cannot be split over --procs {procs}: every process trains the same "
            f"number of streams, so batch_size must be a multiple of --procs (divisors of {batch_size}: "
            f"{', '.join(map(str, divisors))})"
        )
    n = batch_size // procs
    return slice(rank * n, (rank + 1) * n)


# ---- the flat buffer of one step ---------------------------------------------------------------
class FlatBuffer:
    """One contiguous array: every gradient, then named scalars; summed by one all-reduce.

    ``pack`` copies a step's gradients (keyed like the parameters) and scalars in;
    after the all-reduce, ``grads`` (views into the buffer, same keys and shapes) and
    ``scalar(name)`` read the sums. The scalars travel in the gradients' dtype: a float32
    loss is summed to about 1e-7 relative, token counts exactly up to 2**24.
    """

    def __init__(self, shapes: Dict[str, Tuple[int, ...]], dtype, scalars: Sequence[str],
                 data: Optional[np.ndarray] = None):
        sizes = {k: int(np.prod(s)) for k, s in shapes.items()}
        total = sum(sizes.values())
        if data is None:
            data = np.zeros(total + len(scalars), dtype)
        self.data = data  # (num_params + len(scalars),), its own or a summing buffer's
        self.grads, offset = {}, 0
        for k, shape in shapes.items():
            self.grads[k] = self.data[offset:offset + sizes[k]].reshape(shape)
            offset += sizes[k]
        self._scalars = {name: total + i for i, name in enumerate(scalars)}

    @staticmethod
    def length(shapes: Dict[str, Tuple[int, ...]], scalars: Sequence[str]) -> int:
        """How many numbers the buffer of these gradients and scalars holds."""
        return sum(int(np.prod(s)) for s in shapes.values()) + len(scalars)

    def pack(self, grads: Arrays, **scalars: float) -> None:
        """Copy in the gradients (those already written into the buffer's views stay) and scalars."""
        for k, view in self.grads.items():
            if grads[k] is not view:
                view[...] = grads[k]
        for name, value in scalars.items():
            self.data[self._scalars[name]] = value

    def scalar(self, name: str) -> float:
        return float(self.data[self._scalars[name]])


# ---- summing one buffer over the ranks --------------------------------------------------------
class AllreduceSum:
    """A buffer that ``sum_()`` replaces by its sum over the ranks: MPI's in-place all-reduce
    (ranks anywhere: one machine or several)."""

    waited = 0.0  # the wait for the other ranks is inside the all-reduce: not told apart

    def __init__(self, comm, length: int, dtype):
        self.comm, self.data = comm, np.zeros(length, dtype)  # (length,)

    def sum_(self) -> np.ndarray:
        return self.comm.allreduce_(self.data)

    def free(self) -> None:
        pass


class SharedWindowSum:
    """The same for ranks that share one machine, through an MPI-3 shared-memory window.

    Every rank's buffer is its own segment of one window that every rank can read. After a
    barrier, rank r adds up chunk r of the P segments (in rank order) and writes that sum
    into chunk r of every segment; after a second barrier every rank's buffer holds the whole
    sum. Each rank reads and writes P chunks of 1/P of the buffer, in memory, with two
    barriers, where MPICH's all-reduce of a large buffer between processes on one machine
    copies everything through small shared cells (14 MB on this project's 2-core machine:
    0.4 ms against 3.2 ms; benchmarks/RESULTS.md). One rank computes each chunk, so every
    rank holds the same bytes; for P = 2 they are MPI's all-reduce's (a + b = b + a).
    ``waited`` is the time the last sum spent in its first barrier, waiting for the slowest
    rank to finish its backward pass (load imbalance rather than communication).
    """

    def __init__(self, MPI, node, length: int, dtype):
        self.node, dtype = node, np.dtype(dtype)
        self.win = MPI.Win.Allocate_shared(length * dtype.itemsize, dtype.itemsize, comm=node)
        self.win.Lock_all(MPI.MODE_NOCHECK)  # one passive epoch: Sync + Barrier order the accesses
        segments = [np.ndarray((length,), dtype, self.win.Shared_query(r)[0]) for r in range(node.size)]
        self.data = segments[node.rank]  # (length,) this rank's own
        self.data[...] = 0
        bounds = np.linspace(0, length, node.size + 1).astype(int)
        chunk = slice(bounds[node.rank], bounds[node.rank + 1])  # the part this rank adds up
        self.parts = [seg[chunk] for seg in segments]  # that chunk of every rank's segment, in rank order
        self.waited = 0.0

    def _barrier(self) -> None:
        self.win.Sync()
        self.node.Barrier()
        self.win.Sync()

    def sum_(self) -> np.ndarray:
        t0 = time.perf_counter()
        self._barrier()  # every rank's buffer is written
        self.waited = time.perf_counter() - t0
        first, *others = self.parts
        for part in others:
            first += part  # rank 0's chunk + rank 1's + ... in rank order
        for part in others:
            part[...] = first
        self._barrier()  # every chunk is summed and copied
        return self.data

    def free(self) -> None:
        self.win.Unlock_all()
        self.win.Free()
        self.node.Free()


# ---- communicators ---------------------------------------------------------------------------
class SingleProcess:
    """One process: every collective is the identity (nothing to send, nothing to wait for)."""

    rank, size = 0, 1

    def allreduce_(self, buf: np.ndarray) -> np.ndarray:
        return buf

    def bcast_(self, buf: np.ndarray) -> np.ndarray:
        return buf

    def bcast_json(self, obj):
        return obj

    def bcast_array(self, arr: Optional[np.ndarray]) -> np.ndarray:
        return arr

    def gather_rows(self, arr: np.ndarray) -> Optional[np.ndarray]:
        return arr

    def finish(self) -> None:
        pass


class MPICommunicator:
    """mpi4py's ``COMM_WORLD``. Only buffers travel (JSON as UTF-8 bytes, arrays raw): no
    pickle, so a rank never unpickles what another sent."""

    def __init__(self, comm):
        from mpi4py import MPI

        self._MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        self._summers = []  # freed by finish()

    def allreduce_(self, buf: np.ndarray) -> np.ndarray:
        """Sum ``buf`` over the ranks, in place (contiguous)."""
        self.comm.Allreduce(self._MPI.IN_PLACE, buf, op=self._MPI.SUM)
        return buf

    def summing_buffer(self, length: int, dtype, shared: Optional[bool] = None):
        """A buffer of ``length`` numbers whose ``sum_()`` sums it over the ranks in place: in
        shared memory when every rank runs on one machine (``SharedWindowSum``), else MPI's
        all-reduce (``AllreduceSum``). ``shared=False`` asks for the all-reduce anyway."""
        node = self.comm.Split_type(self._MPI.COMM_TYPE_SHARED)
        if node.Get_size() == self.size and shared is not False:
            summer = SharedWindowSum(self._MPI, node, length, dtype)
        else:
            node.Free()
            summer = AllreduceSum(self, length, dtype)
        self._summers.append(summer)
        return summer

    def bcast_(self, buf: np.ndarray) -> np.ndarray:
        """Rank 0's ``buf`` into every rank's ``buf`` (same shape and dtype), in place."""
        self.comm.Bcast(buf, root=0)
        return buf

    def _bcast_bytes(self, data: Optional[bytes]) -> bytes:
        length = np.array([len(data) if self.rank == 0 else 0], np.int64)
        self.comm.Bcast(length, root=0)
        buf = np.frombuffer(data, np.uint8).copy() if self.rank == 0 else np.empty(int(length[0]), np.uint8)
        self.comm.Bcast(buf, root=0)
        return buf.tobytes()

    def bcast_json(self, obj):
        """Rank 0's ``obj`` (JSON-ready) on every rank."""
        data = json.dumps(obj).encode("utf-8") if self.rank == 0 else None
        return json.loads(self._bcast_bytes(data).decode("utf-8"))

    def bcast_array(self, arr: Optional[np.ndarray]) -> np.ndarray:
        """Rank 0's array (any numeric dtype and shape) on every rank."""
        meta = self.bcast_json({"dtype": arr.dtype.str, "shape": arr.shape} if self.rank == 0 else None)
        buf = np.ascontiguousarray(arr) if self.rank == 0 else np.empty(meta["shape"], np.dtype(meta["dtype"]))
        self.comm.Bcast(buf, root=0)
        return buf

    def gather_rows(self, arr: np.ndarray) -> Optional[np.ndarray]:
        """Every rank's (n, ...) block, stacked in rank order on rank 0: (P n, ...); None elsewhere."""
        arr = np.ascontiguousarray(arr)
        out = np.empty((self.size * arr.shape[0],) + arr.shape[1:], arr.dtype) if self.rank == 0 else None
        self.comm.Gather(arr, out, root=0)
        return out

    def finish(self) -> None:
        """Wait for every rank, then end MPI (before leaving with an exit status of our own)."""
        for summer in self._summers:
            summer.free()
        self.comm.Barrier()
        self._MPI.Finalize()


def world():
    """This process's communicator: MPI's world when ``mpiexec`` started more than one rank."""
    if launched_size() <= 1:
        return SingleProcess()
    try:
        from mpi4py import MPI
    except ImportError:
        raise MissingPackageError(f"this process was started by mpiexec with {launched_size()} ranks, but mpi4py is "
                          f"not installed; install it with: {INSTALL_HINT}") from None
    comm = MPICommunicator(MPI.COMM_WORLD)
    return comm if comm.size > 1 else SingleProcess()


# ---- the state of every rank's streams ------------------------------------------------------------
def gather_state(comm, state: Arrays) -> Optional[Arrays]:
    """The carried state of every rank's streams, (N_r, H) each -> (N, H) on rank 0 (None elsewhere)."""
    gathered = {k: comm.gather_rows(v) for k, v in state.items()}
    return gathered if comm.rank == 0 else None


def local_state(state: Arrays, streams: slice) -> Arrays:
    """A rank's streams of a whole batch's state (N, H) -> (N_r, H), each its own copy."""
    return {k: np.ascontiguousarray(v[streams]) for k, v in state.items()}


class SharedBatches:
    """The windows of rank 0's ``Batches``/``FileBatches`` on every rank: rank 0 reads window
    k and broadcasts its (x, y); the others hold no data. ``num_windows``, ``batch_size``,
    ``seq_len`` and ``tokens_per_window`` as the wrapped batches'."""

    def __init__(self, comm, batches=None):
        self.comm, self.batches = comm, batches
        meta = comm.bcast_json({"num_windows": batches.num_windows, "batch_size": batches.batch_size,
                                "seq_len": batches.seq_len} if comm.rank == 0 else None)
        self.num_windows, self.batch_size, self.seq_len = meta["num_windows"], meta["batch_size"], meta["seq_len"]
        self._xy = np.empty((2, self.seq_len, self.batch_size), np.int32)  # (2, T, N) x and y

    @property
    def tokens_per_window(self) -> int:
        return self.batch_size * self.seq_len

    def window(self, k: int):
        """Inputs and targets of window k on every rank, (T, N) each."""
        if self.comm.rank == 0:
            self._xy[0], self._xy[1] = self.batches.window(k)
        self.comm.bcast_(self._xy)
        return self._xy[0].copy(), self._xy[1].copy()


class GradientReducer:
    """A step's reduce, between backward and clipping: sums every rank's share of the loss and
    gradients, the tokens and the stop flags (Ctrl-C or SIGTERM seen by any rank) with one
    sum over the ranks of one ``FlatBuffer`` (``comm.summing_buffer``). In one process it hands
    everything back untouched. ``seconds`` is the time of the last reduce: the copy of
    whatever was not written into ``gradients``, the wait for the other ranks and the sum."""

    SCALARS = ("loss", "tokens", "stop")

    def __init__(self, comm, shapes: Dict[str, Tuple[int, ...]], dtype, shared: Optional[bool] = None):
        self.comm, self.seconds, self.buffer = comm, 0.0, None
        if comm.size > 1:
            self.summer = comm.summing_buffer(FlatBuffer.length(shapes, self.SCALARS), dtype, shared)
            self.buffer = FlatBuffer(shapes, dtype, self.SCALARS, self.summer.data)

    @property
    def gradients(self) -> Optional[Arrays]:
        """Where a backward pass may write its gradients (``loss_and_grads(out=)``), so that
        nothing is copied before the sum: the buffer's views; None in one process."""
        return None if self.buffer is None else self.buffer.grads

    def __call__(self, loss: float, grads: Arrays, tokens: int, stop: bool):
        """-> (loss, grads, tokens, stop) of the whole batch, the same on every rank."""
        if self.buffer is None:
            return loss, grads, tokens, stop
        t0 = time.perf_counter()
        b = self.buffer
        b.pack(grads, loss=loss, tokens=tokens, stop=float(stop))
        self.summer.sum_()
        self.seconds = time.perf_counter() - t0
        return b.scalar("loss"), b.grads, int(round(b.scalar("tokens"))), b.scalar("stop") > 0
