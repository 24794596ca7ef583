"""Gated recurrent units over whole sequences, with one fused weight: two variants.

Shapes: T time steps, N batch, D input size, H hidden size; time-major like the rest of nn/.
  input   x (T, N, D) and state (h0,), (N, H)
  output  out (T, N, H), the hidden state h_t of every step, and new_state (h_T,)

``gru`` — Cho et al. (2014): the reset gate scales the previous state *before* the recurrent
product. Parameters W (D+H, 3H) and b (3H,); rows W[:D] (= W_x) multiply x_t, rows W[D:]
(= W_h) the previous state; the 3H axis holds r, u, n (reset, update, candidate):
  [a_r | a_u] = x_t W_x[:, :2H] + h_{t-1} W_h[:, :2H] + b[:2H]
  r   = σ(a_r),  u = σ(a_u)
  n   = tanh(x_t W_x[:, 2H:] + (r ⊙ h_{t-1}) W_h[:, 2H:] + b[2H:])
  h_t = (1 - u) ⊙ h_{t-1} + u ⊙ n

``gru_cudnn`` — the variant of cuDNN and torch.nn.GRU: the reset gate scales the recurrent
product *after* it is taken, and that product has its own bias, so the candidate slice needs
a second bias vector b_hn (H,) (for r and z the two biases of PyTorch simply add up into b).
Parameters W (D+H, 3H), b (3H,), b_hn (H,); the 3H axis holds r, z, n, PyTorch's order, and
z keeps PyTorch's meaning (z = 1 - u: the share of the *old* state kept):
  [a_r | a_z] = x_t W_x[:, :2H] + h_{t-1} W_h[:, :2H] + b[:2H]
  r   = σ(a_r),  z = σ(a_z)
  n   = tanh(x_t W_x[:, 2H:] + b[2H:] + r ⊙ (h_{t-1} W_h[:, 2H:] + b_hn))
  h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
so W[:D].T == weight_ih_l0, W[D:].T == weight_hh_l0, b == bias_ih_l0 + [bias_hh_l0[:2H], 0]
and b_hn == bias_hh_l0[2H:]. The difference matters: Cho's candidate needs r before its
recurrent GEMM, so each step runs two dependent GEMMs (H×2H, then H×H); cuDNN's needs one
H×3H GEMM per step, which is why cuDNN chose it.

``init_params`` (``model.init: uniform``): weights uniform(-1/√H, 1/√H) like PyTorch, biases
zero; ``pytorch_biases`` gives torch.nn.GRU's. The schemes, the default among them: nn/init.py.

Speed: x_t W_x for all T steps is one GEMM into a (T, N, 3H) buffer that ends up holding
the post-activation gates; backward writes da over them and computes dx and the weight
gradients after the loop as GEMMs over all T·N rows.

Memory, in floats: the cache holds the gates 3·N·T·H, the hidden states (T+1)·N·H and one
more N·T·H (gru: r ⊙ h_{t-1}; gru_cudnn: h_{t-1} W_hn + b_hn), that is 5·N·T·H + N·H, plus a
reference to x. Backward adds dx N·T·D, dW 3·(D+H)·H, a contiguous copy of W_h^T 3·H² (or,
with N ≤ 32, an (H, N) buffer: ``ops.backward_product``) and a few (N, 3H) buffers (gru_cudnn
also an N·T·3H recurrent-side gradient). The cache can be backpropagated only once.
"""

from functools import partial
from typing import Dict, Tuple

import numpy as np

from .cell import Cell
from .ops import (alternate, backward_product, input_grads, into, project_inputs, sigmoid_, step_product, take_from_cache,
                  uniform_weight, writable_copy)
from .vocab_space import grad_shape
from .workspace import Cache


class GRU(Cell):
    """Cho et al.'s GRU, reset before the recurrent product; see the module docstring."""

    name = "gru"
    state_names = ("h",)
    gates, forget_gate = "run", ("u", -1)  # u is the share of the new state: 1 - u keeps the old

    def param_shapes(self) -> Dict[str, Tuple[int, ...]]:
        D, H = self.input_size, self.hidden_size
        return {"W": (D + H, 3 * H), "b": (3 * H,)}

    def init_params(self, rng: np.random.Generator, dtype=np.float32) -> Dict[str, np.ndarray]:
        D, H = self.input_size, self.hidden_size
        return {"W": uniform_weight(rng, (D + H, 3 * H), H, dtype), "b": np.zeros(3 * H, dtype)}

    def forward(self, params, x, state, keep=None):
        """x (T, N, D), state (h0,), keep (T, N, 1) or None -> out (T, N, H), new_state (h_T,), cache."""
        W, b = params["W"], params["b"]
        T, N, D = x.shape
        H = self.hidden_size
        dtype = np.result_type(W.dtype, x.dtype)
        Wx, Wh = W[:D], W[D:]  # (D, 3H), (H, 3H) views
        Wh_ru, Wh_n = Wh[:, :2 * H], Wh[:, 2 * H:]  # (H, 2H), (H, H)
        workspace = self.workspace("forward")
        buf = workspace.claim()
        a = buf("a", (T, N, 3 * H), dtype)  # (T, N, 3H) pre-activations, then gates r, u, n
        project_inputs(x, Wx, b, out=a)  # x_t W_x + b for all t
        hs = buf("h", (T + 1, N, H), dtype)  # (T+1, N, H) hs[0] = h0, hs[t+1] = h_t
        hs[0] = state[0]
        rhs = buf("rh", (T, N, H), dtype)  # (T, N, H) r ⊙ h_{t-1}, for dW of the candidate
        ah = buf("ah", (N, 2 * H), dtype)  # (N, 2H)
        an = buf("an", (N, H), dtype)  # (N, H)
        h_in = hs[:-1] if keep is None else buf("h_in", (T, N, H), dtype)  # (T, N, H) keep_t ⊙ h_{t-1}
        for t in range(T):
            h_prev = hs[t]
            if keep is not None:  # a stream whose input is <eod> starts from a zero state
                h_prev = np.multiply(h_prev, keep[t], out=h_in[t])
            ru, n = a[t, :, :2 * H], a[t, :, 2 * H:]  # (N, 2H), (N, H) views
            r, u = ru[:, :H], ru[:, H:]
            ru += np.matmul(h_prev, Wh_ru, out=ah)  # [a_r | a_u]
            sigmoid_(ru)  # r, u
            rh = np.multiply(r, h_prev, out=rhs[t])  # r ⊙ h_{t-1}
            n += np.matmul(rh, Wh_n, out=an)  # a_n
            np.tanh(n, out=n)  # n
            h = np.subtract(n, h_prev, out=hs[t + 1])  # h_t = h_{t-1} + u ⊙ (n - h_{t-1})
            h *= u
            h += h_prev
        return hs[1:], (hs[T].copy(),), workspace.lend(Cache(x=x, a=a, h=hs, rh=rhs, h_in=h_in, keep=keep), buf)

    def stepper(self, params, N):
        """``step`` for N streams with its buffers made once (see ``LSTM.stepper``): two GEMVs
        per step, [x_t, h_{t-1}] W[:, :2H] for r and u, then [x_t, r ⊙ h_{t-1}] W[:, 2H:] for n."""
        W, b = params["W"], params["b"]
        D, H = self.input_size, self.hidden_size
        dtype = W.dtype
        product_ru, product_n = step_product(W[:, :2 * H], N), step_product(W[:, 2 * H:], N)
        xh = np.empty((N, D + H), dtype)  # (N, D+H) [x_t, h_{t-1}]
        xrh = np.empty((N, D + H), dtype)  # (N, D+H) [x_t, r ⊙ h_{t-1}]
        ru = np.empty((N, 2 * H), dtype)  # (N, 2H) [a_r | a_u], then r, u
        r, u = ru[:, :H], ru[:, H:]  # (N, H) views
        n = np.empty((N, H), dtype)  # (N, H) a_n, then n
        next_h = alternate((N, H), dtype)  # (N, H): where h_t is written

        def step(x, state):
            h_prev, = state
            h = next_h()
            xh[:, :D] = x
            xh[:, D:] = h_prev
            xrh[:, :D] = x
            product_ru(xh, ru)
            sigmoid_(np.add(ru, b[:2 * H], out=ru))  # r, u
            np.multiply(r, h_prev, out=xrh[:, D:])  # r ⊙ h_{t-1}
            product_n(xrh, n)
            np.tanh(np.add(n, b[2 * H:], out=n), out=n)  # n
            np.subtract(n, h_prev, out=h)  # h_t = h_{t-1} + u ⊙ (n - h_{t-1})
            np.multiply(h, u, out=h)
            np.add(h, h_prev, out=h)
            return h, (h,)
        return step

    def backward(self, params, dout, dnew_state, cache, out=None):
        """dout (T, N, H), dnew_state (dh_T,) or None, cache -> dx, (dh0,), {"W", "b"}.

        Consumes the cache: da is written over the cached gates.
        """
        a = take_from_cache(cache, "a", "GRU")  # (T, N, 3H) gates r, u, n; becomes da
        x, rhs, h_in, keep = cache["x"], cache["rh"], cache["h_in"], cache["keep"]
        W = params["W"]
        T, N, D = x.shape
        H = self.hidden_size
        dtype = a.dtype
        Wx, Wh = W[:D], W[D:]
        workspace = self.workspace("backward")
        buf = workspace.claim()
        dh_ru = backward_product(Wh[:, :2 * H], N, dtype, partial(buf, "WhT_ru"))  # [da_r | da_u] W_h,ru^T
        drh_n = backward_product(Wh[:, 2 * H:], N, dtype, partial(buf, "WhT_n"))  # da_n -> da_n W_hn^T
        dgates = buf("dgates", (N, H), dtype)  # (N, H)
        dnext_h = writable_copy(None if dnew_state is None else dnew_state[0], (N, H), dtype)  # (N, H)
        dh = buf("dh", (N, H), dtype)  # (N, H) dL/dh_t
        dn = buf("dn", (N, H), dtype)  # (N, H)
        drh = buf("drh", (N, H), dtype)  # (N, H) dL/d(r ⊙ h_{t-1})
        for t in reversed(range(T)):
            h_prev = h_in[t]
            a_t = a[t]  # (N, 3H)
            r, u, n = a_t[:, :H], a_t[:, H:2 * H], a_t[:, 2 * H:]  # gates; each becomes its da
            np.add(dout[t], dnext_h, out=dh)  # dh_t: from out and from step t+1
            np.multiply(dh, u, out=dn)  # backprop through h_t = (1 - u) ⊙ h_{t-1} + u ⊙ n
            np.subtract(dh, dn, out=dnext_h)  # dh_{t-1}, direct path: dh ⊙ (1 - u)
            du = dh * (n - h_prev)
            u *= du * (1 - u)  # backprop through σ: da_u = du ⊙ u(1 - u)
            n *= -n
            n += 1
            n *= dn  # backprop through tanh: da_n = dn ⊙ (1 - n²)
            drh_n(n, drh)  # backprop through (r ⊙ h_{t-1}) W_hn
            dnext_h += drh * r  # dh_{t-1}, through the reset
            dr = drh * h_prev
            r *= dr * (1 - r)  # da_r = dr ⊙ r(1 - r)
            dnext_h += dh_ru(a_t[:, :2 * H], dgates)  # dh_{t-1}, through the gates' recurrent GEMM
            if keep is not None:  # backprop through the reset: no gradient into a zeroed state
                dnext_h *= keep[t]
        da = a.reshape(T * N, 3 * H)  # (T*N, 3H)
        dx = buf("dx", grad_shape(x), dtype)[...]  # (T, N, D), or (V, D) for Tokens: lent to the caller
        dW = np.empty(W.shape, dtype) if out is None else out["W"]  # (D+H, 3H)
        input_grads(da, x, Wx, dx, dW[:D])  # dx = da W_x^T, dW_x = X^T da
        dW[D:, :2 * H] = h_in.reshape(T * N, H).T @ da[:, :2 * H]  # H_prev^T [da_r | da_u]
        dW[D:, 2 * H:] = rhs.reshape(T * N, H).T @ da[:, 2 * H:]  # (r ⊙ H_prev)^T da_n
        self.workspace("forward").give_back(cache)
        return workspace.lend(dx, buf), (dnext_h,), into(out, {"W": dW, "b": da.sum(axis=0)})


class GRUCuDNN(Cell):
    """The cuDNN / torch.nn.GRU variant, reset after the recurrent product; see the docstring."""

    name = "gru_cudnn"
    state_names = ("h",)
    gates, forget_gate = "rzn", ("z", 1)  # z is the share of the old state kept

    def param_shapes(self) -> Dict[str, Tuple[int, ...]]:
        D, H = self.input_size, self.hidden_size
        return {"W": (D + H, 3 * H), "b": (3 * H,), "b_hn": (H,)}

    def init_params(self, rng: np.random.Generator, dtype=np.float32) -> Dict[str, np.ndarray]:
        D, H = self.input_size, self.hidden_size
        return {"W": uniform_weight(rng, (D + H, 3 * H), H, dtype), "b": np.zeros(3 * H, dtype),
                "b_hn": np.zeros(H, dtype)}

    def pytorch_biases(self, rng: np.random.Generator, dtype=np.float32) -> Dict[str, np.ndarray]:
        """As torch.nn.GRU: b[:2H] = bias_ih + bias_hh (two uniform(±1/√H) draws), b[2H:] =
        bias_ih_n and b_hn = bias_hh_n (one draw each)."""
        H = self.hidden_size
        bound = 1.0 / np.sqrt(H)
        b_ih, b_hh = rng.uniform(-bound, bound, 3 * H), rng.uniform(-bound, bound, 3 * H)  # (3H,) each
        b = b_ih + np.concatenate([b_hh[:2 * H], np.zeros(H)])  # (3H,)
        return {"b": b.astype(dtype), "b_hn": b_hh[2 * H:].astype(dtype)}

    def forward(self, params, x, state, keep=None):
        """x (T, N, D), state (h0,), keep (T, N, 1) or None -> out (T, N, H), new_state (h_T,), cache."""
        W, b, b_hn = params["W"], params["b"], params["b_hn"]
        T, N, D = x.shape
        H = self.hidden_size
        dtype = np.result_type(W.dtype, x.dtype)
        Wx, Wh = W[:D], W[D:]  # (D, 3H), (H, 3H) views
        workspace = self.workspace("forward")
        buf = workspace.claim()
        a = buf("a", (T, N, 3 * H), dtype)  # (T, N, 3H) pre-activations, then gates r, z, n
        project_inputs(x, Wx, b, out=a)  # x_t W_x + b for all t
        hs = buf("h", (T + 1, N, H), dtype)  # (T+1, N, H) hs[0] = h0, hs[t+1] = h_t
        hs[0] = state[0]
        hns = buf("hn", (T, N, H), dtype)  # (T, N, H) h_{t-1} W_hn + b_hn
        ah = buf("ah", (N, 3 * H), dtype)  # (N, 3H) h_{t-1} W_h, one GEMM for all three
        h_in = hs[:-1] if keep is None else buf("h_in", (T, N, H), dtype)  # (T, N, H) keep_t ⊙ h_{t-1}
        for t in range(T):
            h_prev = hs[t]
            if keep is not None:  # a stream whose input is <eod> starts from a zero state
                h_prev = np.multiply(h_prev, keep[t], out=h_in[t])
            rz, n = a[t, :, :2 * H], a[t, :, 2 * H:]  # (N, 2H), (N, H) views
            r, z = rz[:, :H], rz[:, H:]
            np.matmul(h_prev, Wh, out=ah)
            rz += ah[:, :2 * H]  # [a_r | a_z]
            sigmoid_(rz)  # r, z
            hn = np.add(ah[:, 2 * H:], b_hn, out=hns[t])  # h_{t-1} W_hn + b_hn
            n += r * hn  # a_n
            np.tanh(n, out=n)  # n
            h = np.subtract(h_prev, n, out=hs[t + 1])  # h_t = n + z ⊙ (h_{t-1} - n)
            h *= z
            h += n
        return hs[1:], (hs[T].copy(),), workspace.lend(Cache(x=x, a=a, h=hs, hn=hns, h_in=h_in, keep=keep), buf)

    def stepper(self, params, N):
        """``step`` for N streams with its buffers made once (see ``LSTM.stepper``): the input
        and recurrent products are kept apart, as r multiplies only the recurrent one."""
        W, b, b_hn = params["W"], params["b"], params["b_hn"]
        D, H = self.input_size, self.hidden_size
        dtype = W.dtype
        product_x, product_h = step_product(W[:D], N), step_product(W[D:], N)
        ax = np.empty((N, 3 * H), dtype)  # (N, 3H) x_t W_x + b, then r, z and n in place
        ah = np.empty((N, 3 * H), dtype)  # (N, 3H) h_{t-1} W_h
        rz, n = ax[:, :2 * H], ax[:, 2 * H:]  # (N, 2H), (N, H) views
        r, z = ax[:, :H], ax[:, H:2 * H]
        hn = ah[:, 2 * H:]  # (N, H) view
        next_h = alternate((N, H), dtype)  # (N, H): where h_t is written

        def step(x, state):
            h_prev, = state
            h = next_h()
            product_x(x, ax)
            np.add(ax, b, out=ax)
            product_h(h_prev, ah)
            sigmoid_(np.add(rz, ah[:, :2 * H], out=rz))  # r, z
            np.add(hn, b_hn, out=hn)  # h_{t-1} W_hn + b_hn
            np.add(n, np.multiply(r, hn, out=hn), out=n)  # a_n
            np.tanh(n, out=n)  # n
            np.subtract(h_prev, n, out=h)  # h_t = n + z ⊙ (h_{t-1} - n)
            np.multiply(h, z, out=h)
            np.add(h, n, out=h)
            return h, (h,)
        return step

    def backward(self, params, dout, dnew_state, cache, out=None):
        """dout (T, N, H), dnew_state (dh_T,) or None, cache -> dx, (dh0,), {"W", "b", "b_hn"}.

        Consumes the cache: da is written over the gates, dL/d(h_{t-1} W_hn) over the hn.
        """
        a = take_from_cache(cache, "a", "GRUCuDNN")  # (T, N, 3H) gates r, z, n; becomes da
        x, hns, h_in, keep = cache["x"], cache["hn"], cache["h_in"], cache["keep"]
        W = params["W"]
        T, N, D = x.shape
        H = self.hidden_size
        dtype = a.dtype
        Wx, Wh = W[:D], W[D:]
        workspace = self.workspace("backward")
        buf = workspace.claim()
        through_Wh = backward_product(Wh, N, dtype, partial(buf, "WhT"))  # dah -> dah W_h^T
        dgates = buf("dgates", (N, H), dtype)  # (N, H)
        dnext_h = writable_copy(None if dnew_state is None else dnew_state[0], (N, H), dtype)  # (N, H)
        dh = buf("dh", (N, H), dtype)  # (N, H) dL/dh_t
        dah = buf("dah", (N, 3 * H), dtype)  # (N, 3H) gradient of h_{t-1} W_h (+ b_hn)
        for t in reversed(range(T)):
            h_prev = h_in[t]
            a_t, hn = a[t], hns[t]  # (N, 3H), (N, H)
            r, z, n = a_t[:, :H], a_t[:, H:2 * H], a_t[:, 2 * H:]  # gates; each becomes its da
            np.add(dout[t], dnext_h, out=dh)  # dh_t: from out and from step t+1
            np.multiply(dh, z, out=dnext_h)  # backprop through h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
            dn = dh - dnext_h  # dh ⊙ (1 - z)
            dz = dh * (h_prev - n)
            z *= dz * (1 - z)  # backprop through σ: da_z = dz ⊙ z(1 - z)
            n *= -n
            n += 1
            n *= dn  # backprop through tanh: da_n = dn ⊙ (1 - n²)
            dr = n * hn  # backprop through r ⊙ hn
            np.multiply(n, r, out=hn)  # dhn, kept for dW_hn and db_hn
            r *= dr * (1 - r)  # da_r = dr ⊙ r(1 - r)
            dah[:, :2 * H] = a_t[:, :2 * H]
            dah[:, 2 * H:] = hn
            dnext_h += through_Wh(dah, dgates)  # dh_{t-1}, through the recurrent GEMM
            if keep is not None:  # backprop through the reset: no gradient into a zeroed state
                dnext_h *= keep[t]
        da = a.reshape(T * N, 3 * H)  # (T*N, 3H)
        dx = buf("dx", grad_shape(x), dtype)[...]  # (T, N, D), or (V, D) for Tokens: lent to the caller
        dW = np.empty(W.shape, dtype) if out is None else out["W"]  # (D+H, 3H)
        input_grads(da, x, Wx, dx, dW[:D])  # dx = da W_x^T, dW_x = X^T da
        dhn = hns.reshape(T * N, H)  # (T*N, H)
        hprev = h_in.reshape(T * N, H)  # (T*N, H)
        dW[D:, :2 * H] = hprev.T @ da[:, :2 * H]  # H_prev^T [da_r | da_z]
        dW[D:, 2 * H:] = hprev.T @ dhn  # H_prev^T dhn
        self.workspace("forward").give_back(cache)
        return workspace.lend(dx, buf), (dnext_h,), into(out, {"W": dW, "b": da.sum(axis=0), "b_hn": dhn.sum(axis=0)})
