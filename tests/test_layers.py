"""The small layers against straightforward references."""

import numpy as np

from lstmgen.nn.layers import cross_entropy_forward, embedding_backward


def test_embedding_backward_matches_row_by_row_sum():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((7, 3))
    x = rng.integers(0, 5, (6, 4))  # ids repeat, and ids 5 and 6 never occur
    demb = rng.standard_normal((6, 4, 3))
    ref = np.zeros_like(W)
    for id_, row in zip(x.reshape(-1), demb.reshape(-1, 3)):
        ref[id_] += row
    np.testing.assert_allclose(embedding_backward(W, x, demb), ref, rtol=1e-12, atol=1e-12)


def test_cross_entropy_matches_log_of_softmax():
    rng = np.random.default_rng(2)
    logits = 10 * rng.standard_normal((5, 9))
    y = rng.integers(0, 9, 5)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    nll, probs = cross_entropy_forward(logits.copy(), y)
    assert abs(nll - -np.log(softmax[np.arange(5), y]).sum()) < 1e-10
    np.testing.assert_allclose(probs, softmax, rtol=1e-12)
