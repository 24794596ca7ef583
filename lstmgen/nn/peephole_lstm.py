"""The LSTM with peephole connections of Gers, Schraudolph & Schmidhuber (2002).

Shapes: T time steps, N batch, D input size, H hidden size; time-major like the rest of nn/.
  input   x (T, N, D) and state (h0, c0), each (N, H)
  output  out (T, N, H), the hidden state h_t of every step, and new_state (h_T, c_T)

Parameters: W (D+H, 4H) and b (4H,) exactly as in lstm.py (gate order i, f, g, o; rows
W[:D] multiply x_t, rows W[D:] multiply h_{t-1}), plus the diagonal peephole weights
p (3H,) = [p_i | p_f | p_o], one weight per unit and gate. One step:
  a   = x_t W_x + h_{t-1} W_h + b       (N, 4H), split into a_i, a_f, a_g, a_o
  i   = σ(a_i + p_i ⊙ c_{t-1})
  f   = σ(a_f + p_f ⊙ c_{t-1})
  g   = tanh(a_g)
  c_t = f ⊙ c_{t-1} + i ⊙ g
  o   = σ(a_o + p_o ⊙ c_t)              the output gate looks at the *new* cell state
  h_t = o ⊙ tanh(c_t)
(Gers et al. use the cell state itself as output in some experiments; we keep tanh(c_t), as
in Graves's formulation, so that with p = 0 this is exactly the ``lstm`` cell.)

Why the gates cannot all come from one product: i and f need c_{t-1}, known when the step
starts, but o needs c_t, which exists only after i, f and g have been applied. The peephole
terms are diagonal (element-wise), though, so nothing is lost: the code still computes the
whole (N, 4H) linear part x_t W_x + h_{t-1} W_h + b in the one fused GEMM per step (the input
part for all T steps at once), adds p_i ⊙ c_{t-1} and p_f ⊙ c_{t-1} and activates i, f, g,
computes c_t, and only then adds p_o ⊙ c_t and activates o: two element-wise passes instead
of one, the same number of GEMMs as ``lstm``. Backward mirrors this: da_o is known first,
and it feeds dc_t through p_o before dc_t is split into di, df, dg.

``init_params`` (``model.init: uniform``): W uniform(-1/√H, 1/√H), b zero except the forget
slice (1), the peepholes zero (training starts from a plain LSTM); other schemes: nn/init.py.

Memory, in floats: the cache holds the gates 4·N·T·H, the hidden states (T+1)·N·H and the
cell states (T+1)·N·H, as for ``lstm``, plus a reference to x. Backward adds dx N·T·D,
dW 4·(D+H)·H, a contiguous W_h^T 4·H² (or with N ≤ 32 an (H, N) buffer) and a few (N, H)
buffers; it writes da over the gates.
"""

from functools import partial
from typing import Dict, Tuple

import numpy as np

from .cell import Cell
from .ops import (alternate, backward_product, input_and_weight_grads, into, project_inputs, sigmoid_, step_product,
                  take_from_cache, uniform_weight, writable_copy)
from .vocab_space import grad_shape
from .workspace import Cache


class PeepholeLSTM(Cell):
    """Peephole LSTM over (T, N, D) sequences; see the module docstring."""

    name = "peephole_lstm"
    state_names = ("h", "c")
    gates, forget_gate, input_gate = "ifgo", ("f", 1), "i"

    def param_shapes(self) -> Dict[str, Tuple[int, ...]]:
        D, H = self.input_size, self.hidden_size
        return {"W": (D + H, 4 * H), "b": (4 * H,), "p": (3 * H,)}

    def init_params(self, rng: np.random.Generator, dtype=np.float32) -> Dict[str, np.ndarray]:
        D, H = self.input_size, self.hidden_size
        b = np.zeros(4 * H, dtype)  # (4H,)
        b[H:2 * H] = 1.0  # forget gate starts open
        return {"W": uniform_weight(rng, (D + H, 4 * H), H, dtype), "b": b, "p": np.zeros(3 * H, dtype)}

    def forward(self, params, x, state, keep=None):
        """x (T, N, D), state (h0, c0), keep (T, N, 1) or None -> out (T, N, H), new_state
        (h_T, c_T), cache."""
        W, b, p = params["W"], params["b"], params["p"]
        T, N, D = x.shape
        H = self.hidden_size
        dtype = np.result_type(W.dtype, x.dtype)
        Wx, Wh = W[:D], W[D:]  # (D, 4H), (H, 4H) views
        p_if, p_o = p[:2 * H], p[2 * H:]  # (2H,), (H,)
        workspace = self.workspace("forward")
        buf = workspace.claim()
        a = buf("a", (T, N, 4 * H), dtype)  # (T, N, 4H) pre-activations, then gates i, f, g, o
        project_inputs(x, Wx, b, out=a)  # x_t W_x + b for all t
        hs = buf("h", (T + 1, N, H), dtype)  # (T+1, N, H) hs[0] = h0, hs[t+1] = h_t
        cs = buf("c", (T + 1, N, H), dtype)  # (T+1, N, H) cs[0] = c0, cs[t+1] = c_t
        hs[0], cs[0] = state
        ah = buf("ah", (N, 4 * H), dtype)  # (N, 4H) h_{t-1} W_h
        h_in, c_in = (hs[:-1], cs[:-1]) if keep is None else (buf("h_in", (T, N, H), dtype),
                                                               buf("c_in", (T, N, H), dtype))  # (T, N, H) each
        for t in range(T):
            a_t = a[t]
            h_prev, c_prev, c = hs[t], cs[t], cs[t + 1]
            if keep is not None:  # a stream whose input is <eod> starts from a zero state
                h_prev = np.multiply(h_prev, keep[t], out=h_in[t])
                c_prev = np.multiply(c_prev, keep[t], out=c_in[t])
            a_t += np.matmul(h_prev, Wh, out=ah)  # the linear part of all four gates
            i_f, i, f, g, o = a_t[:, :2 * H], a_t[:, :H], a_t[:, H:2 * H], a_t[:, 2 * H:3 * H], a_t[:, 3 * H:]
            i_f += np.tile(c_prev, 2) * p_if  # + p_i ⊙ c_{t-1}, p_f ⊙ c_{t-1}
            sigmoid_(i_f)  # i, f
            np.tanh(g, out=g)  # g
            np.multiply(f, c_prev, out=c)  # c_t = f ⊙ c_{t-1} + i ⊙ g
            c += i * g
            o += p_o * c  # + p_o ⊙ c_t: only now is c_t known
            sigmoid_(o)  # o
            h = np.tanh(c, out=hs[t + 1])  # h_t = o ⊙ tanh(c_t)
            h *= o
        return hs[1:], (hs[T].copy(), cs[T].copy()), workspace.lend(
            Cache(x=x, a=a, h=hs, c=cs, h_in=h_in, c_in=c_in, keep=keep), buf)

    def stepper(self, params, N):
        """``step`` for N streams with its buffers made once, as ``LSTM.stepper``: one GEMV over
        [x_t, h_{t-1}] and the fused W, then the peephole terms, in ``forward``'s order."""
        W, b, p = params["W"], params["b"], params["p"]
        D, H = self.input_size, self.hidden_size
        dtype = W.dtype
        p_if, p_o = p[:2 * H], p[2 * H:]  # (2H,), (H,)
        product = step_product(W, N)
        xh = np.empty((N, D + H), dtype)  # (N, D+H) [x_t, h_{t-1}]
        a = np.empty((N, 4 * H), dtype)  # (N, 4H) pre-activations, then gates i, f, g, o
        i_f, i, f, g, o = a[:, :2 * H], a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]  # views
        pc = np.empty((N, 2 * H), dtype)  # (N, 2H) [p_i ⊙ c_{t-1} | p_f ⊙ c_{t-1}]
        next_pair = alternate((2, N, H), dtype)  # (2, N, H): where (h_t, c_t) is written

        def step(x, state):
            h_prev, c_prev = state
            h, c = next_pair()
            xh[:, :D] = x
            xh[:, D:] = h_prev
            product(xh, a)
            np.add(a, b, out=a)  # the linear part of all four gates
            pc[:, :H] = c_prev
            pc[:, H:] = c_prev
            np.multiply(pc, p_if, out=pc)
            sigmoid_(np.add(i_f, pc, out=i_f))  # i, f = σ(a + p ⊙ c_{t-1})
            np.tanh(g, out=g)  # g
            np.multiply(f, c_prev, out=c)  # c_t = f ⊙ c_{t-1} + i ⊙ g
            np.multiply(i, g, out=i)
            np.add(c, i, out=c)
            sigmoid_(np.add(o, np.multiply(c, p_o, out=h), out=o))  # o = σ(a_o + p_o ⊙ c_t)
            np.tanh(c, out=h)  # h_t = o ⊙ tanh(c_t)
            np.multiply(h, o, out=h)
            return h, (h, c)
        return step

    def backward(self, params, dout, dnew_state, cache, out=None):
        """dout (T, N, H), dnew_state (dh_T, dc_T) or None, cache -> dx (T, N, D),
        dstate (dh0, dc0), grads {"W", "b", "p"}. Consumes the cache (da over the gates)."""
        a = take_from_cache(cache, "a", "PeepholeLSTM")  # (T, N, 4H) gates i, f, g, o; becomes da
        x, cs, h_in, c_in, keep = cache["x"], cache["c"], cache["h_in"], cache["c_in"], cache["keep"]
        W, p = params["W"], params["p"]
        T, N, D = x.shape
        H = self.hidden_size
        dtype = a.dtype
        Wh = W[D:]  # (H, 4H) view
        workspace = self.workspace("backward")
        buf = workspace.claim()
        through_Wh = backward_product(Wh, N, dtype, partial(buf, "WhT"))  # da -> da W_h^T
        p_i, p_f, p_o = p[:H], p[H:2 * H], p[2 * H:]
        dnew_h, dnew_c = (None, None) if dnew_state is None else dnew_state
        dnext_h = writable_copy(dnew_h, (N, H), dtype)  # (N, H) dL/dh_t from step t+1
        dnext_c = writable_copy(dnew_c, (N, H), dtype)  # (N, H) dL/dc_t from step t+1
        dh = np.empty((N, H), dtype)
        for t in reversed(range(T)):
            a_t = a[t]
            i, f, g, o = a_t[:, :H], a_t[:, H:2 * H], a_t[:, 2 * H:3 * H], a_t[:, 3 * H:]
            c_prev, c = c_in[t], cs[t + 1]
            np.add(dout[t], dnext_h, out=dh)  # dh_t: from out and from step t+1
            tanh_c = np.tanh(c)
            do = dh * tanh_c  # backprop through h_t = o ⊙ tanh(c_t)
            dc = dnext_c + dh * o * (1 - tanh_c * tanh_c)  # dc_t: from c_{t+1} and from h_t
            o *= do * (1 - o)  # backprop through σ: da_o
            dc += o * p_o  # backprop through the peephole p_o ⊙ c_t
            di, df, dg = dc * g, dc * c_prev, dc * i  # backprop through c_t = f ⊙ c_{t-1} + i ⊙ g
            np.multiply(dc, f, out=dnext_c)  # dc_{t-1}, direct path
            i *= di * (1 - i)  # da_i
            f *= df * (1 - f)  # da_f
            g *= -g
            g += 1
            g *= dg  # da_g = dg ⊙ (1 - g²)
            dnext_c += i * p_i + f * p_f  # backprop through the peepholes p_i, p_f ⊙ c_{t-1}
            through_Wh(a_t, dnext_h)  # dh_{t-1} = da W_h^T
            if keep is not None:  # backprop through the reset: no gradient into a zeroed state
                dnext_h *= keep[t]
                dnext_c *= keep[t]
        dx = buf("dx", grad_shape(x), dtype)[...]  # (T, N, D), or (V, D) for Tokens: lent to the caller
        dW, db = input_and_weight_grads(a, x, h_in, W, dx, out and out["W"])  # (D+H, 4H), (4H,)
        dp = np.concatenate([
            (a[..., :H] * c_in).sum(axis=(0, 1)),  # dp_i = Σ da_i ⊙ c_{t-1}
            (a[..., H:2 * H] * c_in).sum(axis=(0, 1)),  # dp_f = Σ da_f ⊙ c_{t-1}
            (a[..., 3 * H:] * cs[1:]).sum(axis=(0, 1)),  # dp_o = Σ da_o ⊙ c_t
        ])
        self.workspace("forward").give_back(cache)
        return workspace.lend(dx, buf), (dnext_h, dnext_c), into(out, {"W": dW, "b": db, "p": dp})
