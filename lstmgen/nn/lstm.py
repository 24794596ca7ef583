"""A long short-term memory cell over whole sequences, with one fused weight.

Shapes: T time steps, N batch, D input size, H hidden size; time-major like the rest of nn/.
  input   x (T, N, D) and state (h0, c0), each (N, H)
  output  out (T, N, H), the hidden state h_t of every step, and new_state (h_T, c_T)

Parameters: W (D+H, 4H) and b (4H,). Rows W[:D] (= W_x) multiply the input x_t, rows W[D:]
(= W_h) the previous hidden state h_{t-1}. The 4H axis holds the gates in the order
i, f, g, o (input, forget, cell candidate, output), PyTorch's order, so for torch.nn.LSTM
W[:D].T == weight_ih_l0, W[D:].T == weight_hh_l0 and b == bias_ih_l0 + bias_hh_l0.
One step, one line per equation:
  a   = x_t W_x + h_{t-1} W_h + b       (N, 4H), split into a_i, a_f, a_g, a_o
  i   = σ(a_i)
  f   = σ(a_f)
  g   = tanh(a_g)
  o   = σ(a_o)
  c_t = f ⊙ c_{t-1} + i ⊙ g
  h_t = o ⊙ tanh(c_t)
σ(a) is computed as ½(1 + tanh(a/2)): exact, never overflows, one transcendental per element.
``init_params`` (``model.init: uniform``): W uniform(-1/√H, 1/√H) like PyTorch; b zero except
the forget slice, set to 1 so that early in training the cell keeps its memory and gradients
flow back in time. The other schemes, the default among them, are in nn/init.py.

Speed: the input projection of all T steps is one GEMM into a (T, N, 4H) buffer that the
cell keeps between calls (nn/workspace.py: a training step allocates nothing large); each
step adds only h_{t-1} W_h and applies the activations in place, so the buffer ends up
holding the post-activation gates i, f, g, o, which is all backward needs (it recomputes
only tanh(c_t)). The activations (and in backward their derivatives) run over
the whole contiguous (N, 4H) row with per-gate scale vectors, not gate by gate: strided
(N, H) slices cost about twice as much per element. Backward writes da over the gates and
computes dx and the weight gradients after the time loop as large GEMMs over all T·N rows.
``stepper``, for sampling, has its own short path: no (T, N, ·) buffers, nothing allocated per step.

Memory, in floats: the cache holds the gates 4·N·T·H, the hidden states (T+1)·N·H and the
cell states (T+1)·N·H, that is 6·N·T·H + 2·N·H, plus a reference to the caller's x. Forward
adds 5·N·H of per-step buffers. Backward adds dx N·T·D, dW 4·(D+H)·H, for the per-step
product da W_h^T either a contiguous copy of W_h^T 4·H² (N > 32) or an (H, N) buffer
(``ops.backward_product``), 6·N·H of per-step buffers and 12·H of vectors; it writes da over
the gates and tanh(c_t) over the cell states, so a cache can be backpropagated only once.
Peak, during backward: N·T·D + 6·N·T·H + 8·N·H + 8·H² + 4·D·H + 12·H, or with N ≤ 32,
N·T·D + 6·N·T·H + 9·N·H + 4·H² + 4·D·H + 12·H. The cache's buffers, dx and the per-step
buffers are kept by the cell between calls (``forward_inference`` has its own set, sized by
its T and N), so they are held, not made, by each window after the first. With a keep mask
(a stream starting a new document, ``Cell.forward``) the cache also holds the states each step
read, keep_t ⊙ h_{t-1} and keep_t ⊙ c_{t-1}: 2·N·T·H more.

Truncated BPTT: a long stream is cut into windows of T steps. ``forward`` returns new_state
(h_T, c_T) as fresh arrays (copies, not views of the cache); the caller passes them as the
state of the next window, so the cell sees one unbroken sequence, while each ``backward``
stops at the window's start: its dstate is the gradient w.r.t. (h0, c0), which the caller
drops (truncation) or feeds back as dnew_state of the previous window (full BPTT).
"""

from functools import partial
from typing import Dict, Tuple

import numpy as np

from .cell import Cell
from .ops import (alternate, backward_product, input_and_weight_grads, into, project_inputs, step_product,
                  take_from_cache, uniform_weight, writable_copy)
from .vocab_space import grad_shape
from .workspace import Cache


def _per_gate(values, H, dtype):
    """A (4H,) vector holding values[k] on the slice of gate k (order i, f, g, o)."""
    return np.repeat(np.asarray(values, dtype), H)


class LSTM(Cell):
    """LSTM over (T, N, D) sequences; see the module docstring for equations and layout."""

    name = "lstm"
    state_names = ("h", "c")
    gates, forget_gate, input_gate = "ifgo", ("f", 1), "i"

    def param_shapes(self) -> Dict[str, Tuple[int, ...]]:
        D, H = self.input_size, self.hidden_size
        return {"W": (D + H, 4 * H), "b": (4 * H,)}

    def init_params(self, rng: np.random.Generator, dtype=np.float32) -> Dict[str, np.ndarray]:
        D, H = self.input_size, self.hidden_size
        W = uniform_weight(rng, (D + H, 4 * H), H, dtype)  # (D+H, 4H)
        b = np.zeros(4 * H, dtype)  # (4H,)
        b[H:2 * H] = 1.0  # forget gate starts open
        return {"W": W, "b": b}

    # ---- forward ------------------------------------------------------------------------
    def _run(self, params, x, state, keep, keep_cache):
        W, b = params["W"], params["b"]
        T, N, D = x.shape
        H = self.hidden_size
        dtype = np.result_type(W.dtype, x.dtype)
        h0, c0 = state
        Wx, Wh = W[:D], W[D:]  # (D, 4H), (H, 4H) views
        workspace = self.workspace("forward" if keep_cache else "inference")
        buf = workspace.claim()
        a = buf("a", (T, N, 4 * H), dtype)  # (T, N, 4H) pre-activations, then gates i, f, g, o
        project_inputs(x, Wx, b, out=a)  # x_t W_x + b for all t
        hs = buf("h", (T + 1, N, H), dtype)  # (T+1, N, H) hs[0] = h0, hs[t+1] = h_t
        hs[0] = h0
        nc = T + 1 if keep_cache else 2  # all cell states for backward, else a ping-pong pair
        cs = buf("c", (nc, N, H), dtype)  # (T+1 or 2, N, H) cs[(t+1) % nc] = c_t
        cs[0] = c0
        ah = buf("ah", (N, 4 * H), dtype)  # (N, 4H) h_{t-1} W_h
        ig = buf("ig", (N, H), dtype)  # (N, H) i ⊙ g
        if keep is not None:  # the states each step reads: keep_t ⊙ h_{t-1}, keep_t ⊙ c_{t-1}
            h_in, c_in = buf("h_in", (T, N, H), dtype), buf("c_in", (T, N, H), dtype)  # (T, N, H) each
        scale = _per_gate((0.5, 0.5, 1.0, 0.5), H, dtype)  # (4H,)
        shift = _per_gate((0.5, 0.5, 0.0, 0.5), H, dtype)  # (4H,)
        for t in range(T):
            a_t = a[t]  # (N, 4H)
            i, f, g, o = (a_t[:, k * H:(k + 1) * H] for k in range(4))  # (N, H) views
            h_prev, c_prev, c = hs[t], cs[t % nc], cs[(t + 1) % nc]
            if keep is not None:  # a stream whose input is <eod> starts from a zero state
                h_prev = np.multiply(h_prev, keep[t], out=h_in[t])
                c_prev = np.multiply(c_prev, keep[t], out=c_in[t])
            a_t += np.matmul(h_prev, Wh, out=ah)  # a = x_t W_x + h_{t-1} W_h + b
            a_t *= scale  # ½a on i, f, o; a on g
            np.tanh(a_t, out=a_t)  # all four gates in one contiguous pass
            a_t *= scale  # i, f, o = σ(a) = ½ tanh(½a) + ½
            a_t += shift  # g = tanh(a_g) needs nothing more
            np.multiply(f, c_prev, out=c)  # c_t = f ⊙ c_{t-1} ...
            c += np.multiply(i, g, out=ig)  # ... + i ⊙ g
            h = np.tanh(c, out=hs[t + 1])  # h_t = o ⊙ tanh(c_t)
            h *= o
        out = hs[1:]  # (T, N, H)
        new_state = (hs[T].copy(), cs[T % nc].copy())
        cache = None
        if keep_cache:
            cache = Cache(x=x, a=a, h=hs, c=cs, keep=keep)
            if keep is not None:
                cache.update(h_in=h_in, c_in=c_in)
            workspace.lend(cache, buf)
        return out, new_state, cache

    def forward(self, params, x, state, keep=None):
        """x (T, N, D), state (h0, c0), keep (T, N, 1) or None -> out (T, N, H), new_state
        (h_T, c_T), cache. ``out`` is part of the cache: do not modify it before ``backward``.
        """
        return self._run(params, x, state, keep, keep_cache=True)

    def forward_inference(self, params, x, state, keep=None):
        """Like ``forward`` but keeps no cell-state history and returns no cache."""
        out, new_state, _ = self._run(params, x, state, keep, keep_cache=False)
        return out, new_state

    def stepper(self, params, N, projected=False):
        """``step`` for N streams, with its buffers made once: returns a function
        (x (N, D), state (h, c)) -> h_t (N, H), new_state (h_t, c_t) that allocates nothing.
        With ``projected``, x is already x_t W_x + b, (N, 4H): the model looks it up in a
        table made once (``LanguageModel.stepper``), and only h_{t-1} W_h is left per step.

        One GEMV (or small GEMM) per step, over [x_t, h_{t-1}] side by side and the fused W,
        or over h_{t-1} and W_h (``ops.step_product``: W^T v for one stream). The
        activations run over the whole (N, 4H) row as in ``forward``. New states are
        written into two (h, c) buffer pairs in turn, so a returned state stays valid until
        the second call after the one that returned it.
        """
        W, b = params["W"], params["b"]
        D, H = self.input_size, self.hidden_size
        dtype = W.dtype
        rows = W[D:] if projected else W  # (K, 4H): K = H, or D+H
        K = rows.shape[0]
        product = step_product(rows, N)
        v = np.empty((N, K), dtype)  # (N, K) h_{t-1}, or [x_t, h_{t-1}]
        a = np.empty((N, 4 * H), dtype)  # (N, 4H) pre-activations, then gates i, f, g, o
        i, f, g, o = (a[:, k * H:(k + 1) * H] for k in range(4))  # (N, H) views
        scale = _per_gate((0.5, 0.5, 1.0, 0.5), H, dtype)  # (4H,)
        shift = _per_gate((0.5, 0.5, 0.0, 0.5), H, dtype)  # (4H,)
        next_pair = alternate((2, N, H), dtype)  # (2, N, H): where (h_t, c_t) is written

        def step(x, state):
            h_prev, c_prev = state
            h, c = next_pair()
            if not projected:
                v[:, :D] = x
            v[:, K - H:] = h_prev
            product(v, a)  # a = [x_t, h_{t-1}] W, or h_{t-1} W_h
            np.add(a, x if projected else b, out=a)  # a = x_t W_x + h_{t-1} W_h + b
            np.multiply(a, scale, out=a)  # i, f, o = σ(a) = ½ tanh(½a) + ½; g = tanh(a)
            np.tanh(a, out=a)
            np.multiply(a, scale, out=a)
            np.add(a, shift, out=a)
            np.multiply(f, c_prev, out=c)  # c_t = f ⊙ c_{t-1} + i ⊙ g
            np.multiply(i, g, out=i)
            np.add(c, i, out=c)
            np.tanh(c, out=h)  # h_t = o ⊙ tanh(c_t)
            np.multiply(h, o, out=h)
            return h, (h, c)
        return step

    # ---- backward -----------------------------------------------------------------------
    def backward(self, params, dout, dnew_state, cache, out=None):
        """dout (T, N, H), dnew_state (dh_T, dc_T) or None, cache from ``forward`` (and ``out``, as ``Cell``) ->
        dx (T, N, D), dstate (dh0, dc0), grads {"W": (D+H, 4H), "b": (4H,)}.

        Consumes the cache: da is written over the cached gates, tanh(c_t) over the c_t.
        """
        a = take_from_cache(cache, "a", "LSTM")  # (T, N, 4H) gates i, f, g, o; becomes da
        x, hs, cs, keep = cache["x"], cache["h"], cache["c"], cache["keep"]
        h_in, c_in = (hs[:-1], cs[:-1]) if keep is None else (cache["h_in"], cache["c_in"])  # (T, N, H) each
        W = params["W"]
        T, N, D = x.shape
        H = self.hidden_size
        dtype = a.dtype
        Wh = W[D:]  # (H, 4H) view
        workspace = self.workspace("backward")
        buf = workspace.claim()
        through_Wh = backward_product(Wh, N, dtype, partial(buf, "WhT"))  # da -> da W_h^T
        dnew_h, dnew_c = (None, None) if dnew_state is None else dnew_state
        dnext_h = writable_copy(dnew_h, (N, H), dtype)  # (N, H) dL/dh_t from step t+1
        dnext_c = writable_copy(dnew_c, (N, H), dtype)  # (N, H) dL/dc_t from step t+1
        dy = buf("dy", (N, 4 * H), dtype)  # (N, 4H) di, df, dg, do: gradients of the gates
        di, df, dg, do = (dy[:, k * H:(k + 1) * H] for k in range(4))  # (N, H) views
        r = _per_gate((0.0, 0.0, 1.0, 0.0), H, dtype)  # (4H,) σ' = (1 - y) y, tanh' = (1 - y)(y + 1)
        one_r = 1 + r  # (4H,)
        dprev_h, dprev_c = dnext_h, dnext_c
        for t in reversed(range(T)):
            a_t = a[t]  # (N, 4H)
            i, f, g, o = (a_t[:, k * H:(k + 1) * H] for k in range(4))  # (N, H) views
            c_prev = c_in[t]
            dh = np.add(dout[t], dnext_h, out=dnext_h)  # dh_t: from out and from step t+1
            tanh_c = np.tanh(cs[t + 1], out=cs[t + 1])  # recompute tanh(c_t) over c_t (spent)
            np.multiply(dh, tanh_c, out=do)  # backprop through h_t = o ⊙ tanh(c_t)
            dtanh_c = np.multiply(dh, o, out=dh)  # (reuses dh's buffer)
            tanh_c *= tanh_c
            dtanh_c *= np.subtract(1, tanh_c, out=tanh_c)  # backprop through tanh
            dc = dnext_c
            dc += dtanh_c  # dc_t: from c_{t+1} and from h_t
            np.multiply(dc, g, out=di)  # backprop through c_t = f ⊙ c_{t-1} + i ⊙ g
            np.multiply(dc, c_prev, out=df)
            np.multiply(dc, i, out=dg)
            dprev_c = np.multiply(dc, f, out=dc)  # becomes dnext_c of step t-1
            a_t += r  # backprop through σ (i, f, o) and tanh (g), over the gates:
            dy *= a_t  # dy ⊙ (y + r) ...
            np.subtract(one_r, a_t, out=a_t)  # ... ⊙ (1 - y)
            a_t *= dy  # = da (N, 4H)
            dprev_h = through_Wh(a_t, dnext_h)  # (N, H) da W_h^T
            if keep is not None:  # backprop through the reset: no gradient into a zeroed state
                dprev_h *= keep[t]
                dprev_c *= keep[t]
        dx = buf("dx", grad_shape(x), dtype)[...]  # (T, N, D), or (V, D) for Tokens: lent to the caller
        dW, db = input_and_weight_grads(a, x, h_in, W, dx, out and out["W"])  # (D+H, 4H), (4H,)
        self.workspace("forward").give_back(cache)
        return workspace.lend(dx, buf), (dprev_h, dprev_c), into(out, {"W": dW, "b": db})
