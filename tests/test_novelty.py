"""The hashed n-gram index against brute force, on a corpus with planted repeats."""

import json

import numpy as np
import pytest

from lstmgen.evaluation.novelty import NgramIndex, ngram_hashes, novelty
from tests.helpers import run


def brute_force(train, samples, n):
    grams = {tuple(train[i:i + n]) for i in range(len(train) - n + 1)}
    sample_grams = [tuple(s[i:i + n]) for s in samples for i in range(len(s) - n + 1)]
    return sum(g not in grams for g in sample_grams), len(sample_grams)


@pytest.fixture
def planted():
    rng = np.random.default_rng(3)
    train = rng.integers(0, 6, 2000)  # ids 0..5, id 0 included
    copies = [train[100:160], train[1900:2000], train[0:12]]  # memorised: every n-gram inside is known
    fresh = [rng.integers(0, 6, 80) for _ in range(3)]
    mixed = np.concatenate([rng.integers(0, 6, 30), train[500:540], rng.integers(0, 6, 30)])
    return train, copies, fresh, mixed


@pytest.mark.parametrize("n", [1, 3, 5, 8, 20, 50])
def test_index_agrees_with_brute_force(planted, n):
    train, copies, fresh, mixed = planted
    samples = copies + fresh + [mixed]
    result = novelty(NgramIndex(train, [n]), samples, [n])[n]
    new, total = brute_force(train.tolist(), [s.tolist() for s in samples], n)
    assert (result["novel"], result["ngrams"]) == (new, total)


def test_planted_copies_are_not_novel_and_fresh_text_is(planted):
    train, copies, fresh, mixed = planted
    index = NgramIndex(train, [8, 20])
    for copy in copies:
        assert index.contains(copy, 8).all()
    assert novelty(index, fresh, [20])[20]["fraction_novel"] == 1.0
    inside = index.contains(mixed, 20)  # (111,) the copied stretch is positions 30..69
    assert inside[30:51].all() and not inside[:11].any() and not inside[70:].any()


def test_hash_is_position_independent_and_sees_id_zero():
    a = ngram_hashes(np.array([0, 0, 1, 2, 0, 0, 1]), 3)
    assert a[0] == a[4] and len(set(a.tolist())) == 4
    assert ngram_hashes(np.array([0, 1]), 2)[0] != ngram_hashes(np.array([1]), 1)[0]
    assert len(ngram_hashes(np.array([1, 2]), 3)) == 0


def test_novelty_command(char_run):
    result = run("novelty", char_run, "--num-samples", "3", "--length", "60", "--n", "1", "--n", "12",
                 "--seed", "0", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["novelty"]
    assert report["1"]["ngrams"] == 180 and report["12"]["ngrams"] == 3 * 49
    assert report["1"]["fraction_novel"] <= report["12"]["fraction_novel"]
    again = run("novelty", char_run, "--num-samples", "3", "--length", "60", "--n", "1", "--n", "12",
                "--seed", "0", "--json")
    assert json.loads(again.output) == json.loads(result.output)  # the seed fixes the samples
    table = run("novelty", char_run, "--num-samples", "2", "--length", "30", "--seed", "0")
    assert table.exit_code == 0 and "novel" in table.output
