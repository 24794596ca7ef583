"""Every tokenizer end to end through the CLI: train, eval (bits per character and byte), sample."""

import json

import pytest

from tests.helpers import run, train


@pytest.mark.parametrize("level", ["char", "word", "bpe"])
def test_eval_measures_the_same_text_whatever_the_tokenizer(request, text_file, level):
    out = request.getfixturevalue(f"{level}_run")  # trained on the same text as text_file
    result = run("eval", out, "--corpus", text_file, "--json")
    assert result.exit_code == 0, result.output
    scores = json.loads(result.output)
    text = text_file.read_text(encoding="utf-8")
    assert scores["tokenizer"] == level
    # bits per character and per byte divide by the original text (ASCII: chars == bytes), less
    # the few tokens at the edges that are not scored
    assert 0.97 * (len(text) + 1) <= scores["characters"] <= len(text) + 1
    assert scores["bytes"] == scores["characters"]
    assert scores["bits_per_byte"] == pytest.approx(scores["bits_per_char"])
    nll_bits = scores["loss"] * scores["tokens"] / __import__("math").log(2)
    assert scores["bits_per_char"] == pytest.approx(nll_bits / scores["characters"])
    table = run("eval", out, "--corpus", text_file)
    assert "bits per byte" in table.output and ("per word" in table.output) == (level == "word")


def test_word_run_samples_readable_words(word_run, text_file):
    out = word_run
    saved = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    assert saved["level"] == "word" and saved["lowercase"] is True
    result = run("sample", out, "--prime", "The cat", "--length", "20", "--seed", "1")
    # a word after the prime's last word gets a space; "." and a newline (<eod>) do not
    assert result.exit_code == 0 and result.output.startswith("The cat") and result.output[7] in " .\n"
    words = set(text_file.read_text().lower().replace(".", " . ").split())
    drawn = result.output[len("The cat"):].replace(".", " . ").split()
    assert set(drawn) <= words and len(drawn) >= 20 - result.output.count("\n")  # corpus words, spaced
    batched = run("sample", out, "--prime", "The cat", "--length", "5", "--seed", "1", "--num-samples", "2")
    samples = batched.output.split("----- sample ")[1:]
    assert len(samples) == 2 and all(sample.split("\n", 1)[1][:8] in ("The cat ", "The cat.", "The cat\n")
                                     for sample in samples)


def test_bytes_count_utf8(tmp_path):
    path = tmp_path / "u.txt"
    path.write_text("".join(f"héllo wörld {i % 7} 中文\n" for i in range(300)), encoding="utf-8")
    out = tmp_path / "c"
    assert train(path, out, "train.max_steps=6", "train.eval_interval=3").exit_code == 0
    scores = json.loads(run("eval", out, "--corpus", path, "--json").output)
    text = path.read_text(encoding="utf-8")
    scored = text + "\n"  # the targets: every character after the start <eod>, then the closing <eod>
    assert scores["characters"] == len(scored) and scores["bytes"] == len(scored.encode()) > len(scored)


def test_bpe_run_samples_and_round_trips_the_prime(bpe_run):
    out = bpe_run
    saved = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    assert saved["level"] == "bpe" and len(saved["vocab"]) == 300 and len(saved["merges"]) == 42
    result = run("sample", out, "--prime", "Ünïcödé 🙂 ", "--length", "30", "--seed", "2")
    assert result.exit_code == 0 and result.output.startswith("Ünïcödé 🙂 ")
    assert "note:" not in result.output  # byte fallback: nothing is unknown
