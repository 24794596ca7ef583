"""Where text comes from: text files, folders, globs, CSV/TSV columns and built-in corpora.

A *source* is what the user writes in ``data.corpus``:

- ``PATH`` to a text file: one document, its whole text.
- ``PATH`` to a folder: every regular file under it, recursively, sorted by path, hidden files
  and folders (names starting with ``.``) skipped; one document per file.
- a glob pattern (contains ``*``, ``?`` or ``[`` and is not an existing path; ``**`` recurses):
  every matching file, sorted.
- ``PATH`` ending in ``.csv`` or ``.tsv`` (tab-separated): one document per row, taken from the
  column ``data.csv_column`` (a header name, or a 0-based index). The first row is always the
  header, also when the column is chosen by index. Rows whose field is empty or whitespace are
  skipped. Without ``csv_column`` a single-column file uses that column; otherwise it is an
  error that lists the columns. CSV/TSV files found in a folder or glob are read the same way.
  ``data.csv_delimiter`` overrides the delimiter (one character).
- ``PATH`` ending in ``.jsonl`` or ``.ndjson``: one JSON object per line, one document per
  object, taken from its field ``data.json_field``. Blank lines, and objects whose field is
  missing, null or blank, are skipped; a field no object has is an error listing the fields.
- ``data.template`` joins several CSV columns or JSON fields into one document: each
  ``{name}`` (a column's header name or 0-based index, or a JSON field) is replaced by that
  row's value, e.g. ``"{title}\n{body}"``; ``{{`` and ``}}`` are literal braces. A row whose
  named fields are all blank is skipped. It replaces ``csv_column`` / ``json_field``.
- ``builtin:NAME``: a corpus read at run time from the installation (see ``BUILTIN_CORPORA``;
  ``python-docs`` is one document split by paragraph, the others are many documents, see
  ``builtin.py``), built once and kept in the user's cache (``cache.py``).

Files are read as bytes and decoded with ``data.encoding`` (a leading byte-order mark is
dropped), so a bad byte is reported with its file and offset; with ``data.encoding_errors:
replace`` bad bytes become U+FFFD instead. Documents that hold no
non-whitespace text are dropped; a source left with none is an error.

How a corpus is split into training and validation text (``val_fraction`` of it held out) is
``split.py``'s rule, which the token cache follows too: whole documents, or a single document
cut after a line break so that validation gets its last ``val_fraction`` of lines.

Every failure is a one-line ``DataError`` naming the file and what was expected.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import glob
import io
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from . import cache as builtin_cache
from .builtin import DESCRIPTIONS, DOCUMENT_CORPORA
from ..errors import ConfigError, DataError, MissingPackageError
from .split import keep_text, split_corpus, split_documents

BUILTIN_PREFIX = "builtin:"
BUILTIN_CORPORA = DESCRIPTIONS  # name -> one line saying what it is


@dataclass
class Corpus:
    source: str  # as the user wrote it (path, glob, or builtin:NAME)
    train: list[str]  # documents of the training split
    val: list[str]  # documents of the validation split (empty when val_fraction == 0)
    records: int = 0  # files, CSV rows and JSON objects read
    skipped: int = 0  # of those, the ones without text (an empty or missing field, a blank file)


def corpus_options(data) -> dict:
    """The keyword arguments of ``read_documents``/``load_corpus`` from the ``data`` config section."""
    return {"csv_column": data.csv_column, "encoding": data.encoding, "encoding_errors": data.encoding_errors,
            "csv_delimiter": data.csv_delimiter, "json_field": data.json_field, "template": data.template}


def load_configured_corpus(data) -> "Corpus":
    """The corpus and split that the ``data`` config section describes (what training reads)."""
    return load_corpus(data.corpus, val_fraction=data.val_fraction, **corpus_options(data))


def read_documents(source: str, *, csv_column: str | int | None = None, encoding: str = "utf-8",
                   encoding_errors: str = "strict", csv_delimiter: str | None = None,
                   json_field: str | None = None, template: str | None = None,
                   counts: dict | None = None) -> list[str]:
    """Every document of ``source``, in order (python-docs is one document). ``counts``, when
    given, gets ``records`` (files, CSV rows, JSON objects read) and ``skipped`` (those
    without text)."""
    if source.startswith(BUILTIN_PREFIX):
        name = source[len(BUILTIN_PREFIX):]
        documents = list(builtin_cache.documents(name)) if name in DOCUMENT_CORPORA else \
            ["\n\n".join(_builtin_paragraphs(name))]
        if counts is not None:
            counts.update(records=len(documents), skipped=0)
        return documents
    check_encoding(encoding)
    if encoding_errors not in ("strict", "replace"):
        raise ConfigError(f"data.encoding_errors is '{encoding_errors}'; expected strict or replace")
    if csv_delimiter is not None and len(csv_delimiter) != 1:
        raise ConfigError(f"data.csv_delimiter must be one character, got {csv_delimiter!r}")
    fields = _template_fields(template) if template is not None else None
    fmt = {"column": csv_column, "delimiter": csv_delimiter, "json_field": json_field, "template": template,
           "fields": fields, "records": 0}
    documents = keep_text(source, [doc for path in source_files(source)
                                   for doc in _file_documents(path, fmt, encoding, encoding_errors)])
    if counts is not None:
        counts.update(records=fmt["records"], skipped=fmt["records"] - len(documents))
    return documents


TABLE_SUFFIXES = (".csv", ".tsv")  # read one document per row, from data.csv_column
JSONL_SUFFIXES = (".jsonl", ".ndjson")  # read one document per object, from data.json_field


def check_format_options(source: str, *, csv_column=None, json_field=None, files=None) -> None:
    """Refuse ``data.csv_column`` where no file of ``source`` is a CSV/TSV file, and
    ``data.json_field`` where none is a JSON-lines file: they would be ignored, and the text
    read whole. ``files``: ``source_files(source)`` when the caller has them already."""
    for key, value, suffixes, what in (("data.csv_column", csv_column, TABLE_SUFFIXES, "a CSV or TSV file"),
                                       ("data.json_field", json_field, JSONL_SUFFIXES, "a JSON-lines file")):
        if value is None:
            continue
        if source.startswith(BUILTIN_PREFIX):
            raise ConfigError(f"{key} is set, but the corpus '{source}' is a built-in corpus, not {what}; "
                              f"drop {key}")
        found = files if files is not None else source_files(source)
        if not any(f.suffix.lower() in suffixes for f in found):
            names = " or ".join(suffixes)
            where = f"is not a {names} file" if found == [Path(source)] else f"holds no {names} file"
            raise ConfigError(f"{key} is set, but the corpus '{source}' {where}: it would be read as plain "
                              f"text; drop {key}")


def load_corpus(source: str, *, val_fraction: float = 0.1, **options) -> Corpus:
    """The documents of ``source`` split into training and validation documents; ``options``
    are those of ``read_documents`` (``corpus_options(cfg.data)``)."""
    if not 0.0 <= val_fraction < 1.0:
        raise ConfigError(f"data.val_fraction must be at least 0 and below 1, got {val_fraction}")
    if source.startswith(BUILTIN_PREFIX) and source[len(BUILTIN_PREFIX):] not in DOCUMENT_CORPORA:
        # python-docs is split by paragraph, then each split becomes one document.
        train, val = split_documents(_builtin_paragraphs(source[len(BUILTIN_PREFIX):]), val_fraction)
        return Corpus(source, ["\n\n".join(train)], ["\n\n".join(val)] if val else [])
    counts = {}
    train, val = split_corpus(source, read_documents(source, counts=counts, **options), val_fraction)
    return Corpus(source, train, val, **counts)


def list_corpora() -> list[dict]:
    """Every built-in corpus: name, description, and its size when it can be read
    (``documents``, ``characters``, ``bytes``, and ``cached``: whether the user's cache holds
    it now, so that commands on it start at once), else ``error`` saying why not. A corpus not
    in the cache yet is built (and kept) to be measured."""
    out = []
    for name, description in BUILTIN_CORPORA.items():
        entry = {"name": f"{BUILTIN_PREFIX}{name}", "description": description}
        try:
            documents, cached = builtin_cache.read(name)
        except (DataError, MissingPackageError) as e:
            entry["error"] = str(e)
        else:
            if name not in DOCUMENT_CORPORA:  # python-docs: one document, split by paragraph
                documents = ["\n\n".join(documents)]
            entry["cached"] = cached
            entry["documents"] = len(documents)
            entry["characters"] = sum(len(d) for d in documents)
            entry["bytes"] = sum(len(d.encode("utf-8", "surrogatepass")) for d in documents)
        out.append(entry)
    return out


# ---------------------------------------------------------------------------------------------
# Files, folders, globs


def source_files(source):
    """The files a path, folder or glob pattern stands for, sorted."""
    if not source.strip():
        raise DataError("no corpus given: set data.corpus to a text file, folder, glob or builtin:NAME")
    if any(ch in source for ch in "*?[") and not os.path.exists(source):
        files = sorted(Path(p) for p in glob.glob(source, recursive=True) if os.path.isfile(p))
        if not files:
            raise DataError(f"corpus pattern '{source}' matches no files")
        return files
    path = Path(source)
    if path.is_dir():
        files = []
        for root, dirs, names in os.walk(path):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            files += [Path(root, name) for name in names if not name.startswith(".")]
        files = sorted(f for f in files if f.is_file())
        if not files:
            raise DataError(f"corpus folder '{source}' holds no files")
        return files
    if not path.exists():
        raise DataError(f"corpus file '{source}' does not exist")
    if not path.is_file():
        raise DataError(f"corpus '{source}' is not a regular file or folder")
    return [path]


def check_encoding(encoding):
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(f"data.encoding: unknown text encoding '{encoding}' (try utf-8 or latin-1)") from None


_MAGIC = (  # how common binary files begin
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive (or a .docx/.xlsx/.epub inside one)"),
    (b"\x1f\x8b", "a gzip file"), (b"BZh", "a bzip2 file"), (b"\xfd7zXZ", "an xz file"),
    (b"7z\xbc\xaf", "a 7-Zip archive"), (b"\x7fELF", "a program (ELF)"), (b"SQLite format 3", "an SQLite database"),
    (b"RIFF", "a RIFF file (WAV/AVI/WebP)"), (b"ID3", "an MP3 file"), (b"OggS", "an Ogg file"),
    (b"\x93NUMPY", "a NumPy array"), (b"\xd0\xcf\x11\xe0", "an old Office document"),
)
_ZERO_BYTE_ENCODINGS = ("utf-16", "utf16", "utf-32", "utf32", "utf_16", "utf_32")


def check_text(path, head: bytes, encoding: str) -> None:
    """Refuse a file whose first bytes show that it is not text (a known binary format, or a
    NUL byte, which text in an 8-bit or UTF-8 encoding never holds)."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise DataError(f"corpus file '{path}' is not text: it looks like {what}; "
                            "lstmgen trains on plain text, CSV or JSON-lines files")
    if b"\x00" in head and not encoding.lower().replace("-", "_").startswith(tuple(
            e.replace("-", "_") for e in _ZERO_BYTE_ENCODINGS)):
        raise DataError(f"corpus file '{path}' is not text: it holds NUL bytes (offset {head.index(0)}); "
                        "lstmgen trains on plain text, CSV or JSON-lines files")


def _read_text(path, encoding, errors="strict"):
    """The decoded text of one file; a binary file is refused, a bad byte reported with its offset."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise DataError(f"cannot read corpus file '{path}': {e.strerror or e}") from None
    check_text(path, data[:8192], encoding)
    try:
        text = data.decode(encoding, errors)
    except UnicodeDecodeError as e:
        raise DataError(
            f"corpus file '{path}' is not valid {encoding}: byte 0x{data[e.start]:02x} at offset {e.start} "
            f"cannot be decoded; set data.encoding to the file's encoding (e.g. --set data.encoding=latin-1), "
            f"or replace bad bytes with --set data.encoding_errors=replace"
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def _file_documents(path, fmt, encoding, errors):
    """The documents of one file: its whole text, or one per row of a CSV/TSV/JSON-lines file."""
    text = _read_text(path, encoding, errors)
    suffix = path.suffix.lower()
    if suffix in TABLE_SUFFIXES:
        return _csv_documents(path, text, fmt, fmt["delimiter"] or ("\t" if suffix == ".tsv" else ","))
    if suffix in JSONL_SUFFIXES:
        return _jsonl_documents(path, text, fmt)
    fmt["records"] += 1
    return [text]


_FIELD = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def _template_fields(template):
    """The names ``{...}`` in ``template``; a lone brace or an empty name is a ConfigError."""
    names = []
    for m in _FIELD.finditer(template):
        if m.group(0) in ("{", "}") or m.group(1) == "":
            raise ConfigError(f"data.template {template!r}: a lone brace or an empty {{}}; "
                              f"write {{name}} for a field and {{{{ or }}}} for a literal brace")
        if m.group(1) is not None:
            names.append(m.group(1))
    if not names:
        raise ConfigError(f"data.template {template!r} names no field; write e.g. '{{title}}: {{body}}'")
    return names


def _fill(template, values):
    """``template`` with each ``{name}`` replaced by ``values[name]``."""
    return _FIELD.sub(lambda m: m.group(0)[0] if m.group(1) is None else values[m.group(1)], template)


def _jsonl_documents(path, text, fmt):
    """One document per JSON object, from ``json_field`` or ``template``; blank ones skipped."""
    names = fmt["fields"] or ([fmt["json_field"]] if fmt["json_field"] is not None else None)
    documents, seen_keys, found = [], None, set()
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as e:
            raise DataError(f"JSON-lines file '{path}' line {number} is not valid JSON: {e}") from None
        if not isinstance(record, dict):
            raise DataError(f"JSON-lines file '{path}' line {number} is not a JSON object")
        fmt["records"] += 1
        if seen_keys is None:
            seen_keys = list(record)
        if names is None:
            raise DataError(f"JSON-lines file '{path}' holds objects with fields {', '.join(map(repr, seen_keys))}; "
                            f"say which one holds the text with data.json_field (or data.template)")
        values = {}
        for name in names:
            value = record.get(name)
            found.update([name] if name in record else [])
            values[name] = "" if value is None else value if isinstance(value, str) else json.dumps(value)
        if any(v.strip() for v in values.values()):
            documents.append(_fill(fmt["template"], values) if fmt["template"] is not None else values[names[0]])
    missing = [name for name in names or [] if name not in found]
    if missing and seen_keys is not None:
        hint = difflib.get_close_matches(missing[0], seen_keys, n=1)
        did_you_mean = f"; did you mean '{hint[0]}'?" if hint else ""
        raise DataError(f"JSON-lines file '{path}' has no field '{missing[0]}' in any object; "
                        f"its fields are {', '.join(map(repr, seen_keys))}{did_you_mean}")
    return documents


def _csv_documents(path, text, fmt, delimiter):
    """One document per row, from the chosen column; the first row is the header."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    old_limit = csv.field_size_limit(2**31 - 1)  # long documents in one field are normal here
    try:
        rows = list(reader)
    except csv.Error as e:
        raise DataError(f"CSV file '{path}' cannot be parsed at line {reader.line_num}: {e}") from None
    finally:
        csv.field_size_limit(old_limit)
    if not rows:
        raise DataError(f"CSV file '{path}' is empty; expected a header row and one row per document")
    header, body = rows[0], rows[1:]
    fmt["records"] += len(body)
    if fmt["template"] is None:
        index = _csv_column_index(path, header, fmt["column"])
        return [row[index] for row in body if index < len(row) and row[index].strip()]
    indices = {name: _csv_column_index(path, header, name, "data.template") for name in fmt["fields"]}
    documents = []
    for row in body:
        values = {name: row[i] if i < len(row) else "" for name, i in indices.items()}
        if any(v.strip() for v in values.values()):
            documents.append(_fill(fmt["template"], values))
    return documents


def _csv_column_index(path, header, csv_column, key="data.csv_column"):
    columns = ", ".join(repr(name) for name in header)
    if csv_column is None:
        if len(header) == 1:
            return 0
        raise DataError(
            f"CSV file '{path}' has {len(header)} columns ({columns}); "
            f"say which one holds the text with data.csv_column (a name or 0-based index)"
        )
    if isinstance(csv_column, str) and csv_column.isascii() and csv_column.isdigit():
        csv_column = int(csv_column)
    if isinstance(csv_column, int):
        if not 0 <= csv_column < len(header):
            raise DataError(
                f"CSV file '{path}' has {len(header)} columns (0 to {len(header) - 1}: {columns}); "
                f"{key}={csv_column} is out of range"
            )
        return csv_column
    if csv_column in header:
        return header.index(csv_column)
    hint = difflib.get_close_matches(str(csv_column), header, n=1)
    did_you_mean = f"; did you mean '{hint[0]}'?" if hint else ""
    raise DataError(
        f"CSV file '{path}' has no column '{csv_column}' ({key}); its columns are {columns}{did_you_mean}"
    )


# ---------------------------------------------------------------------------------------------
# Built-in corpora


def _builtin_paragraphs(name):
    """The paragraphs of a built-in corpus read as one document split by paragraph."""
    if name not in BUILTIN_CORPORA:
        raise DataError(f"unknown built-in corpus '{name}'; available: " + ", ".join(sorted(BUILTIN_CORPORA)))
    return list(builtin_cache.documents(name))
