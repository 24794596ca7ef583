"""Sampling filters against their definitions, and determinism under a seed."""

import numpy as np
import pytest

from lstmgen.generation.sampling import choose, draw, log_softmax, next_token_probs


def test_temperature_zero_is_greedy():
    logits = np.array([[0.1, 3.0, 2.9, -1.0]])
    np.testing.assert_array_equal(next_token_probs(logits, temperature=0), [[0, 1, 0, 0]])


def test_temperature_one_is_softmax():
    logits = np.array([[1.0, 2.0, 3.0]])
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(next_token_probs(logits), expected)


def test_top_k_keeps_exactly_the_k_most_likely_renormalised():
    logits = np.log(np.array([[0.1, 0.4, 0.2, 0.3]]))
    probs = next_token_probs(logits, top_k=2)
    np.testing.assert_allclose(probs, [[0, 0.4 / 0.7, 0, 0.3 / 0.7]])


@pytest.mark.parametrize("p, kept", [(0.5, [1, 3]), (0.4, [1]), (0.75, [1, 2, 3]), (0.95, [0, 1, 2, 3])])
def test_top_p_keeps_smallest_set_reaching_p(p, kept):
    base = np.array([0.1, 0.4, 0.2, 0.3])
    probs = next_token_probs(np.log(base)[None], top_p=p)[0]
    assert sorted(np.flatnonzero(probs).tolist()) == kept
    np.testing.assert_allclose(probs[kept], base[kept] / base[kept].sum())


def test_banned_tokens_never_drawn():
    probs = next_token_probs(np.zeros((1000, 3)), banned=[0])
    ids = draw(probs, np.random.default_rng(0))
    assert 0 not in ids and set(ids.tolist()) == {1, 2}


def test_draw_follows_the_distribution_and_the_seed():
    probs = np.tile([[0.2, 0.5, 0.3]], (20000, 1))
    ids = draw(probs, np.random.default_rng(1))
    np.testing.assert_allclose(np.bincount(ids, minlength=3) / 20000, [0.2, 0.5, 0.3], atol=0.015)
    np.testing.assert_array_equal(ids, draw(probs, np.random.default_rng(1)))


def test_draw_of_one_row_counts_the_cdf_entries_below_u():
    probs = np.random.default_rng(2).dirichlet(np.ones(50), size=1)  # (1, 50)
    cdf = np.cumsum(probs[0])
    for seed in range(40):
        u = np.random.default_rng(seed).random(1) * cdf[-1]
        assert draw(probs, np.random.default_rng(seed))[0] == min((cdf <= u).sum(), 49)


@pytest.mark.parametrize("filters", [{}, {"temperature": 0.7, "top_k": 5}, {"top_p": 0.8}])
def test_choose_draws_like_next_token_probs_and_scores_with_the_raw_softmax(filters):
    logits = np.random.default_rng(4).standard_normal((6, 12)) * 2  # (M, V)
    ids, logprobs = choose(logits, np.random.default_rng(5), banned=[1], **filters)
    expected = draw(next_token_probs(logits, banned=[1], **filters), np.random.default_rng(5))
    np.testing.assert_array_equal(ids, expected)
    assert 1 not in ids
    np.testing.assert_allclose(logprobs, log_softmax(logits)[np.arange(6), ids], rtol=1e-12)
