"""lstmgen: train your own small text generator with a NumPy LSTM."""

import os

# OpenBLAS's idle threads spin for 2^28 cycles (about 0.1 s) after each call, taking a core
# from the threads of nn/blocks.py (softmax, Adam) that run between GEMMs: up to 2x slower
# there. 2^22 cycles (about 1.5 ms) still spans the gap between the per-step GEMMs of a time
# loop. Only a default (your own setting wins), and only if NumPy is not loaded yet.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "22")

__version__ = "0.1.0"
