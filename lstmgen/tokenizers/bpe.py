"""Byte-level byte-pair encoding (BPE): subword tokens learnt from the training split.

Every text is UTF-8 bytes, and the 256 single bytes are always in the vocabulary, so any
string in any script round-trips exactly and nothing is ever ``<unk>`` (byte fallback). The
vocabulary is

    id 0 <unk>, id 1 <eod>, ids 2..257 the bytes 0x00..0xff, then one token per merge

Learning (``build``). The text is first cut into chunks by ``CHUNK``: a run of letters, a run
of up to three digits, a run of other symbols, each with at most one leading space, or a run
of whitespace. Merges never cross a chunk edge, so a token never glues a word to the next one
and each distinct chunk is merged once however often it occurs. Then, ``vocab_size - 258``
times: count every adjacent pair of tokens over all chunks (weighted by how often each chunk
occurs), and replace the most frequent pair by a new token made of the two (ties go to the
smaller pair of ids, so the same text always gives the same merges). Learning stops early when
no pair occurs twice. The pair counts are kept up to date incrementally: a merge only recounts
the chunks that hold the pair (``_where``), and a heap with lazy deletion finds the next best
pair, so learning costs about the size of the distinct chunks, not merges x text.

Encoding applies the learnt merges to each chunk, lowest merge number first (the order they
were learnt), and remembers the result per distinct chunk, so repeated words cost one lookup.

The vocabulary is saved as strings: each token's bytes read as Latin-1 (one character per
byte), with ``merges`` (the pair of ids each merged token joins) beside it.
"""

from __future__ import annotations

import codecs
import heapq
import re
from collections import Counter, defaultdict

import numpy as np

from ..errors import CheckpointError, ConfigError
from .base import StreamDecoder, Tokenizer

CHUNK = re.compile(r" ?[^\W\d_]+| ?\d{1,3}| ?_+| ?[^\s\w]+|\s+(?!\S)|\s+")
NUM_SPECIALS, NUM_BYTES = 2, 256
FIRST_MERGE = NUM_SPECIALS + NUM_BYTES  # id of the first merged token
CACHE_LIMIT = 1 << 20  # distinct chunks remembered by encode before the memory is cleared


class BPETokenizer(Tokenizer):
    level = "bpe"
    SETTINGS = ("vocab_size",)

    def __init__(self, merges: list[tuple[int, int]]):
        pieces = [b"\xef\xbf\xbd", b"\n"] + [bytes([b]) for b in range(NUM_BYTES)]  # what each id decodes to
        for a, b in merges:
            pieces.append(pieces[a] + pieces[b])
        super().__init__([self.UNK, self.EOD] + [p.decode("latin-1") for p in pieces[NUM_SPECIALS:]])
        self.merges = [tuple(m) for m in merges]
        self._pieces = pieces
        self._rank = {pair: FIRST_MERGE + k for k, pair in enumerate(self.merges)}  # pair -> merged id
        self._cache = {}  # chunk -> its ids
        lengths = np.array([len(p) for p in pieces], dtype=np.int64)  # (V,)
        starts = np.array([sum((c & 0xC0) != 0x80 for c in p) for p in pieces], dtype=np.int64)  # (V,)
        lengths[:NUM_SPECIALS] = starts[:NUM_SPECIALS] = 1
        self._bytes_of_id, self._chars_of_id = lengths, starts

    @classmethod
    def build(cls, documents: list[str], *, vocab_size: int = 2000) -> BPETokenizer:
        """Learn up to ``vocab_size - 258`` merges from ``documents``."""
        if vocab_size < FIRST_MERGE:
            raise ConfigError(f"tokenizer.vocab_size must be at least {FIRST_MERGE} (2 specials and 256 bytes), "
                              f"got {vocab_size}")
        chunks = Counter()
        for doc in documents:
            chunks.update(CHUNK.findall(doc))
        return cls(learn_merges(chunks, vocab_size - FIRST_MERGE))

    def _encode_chunk(self, chunk: str) -> list[int]:
        ids = [b + NUM_SPECIALS for b in chunk.encode("utf-8", "surrogatepass")]
        rank = self._rank
        while len(ids) > 1:
            # the pair learnt first among the adjacent pairs, merged everywhere in the chunk
            best = min(zip(ids, ids[1:]), key=lambda pair: rank.get(pair, 1 << 62))
            new = rank.get(best)
            if new is None:
                break
            ids = merge_pair(ids, best, new)
        return ids

    def encode(self, text: str) -> np.ndarray:
        cache, out = self._cache, []
        if len(cache) > CACHE_LIMIT:
            cache.clear()
        for chunk in CHUNK.findall(text):
            ids = cache.get(chunk)
            if ids is None:
                ids = cache[chunk] = self._encode_chunk(chunk)
            out.extend(ids)
        return np.array(out, dtype=np.int32)

    def count_unknown(self, text: str) -> int:
        return 0  # every byte is in the vocabulary

    def token_text(self, id: int) -> str:
        return self._pieces[id].decode("utf-8", "replace")

    def decode(self, ids) -> str:
        return b"".join(self._pieces[i] for i in self._check_ids(ids)).decode("utf-8", "replace")

    def stream_decoder(self, prime: str = "") -> StreamDecoder:
        return _Utf8Stream(self)

    def num_chars(self, ids) -> int:
        """Characters: the bytes that start a UTF-8 sequence (<eod> counts one)."""
        return int(self._chars_of_id[self._check_ids(ids)].sum())

    def num_bytes(self, ids) -> int:
        return int(self._bytes_of_id[self._check_ids(ids)].sum())

    def to_dict(self) -> dict:
        return {"level": self.level, "vocab": list(self.vocab), "merges": [list(m) for m in self.merges]}

    @classmethod
    def from_dict(cls, d: dict) -> BPETokenizer:
        vocab, merges = cls._check_vocab(cls._check_level(d).get("vocab")), d.get("merges")
        if not isinstance(merges, list) or len(merges) != len(vocab) - FIRST_MERGE:
            raise CheckpointError(f"\"merges\" must be a list of {len(vocab) - FIRST_MERGE} pairs of token ids, "
                                  f"one per merged token of \"vocab\"")
        for k, pair in enumerate(merges):
            new = FIRST_MERGE + k
            if not (isinstance(pair, list) and len(pair) == 2 and all(type(i) is int and 0 <= i < new for i in pair)):
                raise CheckpointError(f"merge {k} must be a pair of ids below {new}, got {pair!r}")
        tokenizer = cls([tuple(m) for m in merges])
        if tokenizer.vocab != vocab:
            raise CheckpointError("\"vocab\" does not match the tokens \"merges\" builds")
        return tokenizer

    @classmethod
    def _check_vocab(cls, vocab) -> list[str]:
        vocab = super()._check_vocab(vocab)
        if vocab[NUM_SPECIALS:FIRST_MERGE] != [chr(b) for b in range(NUM_BYTES)]:
            raise CheckpointError("a BPE vocabulary lists the 256 single bytes (as Latin-1) after the specials")
        if any(max(t) > "\xff" for t in vocab[FIRST_MERGE:]):
            raise CheckpointError("a BPE vocabulary holds tokens of bytes written as Latin-1 characters")
        return vocab


class _Utf8Stream(StreamDecoder):
    """Holds back the bytes of a character split across tokens until it is complete."""

    def __init__(self, tokenizer: BPETokenizer):
        super().__init__(tokenizer)
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, id: int) -> str:
        return self._decoder.decode(self.tokenizer._pieces[int(id)])


def merge_pair(ids: list[int], pair: tuple[int, int], new: int) -> list[int]:
    """``ids`` with every occurrence of ``pair``, left to right, replaced by ``new``."""
    merged, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            merged.append(new)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


def learn_merges(chunks: Counter, num_merges: int) -> list[tuple[int, int]]:
    """Up to ``num_merges`` pairs, most frequent first, over ``chunks`` (chunk -> occurrences)."""
    words = [[b + NUM_SPECIALS for b in chunk.encode("utf-8", "surrogatepass")] for chunk in chunks]
    counts = list(chunks.values())
    pair_count = defaultdict(int)  # pair -> occurrences, weighted by chunk counts
    where = defaultdict(set)  # pair -> indices of the words that hold it (maybe stale)
    for w, (ids, n) in enumerate(zip(words, counts)):
        for pair in zip(ids, ids[1:]):
            pair_count[pair] += n
            where[pair].add(w)
    heap = [(-n, pair) for pair, n in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    while len(merges) < num_merges and heap:
        negative, best = heapq.heappop(heap)
        if pair_count.get(best, 0) != -negative:
            continue  # a stale entry: the count changed since it was pushed
        if -negative < 2:
            break  # no pair occurs twice: nothing left worth a token
        new = FIRST_MERGE + len(merges)
        merges.append(best)
        changed = set()
        for w in sorted(where.pop(best)):
            ids, n = words[w], counts[w]
            # take the word's pairs out, merge, and put the new pairs in
            for pair in zip(ids, ids[1:]):
                pair_count[pair] -= n
                changed.add(pair)
            merged = words[w] = merge_pair(ids, best, new)
            for pair in zip(merged, merged[1:]):
                pair_count[pair] += n
                where[pair].add(w)
                changed.add(pair)
        for pair in changed:
            n = pair_count[pair]
            if n > 0:
                heapq.heappush(heap, (-n, pair))
            else:
                del pair_count[pair]
    return merges
