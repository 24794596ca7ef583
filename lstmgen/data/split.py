"""How a corpus is split into training and validation text: one rule for every path.

Both the in-memory corpus (``corpus.load_corpus``) and the token cache (``token_cache``, which
streams plain text files from disk) call ``split_corpus``; they differ only in how they look
at a document (a string, or a byte range of a file), which they pass in as three functions.

- Documents that hold no non-whitespace text are dropped; a corpus left with none is an error.
- Two or more documents: whole documents go to validation, ``round(n * val_fraction)`` of them
  (at least one when ``val_fraction > 0``; always at least one left for training), chosen by
  ``np.random.default_rng(0).permutation``; each split keeps the original order.
- One document: it is cut after a line break (``\\n``). Validation gets its last
  ``round(lines * val_fraction)`` lines (at least one when ``val_fraction > 0``), where a line
  ends after each line break and text after the last one is a line too. The cut moves so
  that both sides hold some non-whitespace text; where no cut can do that (one line of
  text), validation is empty.
"""

from typing import Callable, Optional

import numpy as np

from ..errors import DataError


def is_blank(text: str) -> bool:
    """True for a document with no non-whitespace text (dropped by every path)."""
    return not text.strip()


def keep_text(source: str, documents: list, blank: Callable = is_blank) -> list:
    """The documents that hold some text, in order; a ``DataError`` when none does."""
    kept = [doc for doc in documents if not blank(doc)]
    if not kept:
        raise DataError(f"corpus '{source}' is empty: it holds no text, only whitespace")
    return kept


def split_corpus(source: str, documents: list, val_fraction: float, *, blank: Callable = is_blank,
                 lines: Optional[Callable] = None, cut: Optional[Callable] = None):
    """``(train, val)``: the documents that hold text, split by the rule above.

    ``blank(doc)`` tells a document without text; for the single-document cut, ``lines(doc)``
    gives ``(number of lines, index of the first line with text, index of the last)`` and
    ``cut(doc, k)`` its first ``k`` lines and the rest, as two documents. The defaults read
    strings.
    """
    kept = keep_text(source, documents, blank)
    if len(kept) >= 2:
        return split_documents(kept, val_fraction)
    (doc,) = kept
    k = training_lines(*(lines or text_lines)(doc), val_fraction)
    if k is None:
        return [doc], []
    head, tail = (cut or cut_text)(doc, k)
    return [head], [tail]


def split_documents(documents: list, val_fraction: float):
    """Whole documents to validation: a fixed pseudo-random choice, original order kept."""
    n = len(documents)
    n_val = round(n * val_fraction)
    if val_fraction > 0:
        n_val = max(n_val, 1)
    n_val = min(n_val, n - 1)
    in_val = np.zeros(n, dtype=bool)
    in_val[np.random.default_rng(0).permutation(n)[:n_val]] = True
    train = [doc for doc, v in zip(documents, in_val) if not v]
    val = [doc for doc, v in zip(documents, in_val) if v]
    return train, val


def training_lines(num_lines: int, first_text: int, last_text: int, val_fraction: float) -> Optional[int]:
    """How many leading lines of a single document go to training, or None for no cut.

    Training must keep line ``first_text`` and validation get line ``last_text`` (the first
    and last lines holding non-whitespace text), so a cut keeps ``first_text < k <= last_text``.
    """
    if val_fraction == 0 or first_text >= last_text:
        return None
    n_val = max(1, round(num_lines * val_fraction))
    return min(max(num_lines - n_val, first_text + 1), last_text)


def text_lines(text: str):
    """``(lines, first line with text, last line with text)`` of a string that holds text."""
    first = len(text) - len(text.lstrip())  # index of the first non-whitespace character
    last = len(text.rstrip()) - 1  # and of the last
    num_lines = text.count("\n") + (not text.endswith("\n"))
    return num_lines, text.count("\n", 0, first), text.count("\n", 0, last)


def cut_text(text: str, k: int):
    """The first ``k`` lines of ``text`` and the rest."""
    at = -1
    for _ in range(k):
        at = text.find("\n", at + 1)
    return text[: at + 1], text[at + 1:]
