"""Data parallelism over threads (issue 22): the shards of a step fix the numbers, the threads
only decide who computes them (nn/shards.py)."""

import json
import threading

import numpy as np
import pytest

from lstmgen.nn import blocks
from lstmgen.nn.model import LanguageModel
from lstmgen.nn.shards import Shards, cut, run_all
from lstmgen.runs.checkpoint import read_checkpoint
from lstmgen.runs.config import load_config, read_saved_config
from lstmgen.training import threads
from lstmgen.training.trainer import train

from tests.helpers import rel_error, write_corpus

DROPOUT = dict(dropout=0.2, embed_dropout=0.1, hidden_dropout=0.1, output_dropout=0.1)


def _window(V=40, T=9, N=10, seed=1):
    rng = np.random.default_rng(seed)
    return rng.integers(0, V, (T, N)), rng.integers(0, V, (T, N))


def _step(shards, params, x, y, n_threads, rng_seed=3):
    """One sharded step with n threads: loss, copies of the gradients, new state."""
    model = shards.model
    with threads.thread_budget(n_threads, shards.count):
        loss, grads, state = shards.loss_and_grads(params, x, y, model.init_state(x.shape[1]),
                                                   np.random.default_rng(rng_seed))
    return loss, {k: v.copy() for k, v in grads.items()}, state


def _assert_identical(a, b):
    assert a[0] == b[0]
    for part_a, part_b in zip(a[1:], b[1:]):
        assert part_a.keys() == part_b.keys()
        for k in part_a:
            np.testing.assert_array_equal(part_a[k], part_b[k], err_msg=k)


def test_the_cut_covers_every_stream_once_in_order():
    assert cut(slice(0, 10), 3) == [slice(0, 3), slice(3, 6), slice(6, 10)]
    assert cut(slice(4, 8), 2) == [slice(4, 6), slice(6, 8)]  # a process's streams, cut in turn
    assert cut(slice(0, 2), 4) == [slice(0, 1), slice(1, 2)]  # never an empty shard


@pytest.mark.parametrize("count", [2, 3])
def test_one_and_two_threads_give_bitwise_the_same_step_with_dropout_on(count):
    model = LanguageModel("lstm", 40, 12, 16, 2, **DROPOUT)
    params = model.init_params(np.random.default_rng(0))
    x, y = _window()
    shards = Shards(model, count)
    _assert_identical(_step(shards, params, x, y, 1), _step(shards, params, x, y, 2))


def test_the_shards_are_the_parts_of_the_batch_summed_in_order():
    """g = g_0 + g_1 of two loss_and_grads(streams=) calls with the masks drawn for the batch."""
    model = LanguageModel("lstm", 40, 12, 16, 2, **DROPOUT)
    params = model.init_params(np.random.default_rng(0))
    x, y = _window()
    state = model.init_state(10)
    masks = model.draw_masks(np.random.default_rng(3), *x.shape)
    parts = [model.loss_and_grads(params, x, y, {k: v[s] for k, v in state.items()}, None, s, None, masks)
             for s in (slice(0, 5), slice(5, 10))]
    loss, grads, new_state = _step(Shards(model, 2), params, x, y, 2)
    assert loss == parts[0][0] + parts[1][0]
    for k in grads:
        np.testing.assert_array_equal(grads[k], parts[0][1][k] + parts[1][1][k], err_msg=k)
    for k in new_state:
        np.testing.assert_array_equal(new_state[k], np.concatenate([parts[0][2][k], parts[1][2][k]]))


def test_one_shard_is_the_single_call():
    model = LanguageModel("lstm", 40, 12, 16, 2, **DROPOUT)
    params = model.init_params(np.random.default_rng(0))
    x, y = _window()
    loss, grads, state = model.loss_and_grads(params, x, y, model.init_state(10), np.random.default_rng(3))
    _assert_identical(_step(Shards(model, 1), params, x, y, 2), (loss, grads, state))
    two = _step(Shards(model, 2), params, x, y, 2)  # another cut: the same up to rounding
    assert abs(two[0] - loss) <= 1e-6 * abs(loss)
    for k in grads:
        assert rel_error(two[1][k], grads[k]) < 1e-5, k


def test_a_process_cuts_its_own_streams_and_the_processes_sum_to_the_whole():
    """``--procs``: each rank's streams cut into shards; the ranks' parts sum to one process's step."""
    model = LanguageModel("lstm", 40, 12, 16, 2, **DROPOUT)
    params = model.init_params(np.random.default_rng(0))
    x, y = _window(N=12)
    whole = _step(Shards(model, 2), params, x, y, 2)
    total, grads = 0.0, {k: np.zeros_like(v) for k, v in params.items()}
    for rank in (slice(0, 6), slice(6, 12)):
        out = {k: np.empty_like(v) for k, v in params.items()}
        with threads.thread_budget(2, 2):
            loss, part, _ = Shards(model, 2).loss_and_grads(params, x, y, model.init_state(6),
                                                            np.random.default_rng(3), streams=rank, out=out)
        assert part is out
        total += loss
        for k in grads:
            grads[k] += part[k]
    assert abs(total - whole[0]) <= 1e-6 * abs(total)
    for k in grads:
        assert rel_error(grads[k], whole[1][k]) < 1e-5, k


def test_eval_gives_the_same_sums_whatever_the_threads():
    model = LanguageModel("lstm", 40, 12, 16, 2)
    params = model.init_params(np.random.default_rng(0))
    x, y = _window(N=11)
    results = []
    for n in (1, 2):
        with threads.thread_budget(n, 2):
            results.append(Shards(model, 2).nll(params, x, y, model.init_state(11)))
    assert results[0][0] == results[1][0]
    for k in results[0][1]:
        np.testing.assert_array_equal(results[0][1][k], results[1][1][k])
    one, _ = model.nll(params, x, y, model.init_state(11))
    assert abs(results[0][0] - one) <= 1e-6 * one


def test_workers_take_the_shards_in_turn_and_run_their_blocks_inline():
    seen = []

    def task(i):
        blocks.for_blocks(lambda a, b: seen.append((i, threading.get_ident(), a, b)), 2**20, 1)
        return i

    with threads.thread_budget(2, 2):
        assert run_all([lambda i=i: task(i) for i in range(4)]) == [0, 1, 2, 3]
    assert len(seen) == 4  # one block each: no threads beyond the budget
    owner = {i: ident for i, ident, _, _ in seen}
    assert owner[0] == owner[2] == threading.get_ident() and owner[1] == owner[3] != owner[0]
    with threads.thread_budget(1, 2):
        seen.clear()
        run_all([lambda i=i: task(i) for i in range(3)])
    assert {ident for _, ident, _, _ in seen} == {threading.get_ident()}  # one thread: in turn


def test_an_error_in_a_worker_is_raised_after_every_shard_finished():
    done = []

    def fail():
        raise ValueError("shard 1")

    with threads.thread_budget(2, 2):
        with pytest.raises(ValueError, match="shard 1"):
            run_all([lambda: done.append(0), fail, lambda: done.append(2), lambda: done.append(3)])
    assert sorted(done) == [0, 2, 3]


# ---- whole runs: the trainer's numbers do not depend on its threads ------------------------------
def _config(corpus, steps, *extra):
    return load_config(None, [
        f"data.corpus={corpus}", "model.embed_dim=8", "model.hidden_size=16", "model.num_layers=2",
        "model.dropout=0.2", "model.embed_dropout=0.1", "model.hidden_dropout=0.1", "train.batch_size=6",
        "train.seq_len=10", "train.lr_schedule=constant", f"train.max_steps={steps}", "train.eval_interval=4",
        "train.log_interval=1", "train.sample_interval=0", "train.shards=2", *extra])


def _numbers(run_dir):
    """Everything a run computed: metrics lines (without timings) and the last checkpoint's arrays."""
    metrics = [{k: v for k, v in json.loads(line).items() if "_s" not in k and "second" not in k}
               for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    saved = read_checkpoint(run_dir, "last")
    return metrics, saved.params, saved.optimizer_arrays, saved.state_arrays


def _assert_same_run(a, b):
    ma, mb = _numbers(a), _numbers(b)
    assert ma[0] == mb[0]
    for arrays_a, arrays_b in zip(ma[1:], mb[1:]):
        for k in arrays_a:
            np.testing.assert_array_equal(arrays_a[k], arrays_b[k], err_msg=k)


class _RestlessGovernor(threads.Governor):
    """Probes after every step and always takes the other count: the threads change all run long."""

    changes = 0

    def __init__(self, current, most, **kwargs):
        super().__init__(current, most, **{**kwargs, "interval": 1, "probe": 1, "margin": -1e9, "early": 1})

    def step_done(self, seconds):
        message = super().step_done(seconds)
        _RestlessGovernor.changes += message is not None
        return message


def test_one_two_and_auto_threads_train_bitwise_the_same_run(tmp_path, monkeypatch):
    corpus = write_corpus(tmp_path / "corpus.txt")
    for name in ("1", "2"):
        train(_config(corpus, 10, f"train.threads={name}"), tmp_path / name)
    monkeypatch.setattr(threads, "free_cores", lambda seconds=0.2: 2)
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "Governor", _RestlessGovernor)
    monkeypatch.setattr(_RestlessGovernor, "changes", 0)
    train(_config(corpus, 10, "train.threads=auto"), tmp_path / "auto")
    assert _RestlessGovernor.changes >= 3  # the count moved between 2 and 1 mid-run
    _assert_same_run(tmp_path / "1", tmp_path / "2")
    _assert_same_run(tmp_path / "1", tmp_path / "auto")


def test_a_run_resumed_with_another_thread_count_is_bitwise_the_same(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    train(_config(corpus, 12, "train.threads=2"), tmp_path / "straight")
    train(_config(corpus, 8, "train.threads=1"), tmp_path / "resumed")  # stops after an evaluation
    train(_config(corpus, 12, "train.threads=2"), tmp_path / "resumed", resume=True)
    _assert_same_run(tmp_path / "straight", tmp_path / "resumed")


def test_the_shards_are_saved_with_the_run_and_older_runs_keep_one_call(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    train(_config(corpus, 2, "train.shards=3"), tmp_path / "run")
    assert read_saved_config(tmp_path / "run" / "config.yaml").train.shards == 3
    old = tmp_path / "old.yaml"
    old.write_text("train:\n  batch_size: 8\n", "utf-8")  # written before train.shards existed
    assert read_saved_config(old).train.shards == 1
    assert load_config(None, []).train.shards == 2  # a new run: the default
