"""Layer 0's input products in vocabulary space (nn/vocab_space.py) give the numbers of the
plain path up to float rounding, for every cell, and fall back where dropout scales the input."""

import numpy as np
import pytest

from lstmgen.nn.model import CELLS, LanguageModel
from lstmgen.nn.vocab_space import Tokens, token_sums
from tests.helpers import numeric_grad, rel_error

V, E, H, L = 7, 4, 5, 2


def model_and_data(cell, dtype, T, N, tie_weights=False, seed=0, **dropouts):
    model = LanguageModel(cell, V, E, H if not tie_weights else E, L, dtype=dtype, tie_weights=tie_weights,
                          reset_at_eod=True, **dropouts)
    rng = np.random.default_rng(seed)
    params = model.init_params(rng)
    x, y = rng.integers(0, V, (T, N)), rng.integers(0, V, (T, N))  # (T, N) each
    x[1, 0] = model.eod_id  # a stream starts a document inside the window
    state = {k: rng.standard_normal(v.shape).astype(dtype) * 0.5 for k, v in model.init_state(N).items()}
    return model, params, x, y, state


def both_paths(model, params, x, y, state, rng_seed=None):
    """(loss, grads, new_state) with vocab_space on, then off; the same masks for both."""
    results = []
    for on in (True, False):
        model.vocab_space = on
        rng = None if rng_seed is None else np.random.default_rng(rng_seed)
        loss, grads, new_state = model.loss_and_grads(params, x, y, state, rng)
        results.append((loss, {k: g.copy() for k, g in grads.items()}, new_state))
    model.vocab_space = True
    return results


def assert_close(a, b, rtol, atol):
    (loss_a, grads_a, state_a), (loss_b, grads_b, state_b) = a, b
    assert loss_a == pytest.approx(loss_b, rel=rtol)
    assert set(grads_a) == set(grads_b)
    for k in grads_a:
        np.testing.assert_allclose(grads_a[k], grads_b[k], rtol=rtol, atol=atol, err_msg=k)
    for k in state_a:
        np.testing.assert_allclose(state_a[k], state_b[k], rtol=rtol, atol=atol, err_msg=k)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("tie_weights", [False, True])
@pytest.mark.parametrize("dtype,rtol,atol", [(np.float64, 1e-12, 1e-14), (np.float32, 1e-4, 1e-6)])
def test_vocab_space_equals_plain_path(cell, tie_weights, dtype, rtol, atol):
    model, params, x, y, state = model_and_data(cell, dtype, T=6, N=3, tie_weights=tie_weights)  # V < T*N
    assert isinstance(model._embed(params, x), Tokens)
    assert_close(*both_paths(model, params, x, y, state), rtol, atol)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_dropout_above_layer_0_keeps_vocab_space(cell):
    """Standard, hidden and output dropout leave layer 0's input alone: still vocabulary space."""
    model, params, x, y, state = model_and_data(cell, np.float64, T=6, N=3, dropout=0.3, hidden_dropout=0.2,
                                                output_dropout=0.2)
    assert_close(*both_paths(model, params, x, y, state, rng_seed=5), 1e-12, 1e-14)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("dropout", ["embed_dropout", "input_dropout"])
def test_dropout_on_layer_0_input_falls_back(cell, dropout, monkeypatch):
    """Embedding and input dropout scale layer 0's input: the plain path, the same bits."""
    model, params, x, y, state = model_and_data(cell, np.float32, T=6, N=3, **{dropout: 0.3})
    seen = []
    monkeypatch.setattr(model, "_embed", lambda *a, **k: seen.append(LanguageModel._embed(model, *a, **k)) or seen[-1])
    on, off = both_paths(model, params, x, y, state, rng_seed=5)
    assert not any(isinstance(h, Tokens) for h in seen)
    assert on[0] == off[0]
    for k in on[1]:
        np.testing.assert_array_equal(on[1][k], off[1][k], err_msg=k)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_large_vocabulary_falls_back(cell):
    model, params, x, y, state = model_and_data(cell, np.float64, T=2, N=3)  # V > T*N
    assert not isinstance(model._embed(params, x), Tokens)
    assert_close(*both_paths(model, params, x, y, state), 0, 0)


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("tie_weights", [False, True])
def test_gradient_check_through_vocab_space(cell, tie_weights):
    model, params, x, y, state = model_and_data(cell, np.float64, T=4, N=3, tie_weights=tie_weights, seed=1)
    assert isinstance(model._embed(params, x), Tokens)
    _, grads, _ = model.loss_and_grads(params, x, y, state)
    for key, p in params.items():
        num = numeric_grad(lambda: model.loss_and_grads(params, x, y, state)[0], p)
        assert rel_error(num, grads[key]) <= 1e-6, key


def test_eval_logits_equal_plain_path():
    model, params, x, _, state = model_and_data("lstm", np.float64, T=6, N=3)
    logits = model.logits(params, x, state)[0].copy()
    model.vocab_space = False
    np.testing.assert_allclose(model.logits(params, x, state)[0], logits, rtol=1e-12, atol=1e-14)


def test_same_bits_every_call_and_into_out():
    """Deterministic sums; and the gradients written into ``out`` (data parallelism) as returned."""
    model, params, x, y, state = model_and_data("lstm", np.float32, T=8, N=4)
    loss_a, grads_a, _ = model.loss_and_grads(params, x, y, state)
    grads_a = {k: g.copy() for k, g in grads_a.items()}
    out = {k: np.full_like(p, np.nan) for k, p in params.items()}
    loss_b, grads_b, _ = model.loss_and_grads(params, x, y, state, out=out)
    assert loss_a == loss_b
    for k in grads_a:
        assert grads_b[k] is out[k]
        np.testing.assert_array_equal(grads_a[k], grads_b[k], err_msg=k)


def test_token_sums_are_per_token_sums():
    rng = np.random.default_rng(2)
    ids, da = rng.integers(0, 9, 50), rng.standard_normal((50, 6))  # (M,), (M, G); some ids absent
    ids[ids == 3] = 4
    expected = np.zeros((10, 6))
    np.add.at(expected, ids, da)
    np.testing.assert_allclose(token_sums(ids, da, 10), expected, rtol=1e-12, atol=1e-14)


def test_an_id_outside_the_vocabulary_is_an_error_on_both_paths():
    model, params, x, y, state = model_and_data("lstm", np.float32, T=6, N=3)
    x[2, 1] = V
    for on in (True, False):
        model.vocab_space = on
        with pytest.raises(IndexError):
            model.loss_and_grads(params, x, y, state)
