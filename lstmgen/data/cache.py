"""The built-in corpora, built once and kept in the user's cache directory.

Building ``builtin:python-docstrings`` parses about 700 standard-library files (seconds); every
command on the default corpus used to pay that before it started. ``read(name)`` builds a
built-in corpus the first time and keeps it in a file; later commands read the file (a few
milliseconds) as long as it was built from the same files.

Where: ``$LSTMGEN_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/lstmgen``, else
``~/.cache/lstmgen``. One file per corpus and Python, ``<name>-<cache tag>.txt`` (e.g.
``python-docstrings-cpython-311.txt``). Deleting the folder clears the cache.

The key: a hash of the cache format, the Python version, the source of ``builtin.py``
(how the corpus is built) and the path, size and modification time of every file the corpus is
built from (``builtin.SOURCES``): a new Python, a changed standard-library file or a
changed builder gives a new key, and the corpus is built again.

The file, three parts::

    lstmgen built-in corpus, format 1\\n               the format line
    {"corpus": ..., "key": ..., "lengths": [...], "sha256": ...}\\n
    the documents, one after another, UTF-8             lengths: each one's characters

A file with another format line, another key, a payload whose SHA-256 or length differs from
its header (truncated, damaged), or that cannot be parsed is never trusted: the corpus is built
again and the file replaced, with one note saying why. Files are written under a temporary name
in the same folder, then renamed into place, so a reader never sees half a file. A folder that
cannot be written is one note; the corpus is then built in memory, as before there was a cache.

This module never prints: what the user should hear (a build, a rebuilt file, an unwritable
folder) goes to ``on_note``, a function of one line that the command line sets to print it.
"""

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional

from . import builtin as builtin_corpora

ENV_VAR = "LSTMGEN_CACHE_DIR"
FORMAT_LINE = b"lstmgen built-in corpus, format 1\n"  # a new format gets a new number

on_note: Optional[Callable[[str], None]] = None  # the command line prints these lines on stderr
_memory = {}  # (name, key) -> (documents, kept in the cache): each corpus read once per process
_unwritable_noted = set()  # folders already reported as unwritable


def cache_dir(environ=os.environ) -> Path:
    """``$LSTMGEN_CACHE_DIR``, else ``$XDG_CACHE_HOME/lstmgen``, else ``~/.cache/lstmgen``."""
    if environ.get(ENV_VAR):
        return Path(environ[ENV_VAR]).expanduser()
    xdg = environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):  # the XDG rule: a relative path is ignored
        return Path(xdg) / "lstmgen"
    return Path("~/.cache/lstmgen").expanduser()


def cache_path(name: str) -> Path:
    return cache_dir() / f"{name}-{sys.implementation.cache_tag}.txt"


def cache_key(name: str, files: list) -> str:
    """What the corpus was built from, as a hash (see the module's docstring)."""
    try:
        builder = hashlib.sha256(Path(builtin_corpora.__file__).read_bytes()).hexdigest()
    except OSError:
        builder = "unreadable"
    stats = []
    for path in files:
        try:
            st = os.stat(path)
            stats.append([str(path), st.st_size, st.st_mtime_ns])
        except OSError:
            stats.append([str(path), None, None])
    what = {"format": FORMAT_LINE.decode().strip(), "corpus": name, "python": sys.version, "builder": builder,
            "files": stats}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def read(name: str) -> tuple:
    """``(documents, cached)``: the documents of the built-in corpus ``name`` (a tuple), from the
    cache when it holds them for the current key, else built (and kept when the folder can be
    written); ``cached`` says whether the cache holds them now. A corpus that cannot be read
    raises its ``DataError`` (e.g. ``kjv`` without its package)."""
    files = builtin_corpora.SOURCES[name]()
    key = cache_key(name, files)
    if (name, key) not in _memory:
        _memory[(name, key)] = _read_or_build(name, key, files)
    return _memory[(name, key)]


def documents(name: str) -> tuple:
    """The documents of the built-in corpus ``name``, from the cache when it holds them."""
    return read(name)[0]


def _read_or_build(name, key, files):
    path = cache_path(name)
    problem = None
    if path.exists():
        try:
            return _load(path, name, key), True
        except _Untrusted as e:
            problem = str(e)
    reading = builtin_corpora.READING[name](files)
    folder_error = _prepare_folder(path.parent)
    if folder_error is not None:
        if path.parent not in _unwritable_noted:
            _unwritable_noted.add(path.parent)
            _note(f"cannot keep built-in corpora in {path.parent} ({folder_error}); set {ENV_VAR} to a folder "
                  f"you can write; building builtin:{name} in memory: {reading}")
        else:
            _note(f"building builtin:{name} in memory: {reading}")
        return _build(name), False
    if problem is not None:
        _note(f"the cached builtin:{name} ({path}) {problem}; building it again: {reading}")
    else:
        _note(f"building builtin:{name} once and keeping it in {path.parent}: {reading}")
    docs = _build(name)
    try:
        _store(path, name, key, docs)
    except OSError as e:
        _note(f"could not keep builtin:{name} in {path.parent} ({e.strerror or e}); "
              "the next command builds it again")
        return docs, False
    return docs, True


def _build(name):
    build = builtin_corpora.DOCUMENT_CORPORA.get(name) or builtin_corpora.PARAGRAPH_CORPORA[name]
    return tuple(build())


def _note(text):
    if on_note is not None:
        on_note(text)


def _prepare_folder(folder: Path) -> Optional[str]:
    """None when ``folder`` exists (made if need be) and can be written, else why not."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        return e.strerror or str(e)
    if not os.access(folder, os.W_OK | os.X_OK):
        return "not writable"
    return None


class _Untrusted(Exception):
    """A cache file that must not be used; the message ends 'the cached X (path) ...'."""


def _load(path: Path, name: str, key: str) -> tuple:
    """The documents a cache file holds, checked against ``key`` and its own checksum."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise _Untrusted(f"cannot be read ({e.strerror or e})") from None
    if not data.startswith(FORMAT_LINE):
        first = data.split(b"\n", 1)[0][:60]
        if first.startswith(b"lstmgen built-in corpus, format "):
            raise _Untrusted(f"was written by another version of lstmgen ({first.decode('ascii', 'replace')})")
        raise _Untrusted("is not a cache file lstmgen wrote (damaged)")
    end = data.find(b"\n", len(FORMAT_LINE))
    try:
        header = json.loads(data[len(FORMAT_LINE):end]) if end >= 0 else None
        lengths = [int(n) for n in header["lengths"]]
        corpus, saved_key, digest = header["corpus"], header["key"], header["sha256"]
    except (ValueError, TypeError, KeyError):
        raise _Untrusted("is damaged or truncated (its header cannot be read)") from None
    if corpus != name or saved_key != key:
        raise _Untrusted("was built from another Python or other standard-library files")
    payload = data[end + 1:]
    if hashlib.sha256(payload).hexdigest() != digest:
        raise _Untrusted("is damaged or truncated (its checksum differs)")
    try:
        text = payload.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        raise _Untrusted("is damaged (not UTF-8)") from None
    if sum(lengths) != len(text) or min(lengths, default=0) < 0:
        raise _Untrusted("is damaged (its lengths do not add up)")
    docs, start = [], 0
    for n in lengths:
        docs.append(text[start:start + n])
        start += n
    return tuple(docs)


def _store(path: Path, name: str, key: str, docs: tuple) -> None:
    """Write the cache file under a temporary name in its folder, then rename it into place."""
    payload = "".join(docs).encode("utf-8", "surrogatepass")
    header = {"corpus": name, "key": key, "documents": len(docs), "sha256": hashlib.sha256(payload).hexdigest(),
              "lengths": [len(d) for d in docs]}
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(FORMAT_LINE + json.dumps(header).encode() + b"\n" + payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
