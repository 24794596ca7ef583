"""BLAS threads for loops of tiny products, through threadpoolctl when it is installed.

Sampling multiplies one token's (M, D+H) row by each layer's weights per step: products so
small that waking a second OpenBLAS thread costs more than it saves (a 2-layer H=256 step
took 1.5-3.5x longer with two BLAS threads than with one on the 2-core machine).
``single_thread_blas()`` sets one thread for the duration of a ``with`` block; BLAS threads
are process-wide, so other threads of the process run single-threaded BLAS meanwhile.

threadpoolctl is optional (``pip install lstmgen[fast]``): without it the block changes nothing.

Measured and rejected: stepping through time on two halves of the batch in two Python threads
with single-threaded BLAS. Each step is a dozen NumPy calls of 10-30 µs on half the rows, and
on this machine handing the GIL between the threads ate the gain: 56k tokens/s for one layer
at N=64, T=64, D=64, H=256 forward and backward, the same as one thread, against 84k with one
loop and two BLAS threads.
"""

import contextlib

try:
    from threadpoolctl import threadpool_limits
except ImportError:  # optional: then BLAS keeps its own thread count
    threadpool_limits = None


def single_thread_blas():
    """A context in which BLAS uses one thread; a no-op without threadpoolctl."""
    if threadpool_limits is None:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
