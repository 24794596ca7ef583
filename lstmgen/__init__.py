"""lstmgen: train your own small text generator with a NumPy LSTM."""

import ctypes
import os
import sys

# OpenBLAS's idle threads spin for 2^28 cycles (about 0.1 s) after each call, taking a core
# from the threads of nn/blocks.py (softmax, Adam) that run between GEMMs: up to 2x slower
# there. 2^22 cycles (about 1.5 ms) still spans the gap between the per-step GEMMs of a time
# loop. Only a default (your own setting wins), and only if NumPy is not loaded yet.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "22")


def _keep_freed_memory():
    """Ask glibc's malloc to keep freed memory for reuse instead of returning it to the OS.

    A training step frees and re-allocates the same (T, N, ·) buffers every window; by default
    glibc gives blocks back (mmap over its threshold, trimming of the heap's top), and each
    reuse then page-faults afresh: about 3,500 faults per step of char_h256 training and 5,000
    of char_h512 (a few with this setting), 4-10% of the time. Skipped when any MALLOC_*
    variable is set (yours wins) and off glibc.
    """
    if not sys.platform.startswith("linux") or any(k.startswith("MALLOC_") for k in os.environ):
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD = -1, -2, -3
    mallopt(M_MMAP_THRESHOLD, 32 * 2**20)  # blocks up to 32 MB come from the reusable heap
    mallopt(M_TRIM_THRESHOLD, 2**30)  # keep up to 1 GB of free space at the heap's top
    mallopt(M_TOP_PAD, 64 * 2**20)  # and grow it 64 MB at a time


_keep_freed_memory()

__version__ = "0.1.0"


# ---- the Python API (api.py), imported on first use so that `import lstmgen` stays cheap ----
import sys  # noqa: E402

_API = ("load", "train", "Model", "SampleOptions")


def __getattr__(name):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'lstmgen' has no attribute '{name}'")


def __dir__():
    return sorted([*globals(), *_API])


class _Package(sys.modules[__name__].__class__):
    """The package's module type. The training loop's module, ``lstmgen/train.py``, shares its
    name with the API's ``lstmgen.train``; importing a submodule sets the package's attribute
    of that name, so this keeps ``lstmgen.train`` the function (the module stays reachable as
    ``sys.modules["lstmgen.train"]`` and through ``from lstmgen.train import ...``)."""

    @property
    def train(self):
        return __getattr__("train")

    @train.setter
    def train(self, module):
        pass


sys.modules[__name__].__class__ = _Package
