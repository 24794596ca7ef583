"""The command line's entry point (``lstmgen``, ``python -m lstmgen``): process settings, then cli.

A library must not change the process it is imported into, so ``import lstmgen`` sets nothing.
The command line owns its process, and here, before NumPy (and with it OpenBLAS) loads, it
makes the settings that training measurably needs (benchmarks/RESULTS.md, "Process settings and
workspaces"):

- ``OPENBLAS_THREAD_TIMEOUT=22``: OpenBLAS's idle threads spin for 2^28 cycles after each call,
  taking a core from the threads of nn/blocks.py (softmax, Adam) that run between the GEMMs;
  2^22 cycles still spans the gap between the per-step GEMMs of a time loop. Only a default:
  a value already in the environment wins. Child processes inherit it.

Large buffers are not the allocator's business any more: the cells and the model keep their
(T, N, ·) workspaces between calls, so a training step allocates nothing large and glibc's
default malloc no longer returns and re-faults them (which ``mallopt`` used to paper over).

``LSTMGEN_NO_PROCESS_TUNING=1`` (any non-empty value but ``0``) turns all of this off.
"""

import os
import sys

OPT_OUT = "LSTMGEN_NO_PROCESS_TUNING"
SETTINGS = {"OPENBLAS_THREAD_TIMEOUT": "22"}  # environment defaults, read when OpenBLAS loads


def tuning_wanted(environ=os.environ) -> bool:
    """False when the user opted out with LSTMGEN_NO_PROCESS_TUNING."""
    return environ.get(OPT_OUT, "") in ("", "0")


def tune_process(environ=os.environ) -> dict:
    """Make the settings above, as defaults, unless opted out or NumPy is already loaded (then
    OpenBLAS has read its environment and setting it would only leak into child processes).
    Returns the settings made."""
    if not tuning_wanted(environ) or "numpy" in sys.modules:
        return {}
    made = {k: v for k, v in SETTINGS.items() if k not in environ}
    environ.update(made)
    return made


def main():
    """``lstmgen``: tune the process, then load and run the command line."""
    tune_process()
    from .cli import main as cli_main  # imports NumPy: after tune_process

    cli_main()
