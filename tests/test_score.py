"""score against eval and against a step-by-step reference; the score command end to end."""

import json
import math

import numpy as np
import pytest

from lstmgen.data.corpus import read_documents
from lstmgen.evaluation.evaluate import evaluate_run
from lstmgen.runs.loading import read_run
from lstmgen.generation.sampling import log_softmax
from lstmgen.evaluation.metrics import text_ids
from lstmgen.evaluation.score import score_ids
from lstmgen.training.trainer import evaluate_ids
from tests.helpers import run, train_tiny


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("score")
    rng = np.random.default_rng(1)
    words = ["one", "two", "three", "red", "blue", "fish", "and", "then"]
    corpus = tmp / "corpus.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(words, 7)) for _ in range(150)) + "\n")
    assert train_tiny(corpus, tmp / "run").exit_code == 0
    held_out = tmp / "held_out.txt"
    held_out.write_text("two red fish and then one blue fish\nthree fish and two\n")
    return tmp / "run", held_out


def test_score_totals_equal_evals_loss_on_the_same_text(trained):
    run_dir, held_out = trained
    r = read_run(run_dir)
    docs = read_documents(str(held_out))
    ids = text_ids(r.tokenizer, docs)
    assert ids[0] == r.tokenizer.eod_id and ids[-1] == r.tokenizer.eod_id
    logprobs = score_ids(r.model, r.params, ids).logprobs
    evaluated = evaluate_run(run_dir, str(held_out), batch_size=1)  # one stream, as score reads it
    assert evaluated["tokens"] == len(logprobs) == len(ids) - 1
    assert -logprobs.mean() == pytest.approx(evaluated["loss"], rel=1e-5)
    assert evaluated["characters"] == len(held_out.read_text()) + 1  # the file is one document, then <eod>
    bits_per_char = -logprobs.sum() / math.log(2) / evaluated["characters"]
    assert bits_per_char == pytest.approx(evaluated["bits_per_char"], rel=1e-5)
    nll, count = evaluate_ids(r.model, r.params, ids, batch_size=1, seq_len=5)  # other window edges
    assert -logprobs.sum() == pytest.approx(nll, rel=1e-5) and count == len(logprobs)


@pytest.mark.parametrize("batch_size", [2, 3, 7])
def test_eval_with_n_streams_is_n_columns_each_scored_from_a_zero_state(trained, batch_size):
    # the reference: each column scored on its own by score_ids; the tail extends the last column
    r = read_run(trained[0])
    ids = text_ids(r.tokenizer, ["one red fish and two blue fish"] * 4)  # 124 targets
    n = len(ids) - 1
    L = n // batch_size
    starts = [c * L for c in range(batch_size)]
    ends = [start + L for start in starts[:-1]] + [n]
    want = sum(-score_ids(r.model, r.params, ids[a:b + 1]).logprobs.sum() for a, b in zip(starts, ends))
    nll, count = evaluate_ids(r.model, r.params, ids, batch_size=batch_size, seq_len=4)
    assert count == n
    assert nll == pytest.approx(want, rel=1e-5)


def test_eval_and_score_commands_agree_on_a_file(trained, tmp_path):
    run_dir, held_out = trained
    scored = run("score", run_dir, held_out, "--json")
    evaluated = run("eval", run_dir, "--corpus", held_out, "--batch-size", "1", "--json")
    assert scored.exit_code == 0 and evaluated.exit_code == 0, scored.output + evaluated.output
    s, e = json.loads(scored.output), json.loads(evaluated.output)
    assert e["tokens"] == s["num_tokens"] and e["characters"] == s["characters"]
    assert e["loss"] == pytest.approx(s["loss"], rel=1e-5)
    assert e["bits_per_char"] == pytest.approx(s["bits_per_char"], rel=1e-5)
    assert s["tokens"][-1]["token"] == "<eod>"  # the closing <eod> is scored
    # with the run's 8 streams, a text whose targets do not divide by 8: still every token
    long = tmp_path / "long.txt"
    long.write_text("two red fish and then one blue fish\n" * 9)  # 325 targets: 8 columns of 40, 5 more
    s = json.loads(run("score", run_dir, long, "--json").output)
    e = json.loads(run("eval", run_dir, "--corpus", long, "--json").output)
    assert e["tokens"] == s["num_tokens"] == 325 and e["characters"] == s["characters"] == 325
    assert e["loss"] != pytest.approx(s["loss"], rel=1e-9)  # 8 columns from a zero state: other context


def test_score_matches_a_step_by_step_reference_and_lists_the_top_tokens(trained):
    r = read_run(trained[0])
    ids = r.tokenizer.encode_documents(["one red fish"] * 30)  # longer than one chunk of 256
    scores = score_ids(r.model, r.params, ids, top=3)
    state, want, best = r.model.init_state(1), [], []
    for t in range(len(ids) - 1):
        logits, state = r.model.step(r.params, ids[t:t + 1], state)
        logp = log_softmax(logits)[0]
        want.append(logp[ids[t + 1]])
        best.append(int(np.argmax(logp)))
    np.testing.assert_allclose(scores.logprobs, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(scores.top_ids[:, 0], best)
    assert (np.diff(scores.top_logprobs, axis=1) <= 0).all()


def test_score_command_text_and_json(trained):
    run_dir, held_out = trained
    result = run("score", run_dir, "red fish", "--json", "--top", "2")
    assert result.exit_code == 0, result.output
    s = json.loads(result.output)
    assert [row["token"] for row in s["tokens"]] == list("red fish") + ["<eod>"]  # special tokens by name
    assert s["total_bits"] == pytest.approx(sum(row["surprisal_bits"] for row in s["tokens"]))
    assert s["bits_per_char"] == pytest.approx(s["total_bits"] / 9)
    assert all(len(row["top"]) == 2 for row in s["tokens"])
    table = run("score", run_dir, held_out, "--top", "2")
    assert table.exit_code == 0 and "bits per char" in table.output
    assert len(table.output.splitlines()) == 1 + len(held_out.read_text()) + 1 + 1  # header, chars, <eod>, total


def test_score_reads_csv_rows_and_refuses_a_folder(trained, tmp_path):
    run_dir, _ = trained
    csv = tmp_path / "rows.csv"
    csv.write_text("text,n\nred fish,1\nblue fish,2\n")
    s = json.loads(run("score", run_dir, csv, "--csv-column", "text", "--json").output)
    assert "".join(row["token"] for row in s["tokens"]) == "red fish<eod>blue fish<eod>"  # each row ends in <eod>
    folder = run("score", run_dir, tmp_path)
    assert folder.exit_code == 1 and "is a folder" in folder.output and "Traceback" not in folder.output


def test_a_missing_file_is_an_error_for_score_and_cells_alike(trained, tmp_path, monkeypatch):
    """One rule (score.looks_like_a_path): a word with a / or a file extension names a file, and
    a missing one exits 1 as a missing corpus does for train; anything else is the text itself."""
    run_dir, _ = trained
    monkeypatch.chdir(tmp_path)  # 'notes.txt' must not be found in the working folder
    for name in ("notes.txt", "data/rows", str(tmp_path / "gone.csv")):
        for cmd in ("score", "cells"):
            result = run(cmd, run_dir, name)
            assert result.exit_code == 1 and f"there is no file '{name}'" in result.output, (cmd, result.output)
            assert "Traceback" not in result.output
    for text in ("red fish", "fish.", "3.14"):  # a space, no extension, a number: texts
        assert run("score", run_dir, text, "--json").exit_code == 0, text
