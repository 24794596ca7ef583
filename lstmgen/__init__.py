"""lstmgen: train your own small text generator with a NumPy LSTM."""

__version__ = "0.1.0"
