"""The math of lstmgen: NumPy only, no I/O, no global state.

Shapes: N batch, T time steps, D input size, H hidden size, V vocabulary size.
"""
