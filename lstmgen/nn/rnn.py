"""The vanilla (Elman) recurrent cell with tanh, over whole sequences, with one fused weight.

Shapes: T time steps, N batch, D input size, H hidden size; time-major like the rest of nn/.
  input   x (T, N, D) and state (h0,), (N, H)
  output  out (T, N, H), the hidden state h_t of every step, and new_state (h_T,)

Parameters: W (D+H, H) and b (H,). Rows W[:D] (= W_x) multiply x_t, rows W[D:] (= W_h) the
previous hidden state, so for torch.nn.RNN (nonlinearity="tanh") W[:D].T == weight_ih_l0,
W[D:].T == weight_hh_l0 and b == bias_ih_l0 + bias_hh_l0. One step:
  a   = x_t W_x + h_{t-1} W_h + b       (N, H)
  h_t = tanh(a)
``init_params`` (``model.init: uniform``): W uniform(-1/√H, 1/√H) like PyTorch, b zero; the
other schemes, the default among them, are in nn/init.py.

Speed: x_t W_x for all T steps is one GEMM into a (T, N, H) buffer; each step adds
h_{t-1} W_h and applies tanh straight into the cached hidden states. Backward keeps
da in a (T, N, H) buffer and computes dx, dW and db after the loop as GEMMs over all T·N rows.

Memory, in floats: the cache holds the hidden states (T+1)·N·H and a reference to x.
Backward adds da T·N·H, dx T·N·D, dW (D+H)·H, a contiguous copy of W_h^T H² and 2·N·H.

Truncated BPTT works as in lstm.py: new_state is a fresh copy, and backward's dstate is the
gradient w.r.t. h0.
"""

from functools import partial
from typing import Dict, Tuple

import numpy as np

from .cell import Cell
from .ops import backward_product, input_and_weight_grads, into, project_inputs, uniform_weight, writable_copy
from .vocab_space import grad_shape
from .workspace import Cache


class RNN(Cell):
    """tanh RNN over (T, N, D) sequences; see the module docstring for equations and layout."""

    name = "rnn"
    state_names = ("h",)
    gates = "h"  # no gate: one block, the pre-activation of h

    def param_shapes(self) -> Dict[str, Tuple[int, ...]]:
        D, H = self.input_size, self.hidden_size
        return {"W": (D + H, H), "b": (H,)}

    def init_params(self, rng: np.random.Generator, dtype=np.float32) -> Dict[str, np.ndarray]:
        D, H = self.input_size, self.hidden_size
        return {"W": uniform_weight(rng, (D + H, H), H, dtype), "b": np.zeros(H, dtype)}  # (D+H, H), (H,)

    def _run(self, params, x, state, keep, keep_cache):
        W, b = params["W"], params["b"]
        T, N, D = x.shape
        H = self.hidden_size
        dtype = np.result_type(W.dtype, x.dtype)
        Wx, Wh = W[:D], W[D:]  # (D, H), (H, H) views
        workspace = self.workspace("forward" if keep_cache else "inference")
        buf = workspace.claim()
        hs = buf("h", (T + 1, N, H), dtype)  # (T+1, N, H) hs[0] = h0, hs[t+1] = h_t
        hs[0] = state[0]
        a = hs[1:]  # x_t W_x + b for all t, written where the h_t will go
        project_inputs(x, Wx, b, out=a)
        ah = buf("ah", (N, H), dtype)  # (N, H) h_{t-1} W_h
        h_in = hs[:-1] if keep is None else buf("h_in", (T, N, H), dtype)  # (T, N, H) keep_t ⊙ h_{t-1}
        for t in range(T):
            a_t, h_prev = hs[t + 1], hs[t]
            if keep is not None:  # a stream whose input is <eod> starts from a zero state
                h_prev = np.multiply(h_prev, keep[t], out=h_in[t])
            a_t += np.matmul(h_prev, Wh, out=ah)  # a = x_t W_x + h_{t-1} W_h + b
            np.tanh(a_t, out=a_t)  # h_t = tanh(a)
        cache = workspace.lend(Cache(x=x, h=hs, h_in=h_in, keep=keep), buf) if keep_cache else None
        return hs[1:], (hs[T].copy(),), cache

    def forward(self, params, x, state, keep=None):
        """x (T, N, D), state (h0,), keep (T, N, 1) or None -> out (T, N, H), new_state (h_T,), cache."""
        return self._run(params, x, state, keep, keep_cache=True)

    def forward_inference(self, params, x, state, keep=None):
        """Like ``forward`` without a cache, in the buffers of its own workspace."""
        out, new_state, _ = self._run(params, x, state, keep, keep_cache=False)
        return out, new_state

    def backward(self, params, dout, dnew_state, cache, out=None):
        """dout (T, N, H), dnew_state (dh_T,) or None, cache -> dx, (dh0,), {"W", "b"}."""
        x, hs, h_in, keep = cache["x"], cache["h"], cache["h_in"], cache["keep"]
        W = params["W"]
        T, N, D = x.shape
        H = self.hidden_size
        dtype = hs.dtype
        Wh = W[D:]  # (H, H) view
        workspace = self.workspace("backward")
        buf = workspace.claim()
        through_Wh = backward_product(Wh, N, dtype, partial(buf, "WhT"))  # da -> da W_h^T
        dnext_h = writable_copy(None if dnew_state is None else dnew_state[0], (N, H), dtype)  # (N, H)
        da = buf("da", (T, N, H), dtype)  # (T, N, H) gradient of the pre-activations
        for t in reversed(range(T)):
            h = hs[t + 1]
            dh = np.add(dout[t], dnext_h, out=da[t])  # dh_t: from out and from step t+1
            dh *= 1 - h * h  # backprop through tanh: da = dh ⊙ (1 - h_t²)
            through_Wh(dh, dnext_h)  # dh_{t-1} = da W_h^T
            if keep is not None:  # backprop through the reset: no gradient into a zeroed state
                dnext_h *= keep[t]
        dx = buf("dx", grad_shape(x), dtype)[...]  # (T, N, D), or (V, D) for Tokens: lent to the caller
        dW, db = input_and_weight_grads(da, x, h_in, W, dx, out and out["W"])  # (D+H, H), (H,)
        self.workspace("forward").give_back(cache)
        return workspace.lend(dx, buf), (dnext_h,), into(out, {"W": dW, "b": db})
