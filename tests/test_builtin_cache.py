"""The cache of built-in corpora (builtin_cache.py): a hit gives what a build gives; a damaged,
truncated or foreign file is rebuilt with one note; an unwritable folder is one note and the
corpus is built in memory; the key follows the Python and the files; the faster docstring walk
finds what a walk of every node finds. The cache folder is the test's own (conftest.py)."""

import ast
import json

import pytest
from click.testing import CliRunner

from lstmgen.data import cache as builtin_cache, builtin as builtin_corpora
from lstmgen.cli import cli


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder, no corpus remembered in memory, and the notes collected in a list."""
    monkeypatch.setenv(builtin_cache.ENV_VAR, str(tmp_path / "cache"))
    monkeypatch.setattr(builtin_cache, "_memory", {})
    monkeypatch.setattr(builtin_cache, "_unwritable_noted", set())
    notes = []
    monkeypatch.setattr(builtin_cache, "on_note", notes.append)
    return notes


def fresh(name):
    """Read ``name`` again as a new process would: nothing remembered in memory."""
    builtin_cache._memory.clear()
    return builtin_cache.read(name)


def test_the_cache_folder_follows_the_environment(tmp_path):
    assert builtin_cache.cache_dir({"LSTMGEN_CACHE_DIR": str(tmp_path)}) == tmp_path
    assert builtin_cache.cache_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "lstmgen"
    home = builtin_cache.cache_dir({"XDG_CACHE_HOME": "relative/ignored"})
    assert home.parts[-2:] == (".cache", "lstmgen") and home.is_absolute()


@pytest.mark.parametrize("name", ["python-docstrings", "python-docs", "python-code"])
def test_a_cache_hit_equals_a_fresh_build(cache, name):
    built, cached = fresh(name)
    assert cached and len(cache) == 1 and cache[0].startswith(f"building builtin:{name} once")
    assert builtin_cache.cache_path(name).is_file()
    again, cached = fresh(name)
    assert cached and len(cache) == 1  # read back, silently
    assert again == built == tuple(builtin_corpora.DOCUMENT_CORPORA.get(name, builtin_corpora.python_docs_paragraphs)())


def test_the_docstring_build_says_how_many_files_it_reads(cache):
    fresh("python-docstrings")
    files = len(builtin_corpora.SOURCES["python-docstrings"]())
    assert cache[0].endswith(f"reading the standard library's docstrings: {files} files") and files > 100


def damage_truncate(data):
    return data[:len(data) // 2]


def damage_flip(data):
    return data[:-10] + bytes([data[-10] ^ 1]) + data[-9:]


def damage_format(data):
    return data.replace(b"format 1\n", b"format 0\n", 1)


def damage_header(data):
    return data.replace(b'"lengths": [', b'"lengths": [x', 1)


def damage_garbage(data):
    return b"\x00\xff" * 100


@pytest.mark.parametrize("damage, why", [(damage_truncate, "truncated"), (damage_flip, "checksum"),
                                         (damage_format, "another version of lstmgen"),
                                         (damage_header, "header"), (damage_garbage, "not a cache file")])
def test_a_damaged_or_foreign_cache_is_rebuilt_with_one_note(cache, damage, why):
    built, _ = fresh("python-code")
    path = builtin_cache.cache_path("python-code")
    path.write_bytes(damage(path.read_bytes()))
    cache.clear()
    again, cached = fresh("python-code")
    assert again == built and cached
    assert len(cache) == 1 and "the cached builtin:python-code" in cache[0] and why in cache[0]
    assert "building it again" in cache[0]
    cache.clear()
    assert fresh("python-code") == (built, True) and cache == []  # the rebuilt file is trusted


def test_a_cache_from_other_files_is_rebuilt(cache, monkeypatch):
    built, _ = fresh("python-code")
    monkeypatch.setattr(builtin_cache, "cache_key", lambda name, files: "another-key")
    cache.clear()
    assert fresh("python-code") == (built, True)
    assert len(cache) == 1 and "another Python or other standard-library files" in cache[0]


def test_an_unwritable_cache_folder_is_one_note_and_the_corpus_is_built_in_memory(tmp_path, cache, monkeypatch):
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv(builtin_cache.ENV_VAR, str(tmp_path / "a-file" / "cache"))
    docs, cached = fresh("python-code")
    assert not cached and docs == builtin_corpora.python_code()
    assert len(cache) == 1 and "cannot keep built-in corpora in" in cache[0] and "LSTMGEN_CACHE_DIR" in cache[0]
    fresh("python-docs")
    assert len(cache) == 2 and "cannot keep" not in cache[1]  # the folder is reported once
    result = CliRunner().invoke(cli, ["corpora", "--json"])
    assert result.exit_code == 0 and "Traceback" not in result.output
    entries = {e["name"]: e for e in map(json.loads, result.stdout.splitlines())}
    assert entries["builtin:python-code"]["cached"] is False


def test_the_key_changes_with_the_python_the_files_and_the_format(tmp_path, monkeypatch):
    files = [tmp_path / "a.py", tmp_path / "b.py"]
    for path in files:
        path.write_text("x = 1\n")
    key = builtin_cache.cache_key("python-code", files)
    assert builtin_cache.cache_key("python-code", files) == key
    assert builtin_cache.cache_key("python-docs", files) != key
    assert builtin_cache.cache_key("python-code", files[:1]) != key
    files[1].write_text("x = 22\n")  # another size
    changed = builtin_cache.cache_key("python-code", files)
    assert changed != key
    monkeypatch.setattr(builtin_cache.sys, "version", "3.99.0 (another Python)")
    assert builtin_cache.cache_key("python-code", files) != changed
    monkeypatch.undo()
    monkeypatch.setattr(builtin_cache, "FORMAT_LINE", b"lstmgen built-in corpus, format 2\n")
    assert builtin_cache.cache_key("python-code", files) != changed


def test_corpora_says_which_are_cached(cache):
    result = CliRunner().invoke(cli, ["corpora"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.startswith("builtin:python-code "))
    assert " cached " in line
    assert f"cache: {builtin_cache.cache_dir()}" in result.stdout


def walk_every_node(tree):
    """The docstrings of a parsed file as python_docstrings found them before: ast.walk."""
    docs = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=True)
            if doc and doc.strip():
                docs.append(doc.strip())
    return docs


NESTED = '''
"""module"""
if True:
    class A:
        """A"""
        def f(self):
            """A.f"""
            try:
                def g():
                    """g in try"""
            except ValueError:
                async def h():
                    """h in except"""
            else:
                def i():
                    """i in else"""
            finally:
                def j():
                    """j in finally"""
else:
    def k():
        """k in else"""
for _ in ():
    with open("x") as f:
        def m():
            """m in with"""
    while False:
        pass
    else:
        def n():
            """n in while's else"""
match 1:
    case 1:
        def o():
            """o in a case"""
x = lambda: """not a docstring"""
def outer():
    """outer"""
    class Inner:
        """Inner"""
'''


@pytest.mark.parametrize("name", ["argparse", "typing", "asyncio/base_events", "email/_header_value_parser",
                                  "pydoc", "inspect"])
def test_the_docstring_walk_finds_what_a_walk_of_every_node_finds(name):
    path = builtin_corpora.stdlib_path() / f"{name}.py"
    tree = ast.parse(path.read_bytes())
    found = [d for node in builtin_corpora._docstring_holders(tree)
             if (d := ast.get_docstring(node, clean=True)) and d.strip()]
    assert [d.strip() for d in found] == walk_every_node(tree) and len(found) > 5


def test_the_docstring_walk_enters_every_compound_statement():
    tree = ast.parse(NESTED)
    found = [ast.get_docstring(node) for node in builtin_corpora._docstring_holders(tree)]
    assert found == walk_every_node(tree) and len(found) == 13
