"""lstmgen: train your own small text generator with a NumPy LSTM.

Importing lstmgen (or any of its modules) changes nothing outside it: no environment
variables, no allocator settings. The process settings that help training are made only by
the command line's entry point (``lstmgen._entry``), which owns its process.
"""

from ._version import __version__  # noqa: F401


# ---- the Python API (api.py), imported on first use so that `import lstmgen` stays cheap ----
_API = ("load", "train", "Model", "SampleOptions")


def __getattr__(name):
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'lstmgen' has no attribute '{name}'")


def __dir__():
    return sorted([*globals(), *_API])
