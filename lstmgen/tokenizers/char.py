"""Character-level tokenizer: one token per Unicode code point.

The vocabulary is ``[<unk>, <eod>]`` followed by every character of the training documents,
sorted by code point, so the same documents always give the same ids. Any Unicode text works:
Chinese, accented letters, emoji. A token is a code point, not what a reader sees as one
character: "é" written as "e" + combining accent is two tokens, and a combined emoji such as a
family (several emoji joined by U+200D ZERO WIDTH JOINER) is several tokens.

Characters not seen in training (unseen characters):

- ``encode`` maps each of them to ``<unk>`` (id 0); a prime given to ``sample`` that contains
  them is encoded the same way;
- ``count_unknown`` says how many there are, and ``eval`` reports that number;
- sampling never emits ``<unk>``: the sampler masks its probability to zero.

Encoding works on arrays: the text becomes its code points (via UTF-32), which index a lookup
table from code point to id; decoding is the reverse table. Both are whole-array operations,
with no Python loop over the characters.
"""

from __future__ import annotations

import numpy as np

from ..errors import CheckpointError, ConfigError
from .base import Tokenizer


def _code_points(text: str) -> np.ndarray:
    """The code points of ``text`` as uint32, shape (len(text),); lone surrogates pass through."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


class CharTokenizer(Tokenizer):
    level = "char"

    def __init__(self, vocab: list[str]):
        super().__init__(vocab)
        chars = self.vocab[2:]
        codes = _code_points("".join(chars)).astype(np.int64)  # (V - 2,)
        # Code point -> id, unk_id for code points outside the vocabulary.
        self._ids_of_code = np.full(int(codes.max()) + 1 if codes.size else 1, self.unk_id, dtype=np.int32)
        self._ids_of_code[codes] = np.arange(2, self.vocab_size, dtype=np.int32)
        # Id -> code point of the text it decodes to.
        self._code_of_id = np.concatenate([[0xFFFD, ord("\n")], codes]).astype(np.uint32)  # (V,)
        # Id -> UTF-8 length of its character: 1 below 0x80, 2 below 0x800, 3 below 0x10000, else 4;
        # <unk> and <eod> count one byte.
        self._bytes_of_id = 1 + (codes >= 0x80) + (codes >= 0x800) + (codes >= 0x10000)
        self._bytes_of_id = np.concatenate([[1, 1], self._bytes_of_id]).astype(np.int64)  # (V,)

    @classmethod
    def build(cls, documents: list[str], **settings) -> CharTokenizer:
        """Vocabulary: the specials, then every character of ``documents`` by code point."""
        if settings:
            raise ConfigError(f"the char tokenizer takes no settings, got: {', '.join(sorted(settings))}")
        chars = set()
        for doc in documents:
            chars.update(doc)
        return cls([cls.UNK, cls.EOD] + sorted(chars))

    def encode(self, text: str) -> np.ndarray:
        codes = _code_points(text)  # (len,)
        table = self._ids_of_code
        inside = codes < len(table)
        return np.where(inside, table[np.where(inside, codes, 0)], self.unk_id).astype(np.int32)

    def encode_documents(self, documents: list[str]) -> np.ndarray:
        # Encode all documents at once, then insert eod_id after each one.
        ids = self.encode("".join(documents))
        ends = np.cumsum([len(doc) for doc in documents], dtype=np.int64)
        return np.insert(ids, ends, self.eod_id).astype(np.int32, copy=False)

    def decode(self, ids) -> str:
        return self._code_of_id[self._check_ids(ids)].tobytes().decode("utf-32-le", "surrogatepass")

    def count_unknown(self, text: str) -> int:
        return int(np.count_nonzero(self.encode(text) == self.unk_id))

    def num_chars(self, ids) -> int:
        return int(self._check_ids(ids).size)

    def num_bytes(self, ids) -> int:
        return int(self._bytes_of_id[self._check_ids(ids)].sum())

    @classmethod
    def _check_vocab(cls, vocab) -> list[str]:
        vocab = super()._check_vocab(vocab)
        bad = next((t for t in vocab[2:] if len(t) != 1), None)
        if bad is not None:
            raise CheckpointError(f"a char vocabulary holds single characters, but it lists {bad!r}")
        return vocab
