"""Training on your own text: what the command line says about files that are not text."""

import json

import numpy as np
import pytest

import lstmgen
from lstmgen.runs.checkpoint import read_checkpoint
from lstmgen.runs.config import Config, inherit, load_config
from lstmgen.runs.resolve import resolve_run
from lstmgen.errors import ConfigError
from lstmgen.training.trainer import Trainer
from tests.helpers import TINY, assert_user_error, run, train_tiny


def test_a_binary_file_is_refused_as_not_text(tmp_path):
    png = tmp_path / "photo.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    assert_user_error(train_tiny(png, tmp_path / "run"), 1, "photo.png", "is not text", "PNG image")
    blob = tmp_path / "data.txt"
    blob.write_bytes(b"hello world\n" * 50 + b"\x00\x01\x02" + b"more\n" * 50)
    assert_user_error(train_tiny(blob, tmp_path / "run2"), 1, "data.txt", "is not text", "NUL bytes")


def test_utf16_text_with_nul_bytes_is_still_text(tmp_path):
    text = tmp_path / "wide.txt"
    text.write_text("The quick brown fox jumps over the lazy dog.\n" * 200, encoding="utf-16")
    result = train_tiny(text, tmp_path / "run", "data.encoding=utf-16")
    assert result.exit_code == 0, result.output
    assert "is not text" not in result.output and "done: step 12" in result.output
    # read as UTF-16: the vocabulary is the sentence's characters, with no NUL byte among them
    vocab = json.loads((tmp_path / "run" / "tokenizer.json").read_text(encoding="utf-8"))["vocab"]
    assert vocab == ["<unk>", "<eod>", *sorted(set("The quick brown fox jumps over the lazy dog.\n"))]


def _quotes(tmp_path, rows=120):
    csv = tmp_path / "quotes.csv"
    csv.write_text("text,n\n" + "".join(f'"Quote {i}: keep going, and then some more.",{i}\n' for i in range(rows)))
    return csv


def test_train_takes_the_corpus_as_an_argument(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    csv = _quotes(tmp_path)
    result = run("train", csv, "--csv-column", "text", "--config", TINY, "--set", "train.max_steps=4")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "quotes" / "checkpoints" / "last.json").exists()  # runs/<file name>
    jsonl = tmp_path / "chats.jsonl"
    jsonl.write_text("".join(json.dumps({"id": i, "body": f"message {i} says hello"}) + "\n" for i in range(150)))
    result = run("train", jsonl, "--json-field", "body", "--config", TINY, "--set", "train.max_steps=4",
                 "--out", tmp_path / "chats")
    assert result.exit_code == 0, result.output
    assert f"data.corpus={jsonl}" in result.output and "data.json_field=body" in result.output


def test_corpus_errors_name_the_command_line_option(tmp_path):
    csv = _quotes(tmp_path)
    result = run("train", csv, "--config", TINY, "--out", tmp_path / "a")
    assert_user_error(result, 1, "quotes.csv", "--csv-column", "'text', 'n'")
    assert "data.csv_column" not in result.output
    result = run("train", csv, "--csv-column", "txt", "--config", TINY, "--out", tmp_path / "b")
    assert_user_error(result, 1, "no column 'txt' (--csv-column)", "did you mean 'text'?")
    result = run("train", csv, "--csv-column", "text", "--set", "data.csv_column=n", "--out", tmp_path / "c")
    assert_user_error(result, 2, "--csv-column and --set data.csv_column")
    result = run("train", csv, "--set", "data.corpus=x.txt", "--out", tmp_path / "d")
    assert_user_error(result, 2, "SOURCE and --set data.corpus")


def test_a_csv_column_or_json_field_on_a_text_file_is_refused(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("Dear diary, today the model learnt to spell.\n" * 100)
    out = tmp_path / "runs" / "notes"
    for option, value in (("--csv-column", "text"), ("--json-field", "body")):
        result = run("train", text, option, value, "--config", TINY, "--out", out)
        assert_user_error(result, 2, f"{option} is set, but the corpus '{text}' is not a", f"drop {option}")
        assert len(result.output.strip().splitlines()) == 1, result.output
    assert not out.exists()
    # through the config, the key is named, also from Python
    result = run("train", text, "--config", "classic-word-lstm", "--out", out)  # it reads a CSV's column 'body'
    assert_user_error(result, 2, "data.csv_column is set, but the corpus", "(--set data.csv_column=null)")
    assert_user_error(run("train", text, "--set", "data.json_field=body", "--out", out), 2, "data.json_field is set")
    with pytest.raises(ConfigError, match="data.csv_column is set, but the corpus .*notes.txt' is not a .csv"):
        lstmgen.train({"data": {"corpus": str(text), "csv_column": "text"}}, out=out)
    # eval and score refuse a column of a text file, and eval a column without a corpus
    assert train_tiny(text, out).exit_code == 0
    assert_user_error(run("eval", out, "--corpus", text, "--csv-column", "text"), 2, "--csv-column is set")
    assert_user_error(run("eval", out, "--csv-column", "text"), 2, "--csv-column is set, but no corpus is given")
    assert_user_error(run("score", out, text, "--csv-column", "text"), 2, f"'{text}' is not a .csv or .tsv file")
    assert_user_error(run("score", out, "Dear diary", "--csv-column", "0"), 2, "what is scored is a text")


def test_a_failed_train_leaves_nothing_behind(tmp_path):
    csv = _quotes(tmp_path)
    out = tmp_path / "runs" / "new"
    assert_user_error(run("train", csv, "--config", TINY, "--out", out), 1, "--csv-column")
    assert not out.exists() and not out.parent.exists()
    out.mkdir(parents=True)
    assert_user_error(run("train", tmp_path / "missing.txt", "--config", TINY, "--out", out), 1, "does not exist")
    assert out.is_dir() and list(out.iterdir()) == []  # a folder the user made stays, empty


def test_validation_bits_per_char_is_logged_and_agrees_with_eval(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("".join(f"Line {i}: the cat sat on the mat, then ran off.\n" for i in range(400)))
    out = tmp_path / "run"
    result = train_tiny(text, out)
    assert result.exit_code == 0, result.output
    assert "nats/token = " in result.output and "bits/char" in result.output  # the done line
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    logged = [r["val_bits_per_char"] for r in records if r["val_bits_per_char"] is not None][-1]
    evaluated = json.loads(run("eval", out, "--checkpoint", "last", "--json").output)
    assert logged == pytest.approx(evaluated["bits_per_char"], rel=1e-6)
    inspect = run("inspect", out).output
    assert f"= {logged:.3f} bits/char" in inspect


def test_resuming_a_finished_run_says_how_to_train_on(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("The quick brown fox jumps over the lazy dog.\n" * 200)
    out = tmp_path / "run"
    assert train_tiny(text, out).exit_code == 0
    result = run("train", "--out", out, "--resume")
    assert result.exit_code == 0, result.output
    assert "reached train.max_steps = 12 (step 12)" in result.output
    assert f"lstmgen train --out {out} --resume --set train.max_steps=24" in result.output


def test_sample_before_the_first_evaluation_uses_the_last_checkpoint(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("The quick brown fox jumps over the lazy dog.\n" * 200)
    out = tmp_path / "run"
    assert train_tiny(text, out).exit_code == 0
    (out / "checkpoints" / "best.json").unlink()  # as after Ctrl-C before the first evaluation
    result = run("sample", out, "--length", "5", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "no 'best' checkpoint yet" in result.output and "using 'last'" in result.output


def test_training_says_when_unknown_tokens_flatter_the_validation_loss(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("".join(f"Line {i}: plain text {chr(0x4E00 + i)} here.\n" for i in range(400)))  # each once
    result = train_tiny(text, tmp_path / "run", "data.val_fraction=0.05")
    assert result.exit_code == 0, result.output
    assert "validation tokens are <unk>" in result.output


def _phrases(path, words, lines=600, seed=0):
    rng = np.random.default_rng(seed)
    path.write_text("".join(" ".join(rng.choice(words, 6)) + ".\n" for _ in range(lines)))
    return path


def test_fine_tuning_starts_from_the_parent_and_learns_the_new_text(tmp_path):
    first = _phrases(tmp_path / "cats.txt", ["the cat", "a dog", "sat on", "the mat", "ran far"])
    second = _phrases(tmp_path / "sea.txt", ["we sail", "the sea", "at dawn", "to the east", "and sing"])
    parent, child = tmp_path / "parent", tmp_path / "child"
    assert run("train", first, "--config", TINY, "--out", parent, "--set", "train.max_steps=40",
               "--set", "model.hidden_size=24").exit_code == 0
    before = json.loads(run("eval", parent, "--corpus", second, "--json").output)["loss"]
    result = run("train", second, "--init-from", parent, "--out", child, "--set", "train.max_steps=40")
    assert result.exit_code == 0, result.output
    assert f"fine-tuning from {parent}" in result.output
    after = json.loads(run("eval", child, "--corpus", second, "--json").output)["loss"]
    assert after < before - 0.1  # it learnt the second text
    # the architecture is the parent's (hidden_size 24), not the default config's
    assert json.loads(run("inspect", child, "--json").output)["param_shapes"]["layers.0.W"] == [16 + 24, 4 * 24]
    # so does a restart loop's first attempt (--resume with nothing to resume yet, train.init_from set)
    looped = run("train", second, "--out", tmp_path / "looped", "--resume", "--set", f"train.init_from={parent}",
                 "--set", "train.max_steps=4")
    assert looped.exit_code == 0, looped.output
    assert "nothing to resume" in looped.output and f"fine-tuning from {parent}" in looped.output
    # before its first step, a fine-tuned trainer holds exactly the parent's best weights
    saved = read_checkpoint(parent, "best", with_training_state=False)
    cfg = inherit(load_config(TINY, [f"data.corpus={second}"]), saved.config, [], parent)
    cfg.train.init_from = str(parent)
    trainer = Trainer(cfg, tmp_path / "fresh")
    assert trainer.step == 0 and trainer.params.keys() == saved.params.keys()
    for key, value in saved.params.items():
        np.testing.assert_array_equal(trainer.params[key], value, err_msg=key)


def test_fine_tuning_refuses_a_conflicting_architecture(tmp_path):
    text = _phrases(tmp_path / "cats.txt", ["the cat", "a dog"])
    parent = tmp_path / "parent"
    assert run("train", text, "--config", TINY, "--out", parent, "--set", "train.max_steps=4").exit_code == 0
    result = run("train", text, "--init-from", parent, "--out", tmp_path / "c", "--set", "model.hidden_size=64")
    assert_user_error(result, 2, "model.hidden_size is 64", "--init-from", "has 32", "keeps its parent's model")
    assert not (tmp_path / "c").exists()
    result = run("train", text, "--init-from", parent, "--out", parent, "--resume")
    assert_user_error(result, 2, "--init-from", "--resume")
    assert_user_error(run("train", text, "--init-from", tmp_path / "nope", "--out", tmp_path / "d"), 1,
                      "does not exist")


def test_a_fine_tuned_run_with_a_time_budget_keeps_the_default_rate(tmp_path):
    text = _phrases(tmp_path / "cats.txt", ["the cat", "a dog"])
    parent = tmp_path / "parent"
    assert run("train", text, "--config", TINY, "--out", parent, "--set", "train.max_steps=4").exit_code == 0
    def rate(*overrides, init_from=None):
        return resolve_run(None, ["train.max_time=5m", *overrides], data={"corpus": str(text)}, out=tmp_path / "c",
                           init_from=init_from).config.train.learning_rate
    assert (rate(), rate(init_from=parent)) == (0.004, Config().train.learning_rate)  # the budget's pick: from scratch
    assert rate("train.learning_rate=0.01", init_from=parent) == 0.01


def test_training_says_how_many_documents_were_read_and_skipped(tmp_path):
    csv = tmp_path / "quotes.csv"
    rows = [f'"Quote {i}: keep going.",{i}' if i % 3 else f',{i}' for i in range(300)]  # every third empty
    csv.write_text("text,n\n" + "\n".join(rows) + "\n")
    result = train_tiny(csv, tmp_path / "run", "data.csv_column=text")
    assert result.exit_code == 0, result.output
    assert "corpus: 200 documents of 300 read" in result.output
    assert "100 skipped: no text in them" in result.output


def test_score_takes_a_long_text_and_refuses_an_empty_one(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("The quick brown fox jumps over the lazy dog.\n" * 200)
    out = tmp_path / "run"
    assert train_tiny(text, out).exit_code == 0
    long_text = "the_quick_brown_fox." * 30  # 600 characters, no space: too long to be a path
    result = run("score", out, long_text, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["num_tokens"] == len(long_text) + 1
    assert_user_error(run("score", out, ""), 1, "nothing to score")
