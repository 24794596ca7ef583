"""Score a text token by token: log-probabilities, surprisal, and what the model expected.

The text is read as one stream, in one column, from a zero state, exactly as ``eval`` reads a
text with one stream (``evaluate_ids`` with batch size 1):

    ids:      <eod> T h e _ c a t <eod>      (the text as a document, after a start marker)
    targets:        T h e _ c a t <eod>      each scored given everything before it

    logprob   = ln p(target | before)        (nats, <= 0)
    surprisal = -log2 p(target | before)     (bits)
    bits_per_char = summed surprisal / characters of the targets (<eod> counts as one)

Shapes: t targets, V vocabulary size, K expected tokens listed per position.
"""

import math
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np

from .corpus import read_documents
from .errors import DataError
from .sample import log_softmax

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


def read_text_or_file(source: str, encoding: str = "utf-8", csv_column=None) -> List[str]:
    """The documents of ``source``: the file's if it names an existing file (one per row of a
    CSV file), else the text itself."""
    if Path(source).is_dir():
        raise DataError(f"'{source}' is a folder; score takes one text or one file (eval scores folders)")
    if Path(source).is_file():
        return read_documents(source, csv_column=csv_column, encoding=encoding)
    if not source:
        raise DataError("nothing to score: the text is empty")
    return [source]


def score_documents(run, docs: List[str], top: int = 0) -> dict:
    """Score ``docs`` with a loaded run (``loading.Run``), read as one stream: rows and totals."""
    tok = run.tokenizer
    ids = np.concatenate([[tok.eod_id], tok.encode_documents(docs)]).astype(np.int32)
    scores = score_ids(run.model, run.params, ids, top)
    targets = ids[1:]
    surprisal = -scores.logprobs / math.log(2)  # (t,) bits
    rows = []
    for i, (target, logprob, bits) in enumerate(zip(targets, scores.logprobs, surprisal)):
        row = {"token": tok.token_text(int(target)), "logprob": float(logprob), "surprisal_bits": float(bits)}
        if top:
            row["top"] = [{"token": tok.token_text(int(j)), "prob": float(math.exp(lp))}
                          for j, lp in zip(scores.top_ids[i], scores.top_logprobs[i])]
        rows.append(row)
    chars = tok.num_chars(targets)
    total_nats = float(-scores.logprobs.sum())
    return {
        "tokens": rows,
        "num_tokens": len(rows),
        "characters": chars,
        "unknown_characters": int(sum(tok.count_unknown(d) for d in docs)),
        "total_bits": total_nats / math.log(2),
        "bits_per_char": total_nats / math.log(2) / max(1, chars),
        "loss": total_nats / max(1, len(rows)),
    }
