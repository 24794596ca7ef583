"""The token cache: the same windows as in memory, streamed from disk; hits, invalidation, errors."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from lstmgen.data import token_cache
from lstmgen.cli import cli
from lstmgen.runs.config import load_config
from lstmgen.data.corpus import load_corpus
from lstmgen.data.batches import Batches
from lstmgen.errors import DataError
from lstmgen.tokenizers import build_tokenizer, tokenizer_settings
from tests.helpers import ROOT


def lines(seed, n):
    rng = np.random.default_rng(seed)
    words = ["alpha", "beta", "gamma", "délta", "中文", "e", "ok", "yes", "no,", "end."]
    return "".join(" ".join(rng.choice(words, size=rng.integers(1, 9))) + "\n" for _ in range(n))


def config(tmp_path, corpus, *sets):
    return load_config(None, [f"data.corpus={corpus}", f"data.token_cache={tmp_path / 'cache'}", *sets])


@pytest.mark.parametrize("level", ["char", "word", "bpe"])
def test_folder_gives_the_same_windows_as_in_memory(tmp_path, level):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(12):
        (folder / f"{i:02d}.txt").write_text(lines(i, 30), encoding="utf-8")
    cfg = config(tmp_path, folder, f"tokenizer.level={level}", "tokenizer.vocab_size=300")
    tok, batches, val = token_cache.prepare(cfg, 4, 16)
    corpus = load_corpus(str(folder), val_fraction=cfg.data.val_fraction)
    expected_tok = build_tokenizer(level, corpus.train, **tokenizer_settings(cfg.tokenizer))
    assert tok == expected_tok
    expected = Batches(tok.encode_documents(corpus.train), 4, 16)
    assert batches.num_windows == expected.num_windows
    for k in range(batches.num_windows):
        for got, want in zip(batches.window(k), expected.window(k)):
            assert got.dtype == np.int32 and np.array_equal(got, want)
    assert np.array_equal(val, tok.encode_documents(corpus.val)) and val.dtype == np.uint16


@pytest.mark.parametrize("level", ["char", "word"])
def test_one_file_streamed_in_small_blocks(tmp_path, monkeypatch, level):
    monkeypatch.setattr(token_cache, "BLOCK_BYTES", 61)  # many blocks, cut inside multi-byte characters
    text = "\ufeff" + lines(0, 200)
    path = tmp_path / "one.txt"
    path.write_text(text, encoding="utf-8")
    progress = []
    cfg = config(tmp_path, path, f"tokenizer.level={level}", "data.val_fraction=0.2")
    tok, batches, val = token_cache.prepare(cfg, 2, 8, progress=lambda *a: progress.append(a))
    raw = path.read_bytes()
    cut = raw.index(b"\n", int(len(raw) * 0.8)) + 1
    train_text, val_text = raw[3:cut].decode(), raw[cut:].decode()  # the byte-order mark is dropped
    assert tok == build_tokenizer(level, [train_text])
    ids = np.concatenate([batches.window(k)[0].T for k in range(batches.num_windows)], axis=1)
    stream = tok.encode_documents([train_text])
    L = batches.stream_len
    for n in range(2):
        assert np.array_equal(ids[n], stream[n * L : n * L + ids.shape[1]])
    assert np.array_equal(val, tok.encode_documents([val_text]))
    assert {stage for stage, _, _ in progress} >= {"hashing", "tokenising"} and progress[-1][1] == progress[-1][2]


def test_second_run_hits_the_cache_and_a_change_invalidates_it(tmp_path, monkeypatch):
    path = tmp_path / "t.txt"
    path.write_text(lines(1, 300), encoding="utf-8")
    cfg = config(tmp_path, path)
    first = token_cache.prepare(cfg, 4, 8)
    entries = sorted((tmp_path / "cache").iterdir())
    assert len(entries) == 1 and json.loads((entries[0] / "meta.json").read_text())["dtype"] == "uint16"

    def no_learning(*args, **kwargs):
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(token_cache, "build_tokenizer", no_learning)
    again = token_cache.prepare(cfg, 4, 8)
    assert again[0] == first[0] and np.array_equal(again[1].window(3)[0], first[1].window(3)[0])
    monkeypatch.undo()
    path.write_text(lines(2, 300), encoding="utf-8")  # a changed source
    token_cache.prepare(cfg, 4, 8)
    token_cache.prepare(config(tmp_path, path, "tokenizer.level=word"), 4, 8)  # a changed setting
    assert len(list((tmp_path / "cache").iterdir())) == 3


def test_a_broken_entry_is_rebuilt(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(lines(1, 300), encoding="utf-8")
    cfg = config(tmp_path, path)
    token_cache.prepare(cfg, 4, 8)
    (entry,) = (tmp_path / "cache").iterdir()
    with open(entry / "train.bin", "ab") as f:
        f.write(b"\0")  # the size no longer matches meta.json
    tok, batches, _ = token_cache.prepare(cfg, 4, 8)
    assert (entry / "train.bin").stat().st_size % 2 == 0 and batches.window(0)[0].shape == (8, 4)


def test_large_vocabulary_uses_uint32(tmp_path):
    path = tmp_path / "words.csv"
    path.write_text("text\n" + "".join(f"w{i} w{i + 1}\n" for i in range(70_000)), encoding="utf-8")
    cfg = config(tmp_path, path, "tokenizer.level=word", "tokenizer.max_vocab=100000")
    tok, batches, val = token_cache.prepare(cfg, 4, 8)
    assert tok.vocab_size > 65_536 and val.dtype == np.uint32 and batches.dtype == np.uint32
    assert batches.window(batches.num_windows - 1)[1].max() < tok.vocab_size


def test_bad_bytes_are_reported_with_their_offset(tmp_path, monkeypatch):
    monkeypatch.setattr(token_cache, "BLOCK_BYTES", 16)
    path = tmp_path / "bad.txt"
    path.write_bytes(b"line one\nline two\nbad \xff byte\n" * 3)
    with pytest.raises(DataError, match=r"bad.txt' is not valid utf-8: byte at offset 22 .*encoding_errors=replace"):
        token_cache.prepare(config(tmp_path, path), 1, 2)
    tok, _, _ = token_cache.prepare(config(tmp_path, path, "data.encoding_errors=replace"), 1, 2)
    assert "\ufffd" in tok.vocab


def test_training_from_the_cache_equals_training_in_memory(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(8):
        (folder / f"{i}.txt").write_text(lines(i, 40), encoding="utf-8")
    common = ["--config", ROOT / "configs" / "tiny.yaml", "--set", f"data.corpus={folder}",
              "--set", "train.max_steps=8", "--set", "train.eval_interval=4"]
    for name, extra in (("mem", []), ("disk", ["--set", f"data.token_cache={tmp_path / 'cache'}"])):
        result = CliRunner().invoke(cli, ["train", *map(str, common), "--out", str(tmp_path / name), *extra])
        assert result.exit_code == 0, result.output
        assert ("tokenising" in result.output) == (name == "disk")  # the progress bar while tokenising
    losses = [[(r["train_loss"], r["val_loss"]) for r in map(json.loads, (tmp_path / name / "metrics.jsonl").open())]
              for name in ("mem", "disk")]
    assert losses[0] == losses[1]


def test_resume_from_the_cache_continues_exactly(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text(lines(3, 400), encoding="utf-8")
    common = ["--config", str(ROOT / "configs" / "tiny.yaml"), "--set", f"data.corpus={path}",
              "--set", f"data.token_cache={tmp_path / 'cache'}", "--set", "train.eval_interval=4"]
    run = lambda *args: CliRunner().invoke(cli, [str(a) for a in args])  # noqa: E731
    assert run("train", *common, "--out", tmp_path / "a", "--set", "train.max_steps=8").exit_code == 0
    assert run("train", *common, "--out", tmp_path / "b", "--set", "train.max_steps=4").exit_code == 0
    resumed = run("train", "--out", tmp_path / "b", "--resume", "--set", "train.max_steps=8")
    assert resumed.exit_code == 0, resumed.output
    a, b = (np.load(tmp_path / d / "checkpoints" / "step-00000008" / "model.npz") for d in "ab")
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k])
