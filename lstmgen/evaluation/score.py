"""Score a text token by token: log-probabilities, surprisal, and what the model expected.

``score`` and ``eval`` read a text the same way (``metrics.text_ids``): a start marker, then each
document followed by <eod>; every id after the start marker is a target, scored given
everything before it, from a zero state:

    ids:      <eod> T h e _ c a t <eod>      (the text as a document, after a start marker)
    targets:        T h e _ c a t <eod>      each scored given everything before it

    logprob   = ln p(target | before)        (nats, <= 0)
    surprisal = -log2 p(target | before)     (bits)
    bits_per_char = summed surprisal / characters of the text (``metrics.text_size``: each
                    document's characters, and one for each closing <eod>)

``score`` reads it in one stream; ``eval`` with ``--batch-size 1`` does the same and gives
the same total. ``eval`` with N streams scores the same targets, cut into N columns that each
start from a zero state (``batches.eval_windows``).

Shapes: t targets, V vocabulary size, K expected tokens listed per position.
"""

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np

from ..data.corpus import check_format_options, read_documents
from ..errors import ConfigError, DataError
from ..generation.sampling import log_softmax
from .metrics import bits, bits_per_char, text_ids, text_size

CHUNK = 256  # tokens read per call of the model: bounds the memory of the logits to CHUNK x V


@dataclass
class Scores:
    logprobs: np.ndarray  # (t,) ln p of each target
    top_ids: Optional[np.ndarray]  # (t, K) the K most likely tokens at each position, or None
    top_logprobs: Optional[np.ndarray]  # (t, K) their log-probabilities


def score_ids(model, params, ids: np.ndarray, top: int = 0) -> Scores:
    """Log-probability of every ``ids[1:]`` given the ids before it, read in one stream."""
    ids = np.asarray(ids, np.int32)
    state = model.init_state(1)
    logprobs, top_ids, top_logprobs = [], [], []
    for t0 in range(0, len(ids) - 1, CHUNK):
        x = ids[t0: t0 + CHUNK]  # (c,)
        y = ids[t0 + 1: t0 + CHUNK + 1]  # (c,) the same positions shifted by one
        x = x[: len(y)]
        logits, state = model.logits(params, x[:, None], state)  # (c, V)
        logp = log_softmax(logits)  # (c, V)
        logprobs.append(logp[np.arange(len(y)), y])
        if top:
            order = np.argsort(-logp, axis=1, kind="stable")[:, :top]  # (c, K)
            top_ids.append(order)
            top_logprobs.append(np.take_along_axis(logp, order, axis=1))
    if not logprobs:
        return Scores(np.zeros(0), None, None)
    return Scores(np.concatenate(logprobs), np.concatenate(top_ids) if top else None,
                  np.concatenate(top_logprobs) if top else None)


def looks_like_a_path(text: str) -> bool:
    """Whether a TEXT_OR_FILE argument reads as a file name: one word (no whitespace) with a
    path separator or a file extension (``notes.txt``, ``data/rows``, ``a.jsonl``)."""
    if not text or len(text) >= 256 or any(c.isspace() for c in text):
        return False
    return "/" in text or "\\" in text or bool(re.fullmatch(r"\.[A-Za-z][A-Za-z0-9]{0,7}", Path(text).suffix))


def read_text_or_file(source: str, encoding: str = "utf-8", csv_column=None) -> List[str]:
    """The documents of ``source``: the file's if it names an existing file (one per row of a
    CSV file), else the text itself. A name that looks like a path (``looks_like_a_path``) but
    names no file is a ``DataError``, as a missing corpus is for ``train``: a typo in a file
    name must not be scored as a text."""
    if not source:
        raise DataError("nothing to score: the text is empty")
    try:
        kind = "folder" if Path(source).is_dir() else "file" if Path(source).is_file() else None
    except (OSError, ValueError):  # too long, or a NUL byte, for a path: it is text
        kind = None
    if kind == "folder":
        raise DataError(f"'{source}' is a folder; score takes one text or one file (eval scores folders)")
    if csv_column is not None:
        if kind is None:
            raise ConfigError("data.csv_column is set, but what is scored is a text, not a CSV or TSV file; "
                              "drop data.csv_column")
        check_format_options(source, csv_column=csv_column, files=[Path(source)])
    if kind == "file":
        return read_documents(source, csv_column=csv_column, encoding=encoding)
    if looks_like_a_path(source):
        raise DataError(f"there is no file '{source}' (a word with a / or a file extension names a file; "
                        "a text to read as it is has a space in it)")
    return [source]


def cut_documents(docs: List[str], max_chars: Optional[int]) -> Tuple[List[str], int]:
    """The documents cut to their first ``max_chars`` characters in all (None: kept whole), and
    how many characters they held before the cut."""
    total = sum(len(d) for d in docs)
    if max_chars is None or total <= max_chars:
        return docs, total
    kept, left = [], max_chars
    for d in docs:
        if left <= 0:
            break
        kept.append(d[:left])
        left -= len(d)
    return kept, total


def score_documents(run, docs: List[str], top: int = 0) -> dict:
    """Score ``docs`` with a loaded run (``loading.Run``), read as one stream: rows and totals."""
    tok = run.tokenizer
    ids = text_ids(tok, docs)
    scores = score_ids(run.model, run.params, ids, top)
    targets = ids[1:]
    surprisal = bits(-scores.logprobs)  # (t,)
    rows = []
    for i, (target, logprob, surprisal_bits) in enumerate(zip(targets, scores.logprobs, surprisal)):
        row = {"token": tok.token_name(int(target)), "logprob": float(logprob), "surprisal_bits": float(surprisal_bits)}
        if top:
            row["top"] = [{"token": tok.token_name(int(j)), "prob": float(math.exp(lp))}
                          for j, lp in zip(scores.top_ids[i], scores.top_logprobs[i])]
        rows.append(row)
    chars, _ = text_size(docs)
    total_nats = float(-scores.logprobs.sum())
    return {
        "tokens": rows,
        "num_tokens": len(rows),
        "characters": chars,
        "unknown_characters": int(sum(tok.count_unknown(d) for d in docs)),
        "total_bits": bits(total_nats),
        "bits_per_char": bits_per_char(total_nats, max(1, chars)),
        "loss": total_nats / max(1, len(rows)),
    }
