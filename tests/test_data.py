"""Batching: N parallel streams, targets shifted by one, windows that continue each other."""

import numpy as np
import pytest

from lstmgen.data.batches import Batches, eval_windows
from lstmgen.errors import DataError


def test_streams_and_shifted_targets():
    ids = np.arange(25, dtype=np.int32)
    b = Batches(ids, batch_size=4, seq_len=3)
    assert b.num_windows == 2
    x, y = b.window(0)
    assert x.shape == (3, 4)
    np.testing.assert_array_equal(x[:, 0], [0, 1, 2])
    np.testing.assert_array_equal(x[:, 1], [6, 7, 8])
    np.testing.assert_array_equal(y, x + 1)
    x1, _ = b.window(1)
    np.testing.assert_array_equal(x1[:, 0], [3, 4, 5])  # window 1 continues window 0


def test_corpus_shorter_than_one_batch_is_a_clear_error():
    with pytest.raises(DataError, match=r"training split has 10 tokens, but one batch needs .* = 33"):
        Batches(np.arange(10), batch_size=4, seq_len=8)


def test_eval_windows_score_every_target_once():
    ids = np.arange(103, dtype=np.int32)  # 102 targets: 4 columns of 25, then a tail of 2
    pairs = list(eval_windows(ids, batch_size=4, seq_len=10))
    columns = np.concatenate([y for _, y in pairs[:-1]], axis=0).T  # (4, 25)
    tail_x, tail_y = pairs[-1]
    assert tail_x.shape == (2, 1)
    np.testing.assert_array_equal(np.concatenate([columns.ravel(), tail_y[:, 0]]), ids[1:])
    np.testing.assert_array_equal(tail_x[0], columns[-1, -1])  # the tail reads on from the last column
    for x, y in pairs:
        np.testing.assert_array_equal(y, x + 1)


def test_eval_windows_capped_read_the_start_of_every_column():
    ids = np.arange(103, dtype=np.int32)  # 4 columns of 25 targets; 12 targets: the first 3 of each
    pairs = list(eval_windows(ids, batch_size=4, seq_len=2, max_targets=12))
    columns = np.concatenate([y for _, y in pairs], axis=0).T  # (4, 3): no tail
    np.testing.assert_array_equal(columns, [[1, 2, 3], [26, 27, 28], [51, 52, 53], [76, 77, 78]])
    assert [y.shape for _, y in pairs] == [(2, 4), (1, 4)]
    assert sum(y.size for _, y in eval_windows(ids, 4, 10, max_targets=102)) == 102  # the whole text: all


def test_eval_windows_short_text_uses_fewer_streams():
    pairs = list(eval_windows(np.arange(6), batch_size=32, seq_len=100))
    assert sum(y.size for _, y in pairs) == 5
