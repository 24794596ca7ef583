"""The interface every recurrent cell implements (LSTM, GRU, vanilla RNN, ...).

Shapes: T time steps, N batch, D input size, H hidden size. Sequences are time-major:
``x`` is (T, N, D) and the output ``out`` is (T, N, H), the hidden state at every step.
The recurrent state is a tuple of (N, H) arrays named by ``state_names`` (LSTM: h, c).

A cell holds only its sizes, never weights: every method takes ``params``, a dict of arrays
shaped by ``param_shapes()``, and ``backward`` returns gradients in a dict with the same keys.
``forward`` returns an opaque ``cache`` that ``backward`` consumes. The dtype of every result
follows the params and inputs (float32 to train, float64 to gradcheck).

A cell keeps its large (T, N, ·) buffers between calls in workspaces (nn/workspace.py): the
``out`` of ``forward`` or ``forward_inference`` and the ``dx`` of ``backward`` are valid until
the next call of the same method on the same cell in the same thread; new states are
always fresh arrays. Threads have workspaces of their own, so they may share a cell.
"""

import threading
from typing import ClassVar, Dict, Optional, Tuple

import numpy as np

from .workspace import Workspace

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
        self._local = threading.local()  # workspaces per thread: threads may share one model

    def workspace(self, role: str) -> Workspace:
        """This thread's buffers kept for ``role``: "forward" (lent to its cache), "backward",
        "inference"."""
        workspaces: Dict[str, Workspace] = self._local.__dict__.setdefault("workspaces", {})
        if role not in workspaces:
            workspaces[role] = Workspace()
        return workspaces[role]

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

    def forward(self, params: Params, x: np.ndarray, state: State, keep=None):
        """x (T, N, D), state, keep (T, N, 1) or None -> out (T, N, H), new_state (after the last
        step), cache. Where keep[t, n] is 0, stream n reads a zero state at step t (it starts a
        new document there); backward passes no gradient through that reset."""
        raise NotImplementedError

    def backward(self, params: Params, dout: np.ndarray, dnew_state, cache, out: Optional[Params] = None):
        """dout (T, N, H), dnew_state (tuple like state, or None for zeros), cache ->
        dx (T, N, D), dstate (gradient w.r.t. the initial state), grads (keys of params).

        ``out``: arrays shaped like params to write the gradients into (the data-parallel flat
        buffer's views); grads is then ``out``, its weight matrix computed in place."""
        raise NotImplementedError

    def record(self, cache) -> Dict[str, np.ndarray]:
        """What ``forward`` computed at every step, read from its cache as copies, each (T, N, H):
        h, c (cells with a cell state), and every block of ``gates`` after its activation (the
        cache holds them so that backward recomputes nothing). Gives the cache's buffers back,
        so the cache cannot be backpropagated afterwards."""
        H = self.hidden_size
        recorded = {"h": cache["h"][1:].copy()}  # hs[t+1] = h_t
        if "c" in self.state_names:
            recorded["c"] = cache["c"][1:].copy()  # cs[t+1] = c_t
        if "a" in cache:  # (T, N, kH) the post-activation gates, in the order of ``gates``
            for k, gate in enumerate(self.gates):
                recorded[gate] = cache["a"][..., k * H:(k + 1) * H].copy()
        self.workspace("forward").give_back(cache)
        return recorded

    def forward_inference(self, params: Params, x: np.ndarray, state: State, keep=None):
        """Like ``forward`` without a cache, for evaluation: -> out (T, N, H), new_state."""
        out, new_state, _ = self.forward(params, x, state, keep)
        return out, new_state

    def stepper(self, params: Params, N: int):
        """A function (x (N, D), state) -> out (N, H), new_state: one time step for sampling,
        with params bound (cells may also make their buffers once, here)."""
        def step(x, state):
            _, new_state = self.forward_inference(params, x[None], state)
            return new_state[0], new_state  # the output is h_t, the fresh copy in the state
        return step

    def step(self, params: Params, x: np.ndarray, state: State):
        """One time step: x (N, D) -> out (N, H), new_state."""
        return self.stepper(params, x.shape[0])(x, state)
