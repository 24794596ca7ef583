"""One split rule (split.py) for every path: the token cache gives the same training and
validation tokens as the in-memory corpus on folders with blank files, CSV and JSON-lines
files, and on single text files; the single-document cut equals a naive line-by-line reference."""

import json
import re

import numpy as np
import pytest

from lstmgen.data import token_cache
from lstmgen.runs.config import load_config
from lstmgen.data.corpus import load_corpus
from lstmgen.data.split import split_corpus
from tests.test_token_cache import lines

BLANKS = ["", "  \n\n\t\n", "\u3000\u00a0\n \n"]  # whitespace only, Unicode whitespace included


def both_paths(tmp_path, corpus, *sets):
    """(in-memory train ids, val ids), (cached train ids, val ids), the cached tokenizer."""
    cfg = load_config(None, [f"data.corpus={corpus}", f"data.token_cache={tmp_path / 'cache'}",
                             "tokenizer.level=word", "data.csv_column=text", "data.json_field=text", *sets])
    tok, batches, val = token_cache.prepare(cfg, 2, 4)
    mem = load_corpus(str(corpus), val_fraction=cfg.data.val_fraction, csv_column="text", json_field="text")
    cached = np.fromfile(batches.path, batches.dtype), np.asarray(val)
    return (tok.encode_documents(mem.train), tok.encode_documents(mem.val)), cached, mem


def assert_same_tokens(expected, got):
    for want, have in zip(expected, got):
        assert np.array_equal(want, have)


def test_folder_of_texts_with_blank_files(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(10):  # ten documents and blank files among them: the draw must skip the blanks
        (folder / f"{i:02d}.txt").write_text(lines(i, 12), encoding="utf-8")
    for i, blank in enumerate(BLANKS):
        (folder / f"{2 * i + 1:02d}b.txt").write_text(blank, encoding="utf-8")
    expected, got, mem = both_paths(tmp_path, folder)
    assert len(mem.train) + len(mem.val) == 10 and mem.val
    assert_same_tokens(expected, got)


def test_folder_with_blank_files_a_csv_and_a_jsonl_file(tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "a.txt").write_text(lines(1, 20), encoding="utf-8")
    (folder / "b.txt").write_text(BLANKS[1], encoding="utf-8")
    rows = [lines(10 + i, 2).strip() for i in range(6)]
    (folder / "c.csv").write_text("id,text\n" + "".join(f'{i},"{r}"\n' for i, r in enumerate(rows)) + "6, \n",
                                  encoding="utf-8")
    records = [{"text": lines(20 + i, 3)} for i in range(5)] + [{"text": "  "}, {"other": 1}]
    (folder / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    (folder / "e.txt").write_text(BLANKS[2], encoding="utf-8")
    expected, got, mem = both_paths(tmp_path, folder)
    assert len(mem.train) + len(mem.val) == 1 + 6 + 5
    assert_same_tokens(expected, got)


LONG = "\ufeff\n \n" + lines(5, 40).replace("alpha", "alpha " * 9) + "\u3000\n\n last line without a break"
SHORT = "\ufeff\n \n" + "first " * 12 + "\nlast words\n"  # the cut must keep the first line with text


@pytest.mark.parametrize("text", [LONG, SHORT], ids=["long", "short"])
@pytest.mark.parametrize("val_fraction", [0.0, 0.01, 0.3, 0.9])
def test_single_text_file(tmp_path, monkeypatch, text, val_fraction):
    monkeypatch.setattr(token_cache, "BLOCK_BYTES", 29)  # many blocks, cut inside multi-byte characters
    path = tmp_path / "one.txt"
    path.write_text(text, encoding="utf-8")
    expected, got, mem = both_paths(tmp_path, path, f"data.val_fraction={val_fraction}")
    assert bool(mem.val) == (val_fraction > 0)
    assert_same_tokens(expected, got)


def test_folder_with_one_file_of_text_is_cut_like_a_single_file(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text(BLANKS[1], encoding="utf-8")
    (folder / "b.txt").write_text(lines(7, 30), encoding="utf-8")
    expected, got, mem = both_paths(tmp_path, folder, "data.val_fraction=0.2")
    assert len(mem.train) == len(mem.val) == 1
    assert_same_tokens(expected, got)


def naive_cut(text, val_fraction):
    """The rule written out on a list of lines."""
    pieces = re.findall(r"[^\n]*\n|[^\n]+$", text)
    with_text = [i for i, p in enumerate(pieces) if p.strip()]
    first, last = with_text[0], with_text[-1]
    if val_fraction == 0 or first == last:
        return [text], []
    k = len(pieces) - max(1, round(len(pieces) * val_fraction))
    k = min(max(k, first + 1), last)
    return ["".join(pieces[:k])], ["".join(pieces[k:])]


@pytest.mark.parametrize("seed", range(30))
def test_single_document_cut_equals_a_naive_reference(seed):
    rng = np.random.default_rng(seed)
    pieces = rng.choice(["word", " ", "\n", "\n\n", "\t", "\u00e9t\u00e9", "\u3000"], size=rng.integers(1, 40))
    text = "".join(pieces)
    if not text.strip():
        text += "x"
    for val_fraction in (0.0, 0.1, 0.5, 0.99):
        train, val = split_corpus("t", [text], val_fraction)
        assert (train, val) == naive_cut(text, val_fraction), (text, val_fraction)
        assert "".join(train + val) == text
        assert all(d.strip() for d in train + val)
