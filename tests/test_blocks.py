"""Row blocks on parallel threads: full coverage, errors surface, results independent of the
number of threads (the softmax, cross-entropy and Adam that use them, bit for bit)."""

import numpy as np
import pytest

from lstmgen.nn import blocks
from lstmgen.nn.layers import cross_entropy_backward, cross_entropy_forward
from lstmgen.training.optim import Adam


@pytest.fixture
def threads(monkeypatch):
    """Set how many cores ``for_blocks`` may use."""
    return lambda n: monkeypatch.setattr(blocks, "cores", lambda: n)


@pytest.mark.parametrize("cores, n, min_block, expected", [
    (1, 100, 1, 1), (4, 100, 1, 4), (4, 100, 40, 2), (4, 100, 200, 1), (4, 3, 1, 3), (4, 0, 1, 1)])
def test_blocks_cover_the_range_once_and_respect_min_block(threads, cores, n, min_block, expected):
    threads(cores)
    seen = []
    blocks.for_blocks(lambda start, stop: seen.append((start, stop)), n, min_block)
    seen.sort()
    assert len(seen) == expected
    assert seen[0][0] == 0 and seen[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(seen, seen[1:]))  # consecutive, no gap, no overlap
    if expected > 1:
        assert min(stop - start for start, stop in seen) >= min_block


def test_an_error_in_any_block_is_raised_after_all_blocks_finish(threads):
    threads(3)
    done = []

    def fn(start, stop):
        if start > 0:
            raise ValueError(f"block {start}")
        done.append(start)

    with pytest.raises(ValueError, match="block"):
        blocks.for_blocks(fn, 30, 1)
    assert done == [0]


def test_cross_entropy_is_the_same_on_one_thread_and_on_four(threads):
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((300, 2000)).astype(np.float32)  # 9 blocks' worth of rows
    y = rng.integers(0, 2000, 300)
    results = []
    for n in (1, 4):
        threads(n)
        nll, probs = cross_entropy_forward(logits.copy(), y)
        results.append((nll, cross_entropy_backward(probs, y, 1 / 300)))
    assert results[0][0] == results[1][0]
    np.testing.assert_array_equal(results[0][1], results[1][1])
    ref = logits.astype(np.float64)
    ref = np.log(np.exp(ref).sum(axis=1)) - ref[np.arange(300), y]
    assert results[0][0] == pytest.approx(ref.sum(), rel=1e-6)


def test_adam_is_the_same_on_one_thread_and_on_four(threads):
    rng = np.random.default_rng(1)
    start = {"W": rng.standard_normal((700, 300)), "b": rng.standard_normal(300)}
    grads = [{k: rng.standard_normal(v.shape) for k, v in start.items()} for _ in range(3)]
    finals = []
    for n in (1, 4):
        threads(n)
        params = {k: v.copy() for k, v in start.items()}
        opt = Adam(params)
        for g in grads:
            opt.step(params, {k: v.copy() for k, v in g.items()}, 0.01)
        finals.append(params)
    for k in start:
        np.testing.assert_array_equal(finals[0][k], finals[1][k])
