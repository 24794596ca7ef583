"""The fused LSTM against a naive per-gate reference, numeric gradients and PyTorch.

Comparisons run in float64 on a small problem: N=3 streams, T=4 steps, D=5 inputs, H=6 units.
"""

import numpy as np
import pytest

from lstmgen.nn.lstm import LSTM
from lstmgen.nn.ops import backward_product
from tests.helpers import numeric_grad

N, T, D, H = 3, 4, 5, 6
TOL = 1e-5  # largest accepted relative error


def max_rel_error(a, b):
    """Largest elementwise |a - b| / (|a| + |b|), with a floor against 0/0: stricter than
    conftest's norm-wise ``rel_error``, for comparisons of two exact computations (no
    numeric differences near zero)."""
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(a) + np.abs(b), 1e-8)))


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def naive_lstm(W, b, x, h0, c0):
    """Step-by-step reference with one matrix per gate, sliced from the fused W (order i, f, g, o)."""
    D, H = x.shape[2], h0.shape[1]
    W_ii, W_if, W_ig, W_io = (W[:D, k * H:(k + 1) * H] for k in range(4))
    W_hi, W_hf, W_hg, W_ho = (W[D:, k * H:(k + 1) * H] for k in range(4))
    b_i, b_f, b_g, b_o = (b[k * H:(k + 1) * H] for k in range(4))
    h, c, hs = h0, c0, []
    for x_t in x:
        i = sigmoid(x_t @ W_ii + h @ W_hi + b_i)
        f = sigmoid(x_t @ W_if + h @ W_hf + b_f)
        g = np.tanh(x_t @ W_ig + h @ W_hg + b_g)
        o = sigmoid(x_t @ W_io + h @ W_ho + b_o)
        c = f * c + i * g
        h = o * np.tanh(c)
        hs.append(h)
    return np.stack(hs), h, c


def problem(seed=0, dtype=np.float64, T=T):
    """A cell, random params (bias too, so every gate slice matters), input and initial state."""
    rng = np.random.default_rng(seed)
    cell = LSTM(D, H)
    params = cell.init_params(rng, dtype)
    params["b"] = rng.uniform(-0.5, 0.5, 4 * H).astype(dtype)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    state = tuple(0.5 * rng.standard_normal((N, H)).astype(dtype) for _ in range(2))
    return cell, params, x, state


def upstream(seed=1, T=T):
    """Random upstream gradients for out, h_T and c_T: the loss is their dot product."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, N, H)), (rng.standard_normal((N, H)), rng.standard_normal((N, H)))


# ---- the forward pass ----------------------------------------------------------------------
def test_init_params_shapes_bounds_and_forget_bias():
    cell = LSTM(D, H)
    params = cell.init_params(np.random.default_rng(0))
    assert cell.param_shapes() == {"W": (D + H, 4 * H), "b": (4 * H,)}
    assert {k: v.shape for k, v in params.items()} == cell.param_shapes()
    assert np.abs(params["W"]).max() <= 1.0 / np.sqrt(H)
    np.testing.assert_array_equal(params["b"], np.r_[np.zeros(H), np.ones(H), np.zeros(2 * H)])


def test_init_state_is_zeros_named_h_and_c():
    cell = LSTM(D, H)
    assert cell.state_names == ("h", "c")
    for s in cell.init_state(N):
        assert s.shape == (N, H) and s.dtype == np.float32 and not s.any()


def test_forward_matches_naive_reference():
    cell, params, x, state = problem()
    out, (hT, cT), _ = cell.forward(params, x, state)
    ref_out, ref_h, ref_c = naive_lstm(params["W"], params["b"], x, *state)
    assert out.shape == (T, N, H)
    assert max_rel_error(out, ref_out) < 1e-12
    assert max_rel_error(hT, ref_h) < 1e-12 and max_rel_error(cT, ref_c) < 1e-12


def test_step_called_T_times_matches_naive_reference():
    cell, params, x, state0 = problem()
    outs, state = [], state0
    for x_t in x:
        h, state = cell.step(params, x_t, state)
        outs.append(h)
    ref_out, ref_h, ref_c = naive_lstm(params["W"], params["b"], x, *state0)
    assert max_rel_error(np.stack(outs), ref_out) < 1e-12
    assert max_rel_error(state[0], ref_h) < 1e-12 and max_rel_error(state[1], ref_c) < 1e-12


def test_one_stepper_reused_for_T_steps_matches_naive_reference():
    """The stepper's buffers are made once and its states written into two pairs in turn:
    feeding each returned state back in must still give the reference, step after step."""
    cell, params, x, state0 = problem()
    step = cell.stepper(params, N)
    outs, state = [], state0
    for x_t in x:
        h, state = step(x_t, state)
        outs.append(h.copy())
    ref_out, ref_h, ref_c = naive_lstm(params["W"], params["b"], x, *state0)
    assert max_rel_error(np.stack(outs), ref_out) < 1e-12
    assert max_rel_error(state[0], ref_h) < 1e-12 and max_rel_error(state[1], ref_c) < 1e-12


def test_forward_inference_matches_forward():
    cell, params, x, state = problem()
    out, new_state, _ = cell.forward(params, x, state)
    out_inf, new_state_inf = cell.forward_inference(params, x, state)
    np.testing.assert_array_equal(out_inf, out)
    for a, b in zip(new_state_inf, new_state):
        np.testing.assert_array_equal(a, b)


def test_carried_state_across_windows_equals_one_long_sequence():
    cell, params, x, state = problem(T=2 * T)
    out, (hT, cT), _ = cell.forward(params, x, state)
    out1, state1, _ = cell.forward(params, x[:T], state)
    out2, (hT2, cT2), _ = cell.forward(params, x[T:], state1)
    assert max_rel_error(np.concatenate([out1, out2]), out) < 1e-12
    assert max_rel_error(hT2, hT) < 1e-12 and max_rel_error(cT2, cT) < 1e-12


# ---- the backward pass ---------------------------------------------------------------------
@pytest.mark.parametrize("with_dnew_state", [False, True], ids=["dout-only", "dout+dnew_state"])
@pytest.mark.parametrize("wrt", ["x", "h0", "c0", "W", "b"])
def test_backward_matches_numeric_gradient(wrt, with_dnew_state):
    cell, params, x, (h0, c0) = problem()
    dout, (dhT, dcT) = upstream()
    if not with_dnew_state:
        dhT, dcT = np.zeros_like(dhT), np.zeros_like(dcT)

    def loss():
        out, (hT, cT), _ = cell.forward(params, x, (h0, c0))
        return np.sum(dout * out) + np.sum(dhT * hT) + np.sum(dcT * cT)

    _, _, cache = cell.forward(params, x, (h0, c0))
    dx, (dh0, dc0), grads = cell.backward(params, dout, (dhT, dcT), cache)
    analytic = {"x": dx, "h0": dh0, "c0": dc0, "W": grads["W"], "b": grads["b"]}[wrt]
    arr = {"x": x, "h0": h0, "c0": c0, "W": params["W"], "b": params["b"]}[wrt]
    assert max_rel_error(analytic, numeric_grad(loss, arr)) <= TOL


def test_dnew_state_none_means_zeros():
    cell, params, x, state = problem()
    dout, _ = upstream()
    zeros = cell.init_state(N, np.float64)
    dx0, ds0, g0 = cell.backward(params, dout, zeros, cell.forward(params, x, state)[2])
    dx1, ds1, g1 = cell.backward(params, dout, None, cell.forward(params, x, state)[2])
    np.testing.assert_array_equal(dx1, dx0)
    for k in g0:
        np.testing.assert_array_equal(g1[k], g0[k])
    for a, b in zip(ds1, ds0):
        np.testing.assert_array_equal(a, b)


def test_forward_and_backward_leave_their_inputs_untouched():
    cell, params, x, state = problem()
    dout, dnew_state = upstream()
    inputs = (params["W"], params["b"], x, *state, dout, *dnew_state)
    before = [a.copy() for a in inputs]
    _, _, cache = cell.forward(params, x, state)
    cell.backward(params, dout, dnew_state, cache)
    for a, b in zip(inputs, before):
        np.testing.assert_array_equal(a, b)


def test_backward_consumes_the_cache():
    cell, params, x, state = problem()
    dout, _ = upstream()
    _, _, cache = cell.forward(params, x, state)
    cell.backward(params, dout, None, cache)
    with pytest.raises(ValueError, match="already consumed"):
        cell.backward(params, dout, None, cache)


# ---- dtypes --------------------------------------------------------------------------------
def test_float32_in_float32_out():
    cell, params, x, state = problem(dtype=np.float32)
    dout, dnew_state = upstream()
    out, new_state, cache = cell.forward(params, x, state)
    dnew_state = tuple(d.astype(np.float32) for d in dnew_state)
    dx, dstate, grads = cell.backward(params, dout.astype(np.float32), dnew_state, cache)
    h, step_state = cell.step(params, x[0], state)
    for arr in (out, *new_state, dx, *dstate, *grads.values(), h, *step_state):
        assert arr.dtype == np.float32
    ref_out, _, _ = naive_lstm(*(a.astype(np.float64) for a in (params["W"], params["b"], x, *state)))
    assert np.abs(out - ref_out).max() < 1e-5


# ---- PyTorch as an independent implementation ----------------------------------------------
def torch_lstm(params, x, state, dout, dnew_state):
    """torch.nn.LSTM (float64) with our weights; returns outputs and gradients in our layout."""
    torch = pytest.importorskip("torch")
    W, b = params["W"], params["b"]
    lstm = torch.nn.LSTM(D, H, batch_first=False).double()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(W[:D].T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(W[D:].T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(0.25 * b))  # any split with b == bias_ih + bias_hh
        lstm.bias_hh_l0.copy_(torch.from_numpy(0.75 * b))
    xt, h0, c0 = (torch.tensor(a, requires_grad=True) for a in (x, *state))
    out, (hT, cT) = lstm(xt, (h0[None], c0[None]))
    loss = (out * torch.from_numpy(dout)).sum() + (hT[0] * torch.from_numpy(dnew_state[0])).sum() \
        + (cT[0] * torch.from_numpy(dnew_state[1])).sum()
    loss.backward()
    grads = {
        "x": xt.grad, "h0": h0.grad, "c0": c0.grad,
        "W_x": lstm.weight_ih_l0.grad.T, "W_h": lstm.weight_hh_l0.grad.T,
        "bias_ih": lstm.bias_ih_l0.grad, "bias_hh": lstm.bias_hh_l0.grad,
    }
    as_np = lambda t: t.detach().numpy()  # noqa: E731
    return as_np(out), (as_np(hT[0]), as_np(cT[0])), {k: as_np(v) for k, v in grads.items()}


def test_matches_torch_forward():
    cell, params, x, state = problem()
    dout, dnew_state = upstream()
    out, (hT, cT), _ = cell.forward(params, x, state)
    t_out, (t_hT, t_cT), _ = torch_lstm(params, x, state, dout, dnew_state)
    assert max_rel_error(out, t_out) <= TOL
    assert max_rel_error(hT, t_hT) <= TOL and max_rel_error(cT, t_cT) <= TOL


def test_matches_torch_gradients():
    cell, params, x, state = problem()
    dout, dnew_state = upstream()
    _, _, cache = cell.forward(params, x, state)
    dx, (dh0, dc0), grads = cell.backward(params, dout, dnew_state, cache)
    _, _, t = torch_lstm(params, x, state, dout, dnew_state)
    assert max_rel_error(dx, t["x"]) <= TOL
    assert max_rel_error(dh0, t["h0"]) <= TOL and max_rel_error(dc0, t["c0"]) <= TOL
    assert max_rel_error(grads["W"][:D], t["W_x"]) <= TOL and max_rel_error(grads["W"][D:], t["W_h"]) <= TOL
    assert max_rel_error(grads["b"], t["bias_ih"]) <= TOL and max_rel_error(grads["b"], t["bias_hh"]) <= TOL


@pytest.mark.parametrize("streams", [5, 40])  # (W_h da^T)^T up to 32 rows, da times W_h^T above
def test_backward_product_is_da_times_W_h_transposed(streams):
    rng = np.random.default_rng(6)
    Wh = rng.standard_normal((7, 12))  # (H, G)
    da = rng.standard_normal((streams, 12))  # (N, G)
    out = np.empty((streams, 7))
    assert backward_product(Wh, streams, np.float64)(da, out) is out
    np.testing.assert_allclose(out, da @ Wh.T, rtol=1e-12)
    strided = rng.standard_normal((streams, 24))[:, ::2]  # a gate slice, as the GRUs pass it
    np.testing.assert_allclose(backward_product(Wh, streams, np.float64)(strided, out), strided @ Wh.T, rtol=1e-12)
