"""single_thread_blas: one BLAS thread inside the block, the old count after, a no-op without
threadpoolctl."""

import pytest

from lstmgen import threads


def blas_threads():
    from threadpoolctl import threadpool_info

    return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]


def test_one_blas_thread_inside_the_block_and_the_old_count_after():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = blas_threads()
        if not before:
            pytest.skip("NumPy's BLAS is not visible to threadpoolctl")
        with threads.single_thread_blas():
            assert blas_threads() == [1] * len(before)
        assert blas_threads() == before


def test_without_threadpoolctl_nothing_changes(monkeypatch):
    monkeypatch.setattr(threads, "threadpool_limits", None)
    with threads.single_thread_blas() as ctx:
        assert ctx is None
