"""Optimisers against their textbook formulas, clipping, schedules."""

import math

import numpy as np
import pytest

from lstmgen.training.optim import SGD, Adam, LRSchedule, clip_grad_norm


def test_adam_matches_textbook_formula():
    rng = np.random.default_rng(0)
    p = {"w": rng.standard_normal(5)}
    ref, m, v = p["w"].copy(), np.zeros(5), np.zeros(5)
    opt = Adam(p, 0.9, 0.999)
    for t in range(1, 6):
        g = rng.standard_normal(5)
        opt.step(p, {"w": g.copy()}, 0.01)
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * g * g
        ref -= 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(p["w"], ref, rtol=1e-10)


def test_sgd_momentum():
    p = {"w": np.array([1.0])}
    opt = SGD(p, momentum=0.5)
    opt.step(p, {"w": np.array([1.0])}, 0.1)  # buf 1
    opt.step(p, {"w": np.array([1.0])}, 0.1)  # buf 1.5
    np.testing.assert_allclose(p["w"], [1.0 - 0.1 - 0.15])


def test_optimizer_state_round_trip():
    rng = np.random.default_rng(1)
    p = {"a": rng.standard_normal(3), "b": rng.standard_normal((2, 2))}
    opt = Adam(p)
    opt.step(p, {k: rng.standard_normal(v.shape) for k, v in p.items()}, 0.1)
    other = Adam({k: v.copy() for k, v in p.items()})
    other.load({k: v.copy() for k, v in opt.state_arrays().items()}, opt.state_dict())
    g = {k: rng.standard_normal(v.shape) for k, v in p.items()}
    q = {k: v.copy() for k, v in p.items()}
    opt.step(p, {k: v.copy() for k, v in g.items()}, 0.1)
    other.step(q, g, 0.1)
    for k in p:
        np.testing.assert_array_equal(p[k], q[k])


def test_clip_grad_norm_global():
    g = {"a": np.array([3.0]), "b": np.array([4.0])}
    assert clip_grad_norm(g, 1.0) == pytest.approx(5.0)
    assert math.hypot(g["a"][0], g["b"][0]) == pytest.approx(1.0, rel=1e-5)
    g = {"a": np.array([0.3])}
    clip_grad_norm(g, 1.0)
    assert g["a"][0] == 0.3


def test_plateau_halves_when_validation_loss_rises():
    s = LRSchedule("plateau", 1.0, lr_decay=0.5)
    assert not s.on_eval(2.0)
    assert not s.on_eval(1.5)
    assert s.on_eval(1.6)
    assert s.lr(10) == 0.5
    restored = LRSchedule("plateau", 1.0, lr_decay=0.5)
    restored.load(s.state_dict())
    assert restored.lr(10) == 0.5 and restored.on_eval(1.7)


def test_cosine_and_warmup():
    s = LRSchedule("cosine", 1.0, warmup_steps=10, max_steps=100)
    assert s.lr(0) == pytest.approx(0.1, rel=0.01)
    assert s.lr(50) == pytest.approx(0.5)
    assert s.lr(100) == pytest.approx(0.0, abs=1e-12)


def test_cosine_with_no_warmup_fraction_or_final_ratio_is_the_formula_it_always_was():
    s = LRSchedule("cosine", 2e-3, warmup_steps=3, max_steps=16)
    expected = [2e-3 * (0.5 * (1.0 + math.cos(math.pi * min(1.0, k / 16)))) * ((k + 1) / 3 if k < 3 else 1.0)
                for k in range(20)]
    assert [s.lr(k) for k in range(20)] == expected  # bitwise: runs made before keep their numbers


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_cosine_and_linear_warm_up_then_end_at_the_final_ratio(kind):
    s = LRSchedule(kind, 1.0, max_steps=100, warmup_fraction=0.1, final_lr_ratio=0.1)
    assert s.lr(0) == pytest.approx(0.1)  # the first of 10 warm-up steps
    assert s.lr(9) == pytest.approx(1.0) and s.lr(10) == pytest.approx(1.0)
    assert s.lr(55) == pytest.approx(0.55)  # half-way through the decay: half-way for both shapes
    assert s.lr(100) == pytest.approx(0.1) and s.lr(150) == pytest.approx(0.1)
    if kind == "linear":
        assert s.lr(32.5) == pytest.approx(0.1 + 0.9 * 0.75)


def test_a_time_budget_measures_progress_in_seconds_where_it_ends_the_run_first():
    s = LRSchedule("linear", 1.0, max_steps=1000, max_time=60.0)
    assert s.lr(10, 30.0) == pytest.approx(0.5)  # half the time, 1% of the steps: the time binds
    assert s.lr(900, 30.0) == pytest.approx(0.1)  # the steps bind
    assert LRSchedule("cosine", 1.0, max_time=60.0).lr(0, 60.0) == pytest.approx(0.0, abs=1e-12)


def test_step_schedule_against_formula():
    s = LRSchedule("step", 0.8, lr_decay=0.5, warmup_steps=4, lr_decay_steps=10)
    expected = [0.8 * 0.5 ** (k // 10) * ((k + 1) / 4 if k < 4 else 1.0) for k in range(35)]
    assert [s.lr(k) for k in range(35)] == pytest.approx(expected, rel=1e-12)
    assert s.lr(9) == pytest.approx(0.8) and s.lr(10) == pytest.approx(0.4) and s.lr(30) == pytest.approx(0.1)
