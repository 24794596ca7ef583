"""Novelty: how much of what a model generates is not copied from its training text.

For each n, the fraction of the samples' n-grams (runs of n tokens; characters for a char
tokenizer) that occur nowhere in the training token stream. 1.0 is all new text; 0.0 is
all memorised. Short n-grams are expected to repeat (common words); long ones should not.

The index hashes every n-gram of the training stream to one 64-bit number, for all
positions at once, by Horner's rule over the n offsets (arithmetic wraps modulo 2^64):

    h(i) = (...((ids[i] B + ids[i+1]) B + ids[i+2]) ...) B + ids[i+n-1]

and keeps the sorted unique hashes per n; a lookup is a binary search. Two different
n-grams share a hash with probability about 2^-64 per pair, which could only make a new
n-gram look copied (novelty slightly under-reported), never the reverse.

Shapes: t tokens of a stream, n the n-gram length.
"""

from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

BASE = np.uint64(1_000_003)  # an odd multiplier larger than any vocabulary
DEFAULT_NS = (5, 10, 20, 50)


def ngram_hashes(ids: np.ndarray, n: int) -> np.ndarray:
    """The hash of every n-gram of ids (t,): (t - n + 1,) uint64 (empty when t < n)."""
    ids = np.asarray(ids, dtype=np.uint64) + np.uint64(1)  # (t,) +1: a leading id 0 still counts
    count = len(ids) - n + 1
    if count <= 0:
        return np.zeros(0, np.uint64)
    h = np.zeros(count, np.uint64)  # (t-n+1,)
    for j in range(n):
        h = h * BASE + ids[j: j + count]  # uint64 arrays wrap modulo 2^64 silently
    return h


class NgramIndex:
    """The n-grams of one token stream, for each n in ``ns``: ``index.contains(ids, n)``."""

    def __init__(self, ids: np.ndarray, ns: Sequence[int]):
        self.hashes = {n: np.unique(ngram_hashes(ids, n)) for n in ns}  # sorted (distinct,) uint64

    def contains(self, ids: np.ndarray, n: int) -> np.ndarray:
        """For each n-gram of ids (t,): whether it occurs in the indexed stream, (t - n + 1,) bool."""
        table, queries = self.hashes[n], ngram_hashes(ids, n)
        at = np.minimum(np.searchsorted(table, queries), max(0, len(table) - 1))
        return (table[at] == queries) if len(table) else np.zeros(len(queries), bool)


def novelty(index: NgramIndex, samples: Sequence[np.ndarray], ns: Sequence[int]) -> Dict[int, dict]:
    """Per n: how many n-grams the samples hold and the fraction of them not in the index."""
    out = {}
    for n in ns:
        found = [index.contains(s, n) for s in samples]
        total = int(sum(len(f) for f in found))
        new = int(sum(int((~f).sum()) for f in found))
        out[n] = {"ngrams": total, "novel": new, "fraction_novel": new / total if total else None}
    return out


def novelty_run(run_dir, *, ns: Sequence[int] = DEFAULT_NS, num_samples: int = 10, length: int = 500,
                temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0, seed: Optional[int] = None,
                which: str = "best") -> dict:
    """Sample from a run and measure the novelty of the samples against its training split."""
    from ..data.corpus import load_configured_corpus
    from ..runs.loading import read_run
    from ..generation.sampling import Settings, sample_steps

    run = read_run(Path(run_dir), which)
    d, tok = run.config.data, run.tokenizer
    train_docs = load_configured_corpus(d).train  # every data option, as in training
    index = NgramIndex(tok.encode_documents(train_docs), ns)
    steps = sample_steps(run.model, run.params, np.array([tok.eod_id], np.int32),
                         settings=Settings(temperature, top_k, top_p), num_samples=num_samples,
                         rng=np.random.default_rng(seed), banned=[tok.unk_id], length=length)
    ids = np.stack([s.ids for s in steps], axis=1) if length else np.zeros((num_samples, 0), np.int32)  # (M, L)
    return {"run_dir": str(run_dir), "checkpoint": run.path.name, "corpus": d.corpus,
            "num_samples": num_samples, "length": length, "novelty": novelty(index, list(ids), ns)}
