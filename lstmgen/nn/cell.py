"""The interface every recurrent cell implements (LSTM, GRU, vanilla RNN, ...).

Shapes: T time steps, N batch, D input size, H hidden size. Sequences are time-major:
``x`` is (T, N, D) and the output ``out`` is (T, N, H), the hidden state at every step.
The recurrent state is a tuple of (N, H) arrays named by ``state_names`` (LSTM: h, c).

A cell holds only its sizes, never weights: every method takes ``params``, a dict of arrays
shaped by ``param_shapes()``, and ``backward`` returns gradients in a dict with the same keys.
``forward`` returns an opaque ``cache`` that ``backward`` consumes. The dtype of every result
follows the params and inputs (float32 to train, float64 to gradcheck).
"""

from typing import ClassVar, Dict, Optional, Tuple

import numpy as np

Params = Dict[str, np.ndarray]
State = Tuple[np.ndarray, ...]


class Cell:
    """Base class: sizes, zero state, and inference helpers built on ``forward``."""

    name: ClassVar[str] = ""
    state_names: ClassVar[Tuple[str, ...]] = ()
    gates: ClassVar[str] = ""  # the H-wide blocks of W's and b's fused axis, in order (lstm: "ifgo")
    # (gate, sign) with σ(sign · a_gate) the share of the old state each step keeps (lstm: ("f", 1)),
    # and the gate that lets new input in (LSTMs: "i"); None where the cell has no such gate.
    # The bias schemes of nn/init.py (forget_bias, chrono) set these gates' biases.
    forget_gate: ClassVar[Optional[Tuple[str, int]]] = None
    input_gate: ClassVar[Optional[str]] = None

    def __init__(self, input_size: int, hidden_size: int):
        self.input_size = input_size  # D
        self.hidden_size = hidden_size  # H

    def __repr__(self) -> str:
        return f"{type(self).__name__}(input_size={self.input_size}, hidden_size={self.hidden_size})"

    def param_shapes(self) -> Dict[str, Tuple[int, ...]]:
        raise NotImplementedError

    def init_params(self, rng: np.random.Generator, dtype=np.float32) -> Params:
        """The cell's own scheme (``model.init: uniform``): W uniform(±1/√H), its own biases."""
        raise NotImplementedError

    def pytorch_biases(self, rng: np.random.Generator, dtype=np.float32) -> Params:
        """The biases as PyTorch initialises the cell's counterpart: bias_ih and bias_hh each
        uniform(±1/√H), so the fused b = bias_ih + bias_hh is the sum of two such draws."""
        bound = 1.0 / np.sqrt(self.hidden_size)
        shape = self.param_shapes()["b"]
        return {"b": (rng.uniform(-bound, bound, shape) + rng.uniform(-bound, bound, shape)).astype(dtype)}

    def init_state(self, N: int, dtype=np.float32) -> State:
        """The zero state for N streams: one (N, H) array per name in ``state_names``."""
        return tuple(np.zeros((N, self.hidden_size), dtype) for _ in self.state_names)

    def forward(self, params: Params, x: np.ndarray, state: State):
        """x (T, N, D), state -> out (T, N, H), new_state (after the last step), cache."""
        raise NotImplementedError

    def backward(self, params: Params, dout: np.ndarray, dnew_state, cache):
        """dout (T, N, H), dnew_state (tuple like state, or None for zeros), cache ->
        dx (T, N, D), dstate (gradient w.r.t. the initial state), grads (keys of params)."""
        raise NotImplementedError

    def forward_inference(self, params: Params, x: np.ndarray, state: State):
        """Like ``forward`` without a cache, for evaluation: -> out (T, N, H), new_state."""
        out, new_state, _ = self.forward(params, x, state)
        return out, new_state

    def stepper(self, params: Params, N: int):
        """A function (x (N, D), state) -> out (N, H), new_state: one time step for sampling,
        with params bound (cells may also make their buffers once, here)."""
        def step(x, state):
            out, new_state = self.forward_inference(params, x[None], state)
            return out[0], new_state
        return step

    def step(self, params: Params, x: np.ndarray, state: State):
        """One time step: x (N, D) -> out (N, H), new_state."""
        return self.stepper(params, x.shape[0])(x, state)
