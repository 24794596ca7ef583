"""lstmgen: train your own small text generator with a NumPy LSTM.

Importing lstmgen (or any of its modules) changes nothing outside it: no environment
variables, no allocator settings. The process settings that help training are made only by
the command line's entry point (``lstmgen._entry``), which owns its process.
"""

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
    """The package's module type. The training loop's module, ``lstmgen/training/trainer.py``, shares its
    name with the API's ``lstmgen.train``; importing a submodule sets the package's attribute
    of that name, so this keeps ``lstmgen.train`` the function (the module stays reachable as
    ``sys.modules["lstmgen.training.trainer"]`` and through ``from lstmgen.training.trainer import ...``)."""

    @property
    def train(self):
        return __getattr__("train")

    @train.setter
    def train(self, module):
        pass


sys.modules[__name__].__class__ = _Package
