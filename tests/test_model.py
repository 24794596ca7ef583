"""The full language model: float64 gradient check of every parameter, dropout included."""

import numpy as np
import pytest

from lstmgen.nn import model as model_module
from lstmgen.nn.model import LanguageModel
from tests.helpers import numeric_grad, rel_error


def small_model(num_layers=2, dropout=0.0, reset_at_eod=False):
    return LanguageModel("lstm", vocab_size=7, embed_dim=4, hidden_size=5, num_layers=num_layers,
                         dropout=dropout, dtype=np.float64, reset_at_eod=reset_at_eod)


@pytest.mark.parametrize("dropout,reset_at_eod", [(0.0, False), (0.3, False), (0.0, True)])
def test_gradient_check_every_parameter(dropout, reset_at_eod):
    model = small_model(dropout=dropout, reset_at_eod=reset_at_eod)
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    x = rng.integers(0, 7, (4, 3))  # (T, N)
    x[2, 0] = x[1, 2] = model.eod_id  # two streams start a document inside the window
    y = rng.integers(0, 7, (4, 3))
    state = {k: rng.standard_normal(v.shape) * 0.5 for k, v in model.init_state(3).items()}

    def loss():
        # the same dropout masks on every call: a fresh generator with the same seed
        return model.loss_and_grads(params, x, y, state, np.random.default_rng(7) if dropout else None)[0]

    _, grads, _ = model.loss_and_grads(params, x, y, state, np.random.default_rng(7) if dropout else None)
    assert set(grads) == set(params)
    for key, p in params.items():
        num = numeric_grad(loss, p)
        assert rel_error(num, grads[key]) <= 1e-5, key


def test_step_equals_window_logits():
    model = small_model()
    rng = np.random.default_rng(1)
    params = model.init_params(rng)
    x = rng.integers(0, 7, (6, 2))
    logits, _ = model.logits(params, x, model.init_state(2))
    state = model.init_state(2)
    for t in range(6):
        step_logits, state = model.step(params, x[t], state)
        np.testing.assert_allclose(step_logits, logits.reshape(6, 2, 7)[t], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("N", [1, 2])  # one stream multiplies by W^T, several by W
@pytest.mark.parametrize("table", [True, False])  # layer 0's input from a (V, 4H) table, or not
def test_one_stepper_reused_equals_window_logits(N, table, monkeypatch):
    if not table:
        monkeypatch.setattr(model_module, "_TABLE_FLOATS", 0)
    model = small_model()
    rng = np.random.default_rng(3)
    params = model.init_params(rng)
    x = rng.integers(0, 7, (6, N))
    logits, _ = model.logits(params, x, model.init_state(N))
    step, state = model.stepper(params, N), model.init_state(N)
    for t in range(6):
        step_logits, state = step(x[t], state)
        np.testing.assert_allclose(step_logits, logits.reshape(6, N, 7)[t], rtol=1e-10, atol=1e-12)


def test_loss_matches_nll_without_dropout():
    model = small_model()
    rng = np.random.default_rng(2)
    params = model.init_params(rng)
    x, y = rng.integers(0, 7, (5, 3)), rng.integers(0, 7, (5, 3))
    loss, _, state_a = model.loss_and_grads(params, x, y, model.init_state(3))
    nll, state_b = model.nll(params, x, y, model.init_state(3))
    assert loss == pytest.approx(nll / x.size, rel=1e-12)
    for k in state_a:
        np.testing.assert_allclose(state_a[k], state_b[k])


def test_float32_model_stays_float32():
    model = LanguageModel("lstm", 11, 8, 16, 2, dropout=0.2)
    rng = np.random.default_rng(3)
    params = model.init_params(rng)
    x = rng.integers(0, 11, (7, 4))
    loss, grads, state = model.loss_and_grads(params, x, x, model.init_state(4), rng)
    assert np.isfinite(loss)
    assert all(g.dtype == np.float32 for g in grads.values())
    assert all(s.dtype == np.float32 for s in state.values())
    # an untrained model predicts roughly uniformly
    assert abs(loss - np.log(11)) < 0.5


def test_reset_at_eod_starts_each_document_from_a_zero_state():
    """With reset_at_eod, what follows an <eod> is scored as if read from a zero state, in the
    window (training and evaluation) and one token at a time (sampling, scoring)."""
    model, carry = small_model(reset_at_eod=True), small_model()
    rng = np.random.default_rng(4)
    params = model.init_params(rng)
    x = rng.integers(2, 7, (7, 2))  # (T, N), no <eod> yet
    x[3, 0] = model.eod_id  # stream 0 starts a document at step 3
    state = {k: rng.standard_normal(v.shape) for k, v in model.init_state(2).items()}
    logits = model.logits(params, x, state)[0].reshape(7, 2, 7)
    fresh = model.logits(params, x[3:, :1], model.init_state(1))[0]  # stream 0 from step 3, zero state
    np.testing.assert_allclose(logits[3:, 0], fresh, rtol=1e-12)
    carried = carry.logits(params, x, state)[0].reshape(7, 2, 7)
    np.testing.assert_array_equal(carried[:3], logits[:3])  # before the <eod> nothing differs
    np.testing.assert_array_equal(carried[:, 1], logits[:, 1])  # nor in the stream without one
    assert rel_error(carried[3:, 0], logits[3:, 0]) > 1e-3
    step = model.stepper(params, 2)
    for t in range(7):
        step_logits, state = step(x[t], state)
        np.testing.assert_allclose(step_logits, logits[t], rtol=1e-10, atol=1e-12)
