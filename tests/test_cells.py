"""The GRU (both variants), vanilla RNN and peephole LSTM against naive step-by-step
references, float64 numeric gradients of every parameter and of the carried state, and
PyTorch's nn.GRU / nn.RNN where PyTorch has the cell.

Comparisons run in float64 on a small problem: N=3 streams, T=4 steps, D=5 inputs, H=6 units.
"""

import threading
import tracemalloc

import numpy as np
import pytest

from lstmgen.nn.gru import GRU, GRUCuDNN
from lstmgen.nn.lstm import LSTM
from lstmgen.nn.peephole_lstm import PeepholeLSTM
from lstmgen.nn.rnn import RNN
from tests.helpers import numeric_grad, rel_error
from tests.test_lstm import naive_lstm

N, T, D, H = 3, 4, 5, 6
TOL = 1e-7  # largest accepted norm-wise relative error of a gradient


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# ---- naive references: one matrix per gate, one line per equation -------------------------
def naive_rnn(params, x, h):
    W, b = params["W"], params["b"]
    hs = []
    for x_t in x:
        h = np.tanh(x_t @ W[:D] + h @ W[D:] + b)
        hs.append(h)
    return np.stack(hs), (h,)


def naive_gru(params, x, h):
    W, b = params["W"], params["b"]
    W_xr, W_xu, W_xn = (W[:D, k * H:(k + 1) * H] for k in range(3))
    W_hr, W_hu, W_hn = (W[D:, k * H:(k + 1) * H] for k in range(3))
    b_r, b_u, b_n = (b[k * H:(k + 1) * H] for k in range(3))
    hs = []
    for x_t in x:
        r = sigmoid(x_t @ W_xr + h @ W_hr + b_r)
        u = sigmoid(x_t @ W_xu + h @ W_hu + b_u)
        n = np.tanh(x_t @ W_xn + (r * h) @ W_hn + b_n)
        h = (1 - u) * h + u * n
        hs.append(h)
    return np.stack(hs), (h,)


def naive_gru_cudnn(params, x, h):
    W, b, b_hn = params["W"], params["b"], params["b_hn"]
    W_xr, W_xz, W_xn = (W[:D, k * H:(k + 1) * H] for k in range(3))
    W_hr, W_hz, W_hn = (W[D:, k * H:(k + 1) * H] for k in range(3))
    b_r, b_z, b_n = (b[k * H:(k + 1) * H] for k in range(3))
    hs = []
    for x_t in x:
        r = sigmoid(x_t @ W_xr + h @ W_hr + b_r)
        z = sigmoid(x_t @ W_xz + h @ W_hz + b_z)
        n = np.tanh(x_t @ W_xn + b_n + r * (h @ W_hn + b_hn))
        h = (1 - z) * n + z * h
        hs.append(h)
    return np.stack(hs), (h,)


def naive_peephole_lstm(params, x, h, c):
    W, b, p = params["W"], params["b"], params["p"]
    W_xi, W_xf, W_xg, W_xo = (W[:D, k * H:(k + 1) * H] for k in range(4))
    W_hi, W_hf, W_hg, W_ho = (W[D:, k * H:(k + 1) * H] for k in range(4))
    b_i, b_f, b_g, b_o = (b[k * H:(k + 1) * H] for k in range(4))
    p_i, p_f, p_o = (p[k * H:(k + 1) * H] for k in range(3))
    hs = []
    for x_t in x:
        i = sigmoid(x_t @ W_xi + h @ W_hi + b_i + p_i * c)
        f = sigmoid(x_t @ W_xf + h @ W_hf + b_f + p_f * c)
        g = np.tanh(x_t @ W_xg + h @ W_hg + b_g)
        c = f * c + i * g
        o = sigmoid(x_t @ W_xo + h @ W_ho + b_o + p_o * c)
        h = o * np.tanh(c)
        hs.append(h)
    return np.stack(hs), (h, c)


CASES = {
    "rnn": (RNN, naive_rnn),
    "gru": (GRU, naive_gru),
    "gru_cudnn": (GRUCuDNN, naive_gru_cudnn),
    "peephole_lstm": (PeepholeLSTM, naive_peephole_lstm),
}
cells = pytest.mark.parametrize("name", list(CASES))
CLASSES = {"lstm": LSTM, **{name: cls for name, (cls, _) in CASES.items()}}  # with the fused LSTM
every_cell = pytest.mark.parametrize("name", list(CLASSES))  # for tests that need no naive reference


def problem(name, seed=0, dtype=np.float64, T=T):
    """A cell, random params (every bias and peephole nonzero), input and initial state."""
    rng = np.random.default_rng(seed)
    cell = CLASSES[name](D, H)
    params = cell.init_params(rng, dtype)
    for k in params:
        if k != "W":
            params[k] = rng.uniform(-0.5, 0.5, params[k].shape).astype(dtype)
    x = rng.standard_normal((T, N, D)).astype(dtype)
    state = tuple(0.5 * rng.standard_normal((N, H)).astype(dtype) for _ in cell.state_names)
    return cell, params, x, state


def upstream(cell, seed=1, T=T):
    """Random upstream gradients for out and for every piece of the new state."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((T, N, H)), tuple(rng.standard_normal((N, H)) for _ in cell.state_names)


# ---- the forward pass ----------------------------------------------------------------------
@cells
def test_shapes_and_zero_state(name):
    cell = CASES[name][0](D, H)
    params = cell.init_params(np.random.default_rng(0))
    assert {k: v.shape for k, v in params.items()} == cell.param_shapes()
    assert all(v.dtype == np.float32 for v in params.values())
    assert cell.param_shapes()["W"][0] == D + H
    assert np.abs(params["W"]).max() <= 1.0 / np.sqrt(H)
    assert len(cell.init_state(N)) == len(cell.state_names)


@cells
def test_forward_matches_naive_reference(name):
    cell, params, x, state = problem(name)
    out, new_state, _ = cell.forward(params, x, state)
    ref_out, ref_state = CASES[name][1](params, x, *state)
    assert out.shape == (T, N, H)
    assert rel_error(out, ref_out) < 1e-12
    for a, b in zip(new_state, ref_state):
        assert rel_error(a, b) < 1e-12


@cells
def test_step_called_T_times_matches_forward(name):
    cell, params, x, state0 = problem(name)
    out, new_state, _ = cell.forward(params, x, state0)
    outs, state = [], state0
    for x_t in x:
        h, state = cell.step(params, x_t, state)
        outs.append(h)
    assert rel_error(np.stack(outs), out) < 1e-12
    for a, b in zip(state, new_state):
        assert rel_error(a, b) < 1e-12


@cells
@pytest.mark.parametrize("streams", [1, N])  # one stream multiplies by W^T, several by W
def test_one_stepper_reused_for_T_steps_matches_the_naive_reference(name, streams):
    """A stepper's buffers are made once and reused: feeding each returned state back in must
    still give the reference, step after step."""
    cell, params, x, state0 = problem(name)
    x, state0 = x[:, :streams], tuple(s[:streams] for s in state0)
    step = cell.stepper(params, streams)
    outs, state = [], state0
    for x_t in x:
        h, state = step(x_t, state)
        outs.append(h.copy())
    ref_out, ref_state = CASES[name][1](params, x, *state0)
    assert rel_error(np.stack(outs), ref_out) < 1e-12
    for a, b in zip(state, ref_state):
        assert rel_error(a, b) < 1e-12


@cells
def test_carried_state_across_windows_equals_one_long_sequence(name):
    cell, params, x, state = problem(name, T=2 * T)
    out, new_state, _ = cell.forward(params, x, state)
    out1, state1, _ = cell.forward(params, x[:T], state)
    out2, state2, _ = cell.forward(params, x[T:], state1)
    assert rel_error(np.concatenate([out1, out2]), out) < 1e-12
    for a, b in zip(state2, new_state):
        assert rel_error(a, b) < 1e-12


def test_peephole_lstm_with_zero_peepholes_is_the_lstm():
    cell, params, x, state = problem("peephole_lstm")
    params["p"][:] = 0.0
    out, (h, c), _ = cell.forward(params, x, state)
    ref_out, (ref_h, ref_c), _ = LSTM(D, H).forward({"W": params["W"], "b": params["b"]}, x, state)
    assert rel_error(out, ref_out) < 1e-12 and rel_error(c, ref_c) < 1e-12


def test_the_two_gru_variants_differ():
    """Reset before versus after the recurrent product: same weights, different outputs."""
    _, params, x, state = problem("gru_cudnn")
    cho_params = {"W": params["W"].copy(), "b": params["b"].copy()}
    cho_params["W"][:, H:2 * H] *= -1  # u = 1 - z: σ(-a) = 1 - σ(a)
    cho_params["b"][H:2 * H] *= -1
    params["b_hn"][:] = 0.0  # then only where r applies differs
    cudnn_out, _, _ = GRUCuDNN(D, H).forward(params, x, state)
    cho_out, _, _ = GRU(D, H).forward(cho_params, x, state)
    assert rel_error(cho_out[0], cudnn_out[0]) > 1e-3


# ---- the backward pass ---------------------------------------------------------------------
def gradient_case(name, with_dnew_state):
    cell, params, x, state = problem(name)
    dout, dnew_state = upstream(cell)
    if not with_dnew_state:
        dnew_state = tuple(np.zeros_like(d) for d in dnew_state)
    state = tuple(s.copy() for s in state)

    def loss():
        out, new_state, _ = cell.forward(params, x, state)
        return np.sum(dout * out) + sum(np.sum(d * s) for d, s in zip(dnew_state, new_state))

    _, _, cache = cell.forward(params, x, state)
    dx, dstate, grads = cell.backward(params, dout, dnew_state, cache)
    analytic = {"x": dx, **{f"state.{n}": d for n, d in zip(cell.state_names, dstate)}, **grads}
    arrays = {"x": x, **{f"state.{n}": s for n, s in zip(cell.state_names, state)}, **params}
    assert set(grads) == set(params)
    return loss, analytic, arrays


@pytest.mark.parametrize("with_dnew_state", [False, True], ids=["dout-only", "dout+dnew_state"])
@cells
def test_backward_matches_numeric_gradient(name, with_dnew_state):
    loss, analytic, arrays = gradient_case(name, with_dnew_state)
    for key, arr in arrays.items():
        assert rel_error(analytic[key], numeric_grad(loss, arr)) <= TOL, key


@every_cell
def test_state_gradient_chains_across_windows(name):
    """Feeding window 2's dstate into window 1's dnew_state gives the gradient of one long pass."""
    cell, params, x, state = problem(name, T=2 * T)
    dout, dnew_state = upstream(cell, T=2 * T)
    _, _, cache = cell.forward(params, x, state)
    dx, dstate, grads = cell.backward(params, dout, dnew_state, cache)
    _, state1, cache1 = cell.forward(params, x[:T], state)
    _, _, cache2 = cell.forward(params, x[T:], state1)
    dx2, dstate1, grads2 = cell.backward(params, dout[T:], dnew_state, cache2)
    dx1, dstate0, grads1 = cell.backward(params, dout[:T], dstate1, cache1)
    assert rel_error(np.concatenate([dx1, dx2]), dx) < 1e-10
    for k in grads:
        assert rel_error(grads1[k] + grads2[k], grads[k]) < 1e-10
    for a, b in zip(dstate0, dstate):
        assert rel_error(a, b) < 1e-10


@cells
def test_forward_and_backward_leave_their_inputs_untouched(name):
    cell, params, x, state = problem(name)
    dout, dnew_state = upstream(cell)
    inputs = (*params.values(), x, *state, dout, *dnew_state)
    before = [a.copy() for a in inputs]
    _, _, cache = cell.forward(params, x, state)
    cell.backward(params, dout, dnew_state, cache)
    for a, b in zip(inputs, before):
        np.testing.assert_array_equal(a, b)


@cells
def test_float32_in_float32_out(name):
    cell, params, x, state = problem(name, dtype=np.float32)
    dout, dnew_state = upstream(cell)
    out, new_state, cache = cell.forward(params, x, state)
    dx, dstate, grads = cell.backward(params, dout.astype(np.float32),
                                      tuple(d.astype(np.float32) for d in dnew_state), cache)
    for arr in (out, *new_state, dx, *dstate, *grads.values()):
        assert arr.dtype == np.float32
    ref_out, _ = CASES[name][1]({k: v.astype(np.float64) for k, v in params.items()},
                                x.astype(np.float64), *(s.astype(np.float64) for s in state))
    assert np.abs(out - ref_out).max() < 1e-5


# ---- resetting a stream's state where a new document starts (keep mask) --------------------
def naive_lstm_ref(params, x, h, c):
    out, h, c = naive_lstm(params["W"], params["b"], x, h, c)
    return out, (h, c)


REFERENCES = {"lstm": naive_lstm_ref, **{name: ref for name, (_, ref) in CASES.items()}}


def naive_with_reset(name, params, x, state, keep):
    """The reference one step at a time, each step reading keep[t] ⊙ the state before it."""
    outs = []
    for t in range(len(x)):
        out, state = REFERENCES[name](params, x[t:t + 1], *(s * keep[t] for s in state))
        outs.append(out[0])
    return np.stack(outs), state


def reset_mask(T=T):
    """(T, N, 1): stream 0 restarts at steps 1 and 3, stream 2 at step 0 (its first), stream 1 never."""
    keep = np.ones((T, N, 1))
    keep[1, 0] = keep[3, 0] = keep[0, 2] = 0.0
    return keep


@every_cell
def test_reset_matches_the_naive_reference(name):
    cell, params, x, state = problem(name)
    keep = reset_mask()
    out, new_state, _ = cell.forward(params, x, state, keep)
    ref_out, ref_state = naive_with_reset(name, params, x, state, keep)
    assert rel_error(out, ref_out) < 1e-12
    for a, b in zip(new_state, ref_state):
        assert rel_error(a, b) < 1e-12
    out_inf, state_inf = cell.forward_inference(params, x, state, keep)
    np.testing.assert_array_equal(out_inf, out)
    for a, b in zip(state_inf, new_state):
        np.testing.assert_array_equal(a, b)
    plain, _, _ = cell.forward(params, x, state)
    assert rel_error(plain, out) > 1e-3  # the mask really changed something


@every_cell
def test_reset_backward_matches_numeric_gradient(name):
    cell, params, x, state = problem(name)
    state = tuple(s.copy() for s in state)
    dout, dnew_state = upstream(cell)
    keep = reset_mask()

    def loss():
        out, new_state, _ = cell.forward(params, x, state, keep)
        return np.sum(dout * out) + sum(np.sum(d * s) for d, s in zip(dnew_state, new_state))

    _, _, cache = cell.forward(params, x, state, keep)
    dx, dstate, grads = cell.backward(params, dout, dnew_state, cache)
    analytic = {"x": dx, **{f"state.{n}": d for n, d in zip(cell.state_names, dstate)}, **grads}
    arrays = {"x": x, **{f"state.{n}": s for n, s in zip(cell.state_names, state)}, **params}
    for key, arr in arrays.items():
        assert rel_error(analytic[key], numeric_grad(loss, arr)) <= TOL, key
    assert np.all(dstate[0][2] == 0)  # stream 2 restarted at step 0: its initial state has no effect


# ---- workspaces: the (T, N, ·) buffers a cell keeps between calls ----------------------------
@every_cell
def test_a_second_step_reuses_the_buffers_and_computes_the_same_numbers(name):
    rng = np.random.default_rng(0)
    cell = CLASSES[name](D, 32)
    params = cell.init_params(rng, np.float64)
    x, dout = rng.standard_normal((64, 8, D)), rng.standard_normal((64, 8, 32))
    state = cell.init_state(8, np.float64)

    def step():
        tracemalloc.start()
        out, new_state, cache = cell.forward(params, x, state)
        dx, dstate, grads = cell.backward(params, dout, None, cache)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return peak, [out.copy(), *new_state, dx.copy(), *dstate, *grads.values()]

    peak1, first = step()
    peak2, second = step()
    assert peak2 < peak1 / 2, (peak1, peak2)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


@every_cell
def test_a_live_cache_is_never_overwritten_by_the_next_forward(name):
    cell, params, x, state = problem(name)
    dout, _ = upstream(cell)
    _, _, cache = cell.forward(params, x, state)
    cell.forward(params, 2 * x, state)  # its cache is dropped at once
    cell.forward_inference(params, -x, state)
    dx, dstate, grads = cell.backward(params, dout, None, cache)
    fresh = CLASSES[name](D, H)
    ref_dx, ref_dstate, ref_grads = fresh.backward(params, dout, None, fresh.forward(params, x, state)[2])
    for a, b in zip([dx, *dstate, *grads.values()], [ref_dx, *ref_dstate, *ref_grads.values()]):
        np.testing.assert_array_equal(a, b)


@every_cell
def test_threads_sharing_a_cell_do_not_share_its_buffers(name):
    cell, params, x, state = problem(name, T=32)
    inputs = [x, -x, 2 * x, 0.5 * x]
    expected = [CLASSES[name](D, H).forward_inference(params, xi, state)[0].copy() for xi in inputs]
    failures = []

    def worker(k):
        for _ in range(30):
            out, _ = cell.forward_inference(params, inputs[k], state)
            if not np.array_equal(out, expected[k]):
                failures.append(k)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(inputs))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not failures


# ---- PyTorch as an independent implementation ----------------------------------------------
def torch_run(name, params, x, state, dout, dnew_state):
    """torch.nn.RNN / torch.nn.GRU (float64) with our weights; outputs and gradients."""
    torch = pytest.importorskip("torch")
    W, b = params["W"], params["b"]
    if name == "rnn":
        net = torch.nn.RNN(D, H, nonlinearity="tanh").double()
        b_ih, b_hh = 0.25 * b, 0.75 * b  # any split with b == bias_ih + bias_hh
    else:
        net = torch.nn.GRU(D, H).double()
        b_ih, b_hh = b.copy(), np.concatenate([np.zeros(2 * H), params["b_hn"]])
    with torch.no_grad():
        net.weight_ih_l0.copy_(torch.from_numpy(W[:D].T.copy()))
        net.weight_hh_l0.copy_(torch.from_numpy(W[D:].T.copy()))
        net.bias_ih_l0.copy_(torch.from_numpy(b_ih))
        net.bias_hh_l0.copy_(torch.from_numpy(b_hh))
    xt, h0 = (torch.tensor(a, requires_grad=True) for a in (x, state[0]))
    out, hT = net(xt, h0[None])
    loss = (out * torch.from_numpy(dout)).sum() + (hT[0] * torch.from_numpy(dnew_state[0])).sum()
    loss.backward()
    as_np = lambda t: t.detach().numpy()  # noqa: E731
    grads = {"x": as_np(xt.grad), "h0": as_np(h0.grad), "W_x": as_np(net.weight_ih_l0.grad.T),
             "W_h": as_np(net.weight_hh_l0.grad.T), "bias_ih": as_np(net.bias_ih_l0.grad),
             "bias_hh": as_np(net.bias_hh_l0.grad)}
    return as_np(out), as_np(hT[0]), grads


@pytest.mark.parametrize("name", ["rnn", "gru_cudnn"])
def test_matches_torch(name):
    cell, params, x, state = problem(name)
    dout, dnew_state = upstream(cell)
    out, (hT,), cache = cell.forward(params, x, state)
    dx, (dh0,), grads = cell.backward(params, dout, dnew_state, cache)
    t_out, t_hT, t = torch_run(name, params, x, state, dout, dnew_state)
    assert rel_error(out, t_out) < 1e-12 and rel_error(hT, t_hT) < 1e-12
    assert rel_error(dx, t["x"]) < 1e-12 and rel_error(dh0, t["h0"]) < 1e-12
    assert rel_error(grads["W"][:D], t["W_x"]) < 1e-12 and rel_error(grads["W"][D:], t["W_h"]) < 1e-12
    assert rel_error(grads["b"], t["bias_ih"]) < 1e-12
    if name == "gru_cudnn":
        assert rel_error(grads["b"][:2 * H], t["bias_hh"][:2 * H]) < 1e-12
        assert rel_error(grads["b_hn"], t["bias_hh"][2 * H:]) < 1e-12
    else:
        assert rel_error(grads["b"], t["bias_hh"]) < 1e-12
