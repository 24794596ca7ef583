"""lstmgen: train your own small text generator with a NumPy LSTM.

Importing lstmgen (or any of its modules) changes nothing outside it: no environment
variables, no allocator settings. The process settings that help training are made only by
the command line's entry point (``lstmgen._entry``), which owns its process.
"""

__version__ = "0.1.0"
