"""The thread budget: setting and restoring BLAS threads, the governor's choices, and results
that do not depend on the thread count."""

import builtins

import numpy as np
import pytest

from lstmgen.training import threads
from lstmgen.nn.model import LanguageModel
from lstmgen.nn import blocks


def test_blas_threads_set_and_restore():
    before = threads.blas_threads()
    if before is None:
        pytest.skip("no OpenBLAS found")
    with threads.thread_budget(1):
        assert threads.blas_threads() == 1
        assert blocks.workers() == 1
    assert threads.blas_threads() == before
    assert blocks.workers() == blocks.cores()


def test_blas_threads_without_threadpoolctl(monkeypatch):
    real_import = builtins.__import__

    def no_threadpoolctl(name, *args, **kwargs):
        if name == "threadpoolctl":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_threadpoolctl)
    before = threads.blas_threads()
    if before is None:
        pytest.skip("no OpenBLAS found through ctypes")
    threads.blas_threads(1)
    assert threads.blas_threads() == 1
    threads.blas_threads(before)
    assert threads.blas_threads() == before


def test_usable_cores_follows_openblas_num_threads(monkeypatch):
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")
    assert threads.usable_cores() == 1
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert threads.usable_cores() == blocks.cores()
    assert 1 <= threads.free_cores(0.05) <= blocks.cores()


def test_resolve():
    assert threads.resolve(1) == (1, False, "set")
    n, adaptive, why = threads.resolve("auto")
    assert 1 <= n <= threads.usable_cores() and why.startswith("auto")


def _governor(times):
    """Feed step times that depend on the thread count; return the counts set and messages."""
    calls, messages = [], []
    gov = threads.Governor(2, 2, interval=4, probe=3, set_threads=lambda n: calls.append(n))
    for _ in range(40):
        msg = gov.step_done(times[gov.current if gov.trial is None else gov.other])
        if msg:
            messages.append(msg)
    return gov, calls, messages


def test_governor_switches_to_the_faster_count():
    gov, calls, messages = _governor({2: 1.0, 1: 0.5})  # one thread twice as fast: a busy core
    assert gov.current == 1 and calls[0] == 1
    assert messages and messages[0].startswith("threads: 2 -> 1")


def test_governor_keeps_the_faster_count_and_backs_off():
    gov, calls, messages = _governor({2: 0.5, 1: 0.8})  # two threads faster: a quiet machine
    assert gov.current == 2 and not messages
    assert calls[:2] == [1, 2]  # probed one thread, went back
    assert gov.interval > 4  # and probes less often


def test_governor_probes_early_when_the_start_saw_a_busy_core():
    calls = []
    busy_start = threads.Governor(1, 2, interval=50, probe=3, early=5, set_threads=calls.append)
    quiet_start = threads.Governor(2, 2, interval=50, probe=3, early=5, set_threads=calls.append)
    for _ in range(6):
        busy_start.step_done(1.0)
        quiet_start.step_done(1.0)
    assert calls == [2]  # only the run that started below all cores probed, after 5 steps


def test_with_shards_blas_has_one_thread_and_the_workers_the_budget():
    if threads.blas_threads() is None:
        pytest.skip("no OpenBLAS found")
    with threads.thread_budget(2, shards=2):
        assert threads.blas_threads() == 1
        assert blocks.workers() == min(2, blocks.cores())
    with threads.thread_budget(2, shards=1):
        assert threads.blas_threads() == 2


def test_results_do_not_depend_on_thread_count():
    if threads.blas_threads() is None or blocks.cores() < 2:
        pytest.skip("needs OpenBLAS and two cores")
    model = LanguageModel("lstm", 70, 32, 96, 2, dropout=0.1)
    params = model.init_params(np.random.default_rng(0))
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 70, (20, 40)), rng.integers(0, 70, (20, 40))
    results = []
    for n in (1, 2):
        with threads.thread_budget(n):
            loss, grads, _ = model.loss_and_grads(params, x, y, model.init_state(40), np.random.default_rng(2))
        results.append((loss, grads))
    assert results[0][0] == results[1][0]
    for key in results[0][1]:
        np.testing.assert_array_equal(results[0][1][key], results[1][1][key], err_msg=key)
