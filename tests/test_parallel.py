"""Two threads on two halves of the batch against one loop over the whole batch."""

import numpy as np
import pytest

import lstmgen.nn.lstm as lstm_module
from lstmgen import parallel
from lstmgen.nn.layers import embedding_backward
from lstmgen.nn.lstm import LSTM

N, T, D, H = 20, 5, 4, 6  # N large enough to be split in two parts of 10


def split_and_whole(monkeypatch, fn):
    """fn() with the batch split as lstmgen splits it, then with one loop over all rows."""
    split = fn()
    monkeypatch.setattr(lstm_module, "batch_parts", lambda N: [(0, N)])
    return split, fn()


def test_two_parts_when_threadpoolctl_is_there():
    pytest.importorskip("threadpoolctl")
    if len(parallel.batch_parts(N)) != 2:
        pytest.skip("one CPU: the batch is never split")
    assert parallel.batch_parts(N) == [(0, 10), (10, 20)]
    assert parallel.batch_parts(2 * parallel.MIN_ROWS - 1) == [(0, 2 * parallel.MIN_ROWS - 1)]


def test_without_threadpoolctl_one_part(monkeypatch):
    monkeypatch.setattr(parallel, "threadpool_limits", None)
    assert parallel.batch_parts(1024) == [(0, 1024)]


def test_split_forward_and_backward_equal_one_loop(monkeypatch):
    pytest.importorskip("threadpoolctl")
    rng = np.random.default_rng(0)
    cell = LSTM(D, H)
    params = cell.init_params(rng, np.float64)
    x = rng.standard_normal((T, N, D))
    state = tuple(rng.standard_normal((N, H)) for _ in range(2))
    dout = rng.standard_normal((T, N, H))
    dnew_state = tuple(rng.standard_normal((N, H)) for _ in range(2))

    def run():
        out, new_state, cache = cell.forward(params, x, state)
        inf_out, inf_state = cell.forward_inference(params, x, state)
        dx, dstate, grads = cell.backward(params, dout, dnew_state, cache)
        return [out.copy(), *new_state, inf_out, *inf_state, dx, *dstate, grads["W"], grads["b"]]

    split, whole = split_and_whole(monkeypatch, run)
    for a, b in zip(split, whole):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_an_error_in_the_second_part_is_raised():
    pytest.importorskip("threadpoolctl")
    parts = [(0, 10), (10, 20)]

    def fn(lo, hi):
        if lo == 10:
            raise ValueError("second part")

    with pytest.raises(ValueError, match="second part"):
        parallel.run_parts(fn, parts)


def test_embedding_backward_matches_scatter_add():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((7, 3))
    x = rng.integers(0, 5, (6, 4))  # ids repeat, and ids 5 and 6 never occur
    demb = rng.standard_normal((6, 4, 3))
    ref = np.zeros_like(W)
    for id_, row in zip(x.reshape(-1), demb.reshape(-1, 3)):
        ref[id_] += row
    np.testing.assert_allclose(embedding_backward(W, x, demb), ref, rtol=1e-12, atol=1e-12)
