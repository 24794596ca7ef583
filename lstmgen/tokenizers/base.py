"""The tokenizer interface: text <-> int32 token ids, and a JSON form for checkpoints.

Every tokenizer has the same two special tokens, with the same ids, so the model, the trainer
and the sampler never ask which tokenizer they hold:

    id 0  <unk>  stands for text outside the vocabulary; decodes to U+FFFD
    id 1  <eod>  ends every document in a token stream; decodes to "\\n"

A tokenizer is learnt from the training documents (``build``), saved as ``to_dict()`` (JSON
with at least ``"level"`` and ``"vocab"``, the token texts in id order, specials first) and
restored with ``from_dict``. Subclasses (char, word, bpe) set ``level`` and implement
``build``, ``encode`` and ``count_unknown``; the rest works from ``vocab``. ``SETTINGS`` names
the ``tokenizer.*`` config keys a kind reads (``build`` takes exactly those as keywords).

Text is measured two ways so that models with different tokenizers can be compared on the
same text: ``num_chars`` (code points) and ``num_bytes`` (UTF-8 bytes) of the text a run of ids
stands for; ``<eod>`` and ``<unk>`` count one each. ``stream_decoder`` turns ids into text one
at a time, for printing a sample as it is generated.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from ..errors import CheckpointError


class Tokenizer(ABC):
    level: ClassVar[str]  # "char", "word" or "bpe"
    SETTINGS: ClassVar[tuple] = ()  # the tokenizer.* config keys that build() takes
    UNK: ClassVar[str] = "<unk>"
    EOD: ClassVar[str] = "<eod>"
    unk_id: ClassVar[int] = 0
    eod_id: ClassVar[int] = 1

    def __init__(self, vocab: list[str]):
        self.vocab = list(vocab)  # token texts in id order; vocab[0] == UNK, vocab[1] == EOD

    @classmethod
    @abstractmethod
    def build(cls, documents: list[str], **settings) -> Tokenizer:
        """Learn a vocabulary from the training documents."""

    @abstractmethod
    def encode(self, text: str) -> np.ndarray:
        """Token ids of ``text``, int32, shape (len,); text outside the vocabulary -> unk_id."""

    @abstractmethod
    def count_unknown(self, text: str) -> int:
        """How many characters of ``text`` are not in the vocabulary."""

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode_documents(self, documents: list[str]) -> np.ndarray:
        """One int32 token stream: each document's ids followed by eod_id."""
        eod = np.array([self.eod_id], dtype=np.int32)
        parts = [part for doc in documents for part in (self.encode(doc), eod)]
        return np.concatenate(parts).astype(np.int32, copy=False) if parts else np.zeros(0, np.int32)

    def after_eod(self, ids) -> np.ndarray:
        """<eod>, then ``ids`` (int32): how a model reads a text from the start of a document
        (a prime, a conversation's line, a text to score)."""
        return np.concatenate([[self.eod_id], ids]).astype(np.int32)

    def token_text(self, id: int) -> str:
        """The text one token decodes to (used when streaming a sample)."""
        if id == self.unk_id:
            return "\ufffd"
        if id == self.eod_id:
            return "\n"
        return self.vocab[id]

    def token_name(self, id: int) -> str:
        """How a token is shown in a table: ``<eod>`` and ``<unk>`` by name, others as their text."""
        if id == self.unk_id:
            return self.UNK
        if id == self.eod_id:
            return self.EOD
        return self.vocab[id]

    def decode(self, ids) -> str:
        """The text of a sequence of ids; <eod> becomes a newline, <unk> U+FFFD."""
        return "".join(self.token_text(int(i)) for i in self._check_ids(ids))

    def char_lengths(self) -> np.ndarray:
        """(V,) the characters of original text each token stands for (<eod>, <unk>: 1)."""
        return np.array([len(self.token_text(i)) for i in range(self.vocab_size)], dtype=np.int64)

    def num_chars(self, ids) -> int:
        """Characters of original text the ids stand for (<eod> and <unk> count 1 each)."""
        return int(self.char_lengths()[self._check_ids(ids)].sum())

    def num_bytes(self, ids) -> int:
        """UTF-8 bytes of original text the ids stand for (<eod> and <unk> count 1 each)."""
        ids = self._check_ids(ids)
        lengths = np.array([len(self.token_text(i).encode("utf-8", "surrogatepass")) for i in range(self.vocab_size)],
                           dtype=np.int64)
        lengths[[self.unk_id, self.eod_id]] = 1
        return int(lengths[ids].sum())

    def stream_decoder(self, prime: str = "") -> "StreamDecoder":
        """A decoder that turns ids into text one at a time, continuing after ``prime``."""
        return StreamDecoder(self)

    def to_dict(self) -> dict:
        """A JSON-serialisable description; ``from_dict(to_dict())`` gives an equal tokenizer."""
        return {"level": self.level, "vocab": list(self.vocab)}

    @classmethod
    def from_dict(cls, d: dict) -> Tokenizer:
        """The tokenizer ``to_dict`` described; a malformed dict raises ``CheckpointError``."""
        return cls(cls._check_vocab(cls._check_level(d).get("vocab")))

    @classmethod
    def _check_level(cls, d) -> dict:
        """``d`` if it is a dict whose ``level`` is this class's."""
        if not isinstance(d, dict):
            raise CheckpointError(f"expected a JSON object describing a tokenizer, got {type(d).__name__}")
        if d.get("level") != cls.level:
            raise CheckpointError(f"expected \"level\": \"{cls.level}\", got {d.get('level')!r}")
        return d

    @classmethod
    def _check_vocab(cls, vocab) -> list[str]:
        """``vocab`` if it is a list of unique strings with the specials first."""
        if not isinstance(vocab, list) or not all(isinstance(t, str) for t in vocab):
            raise CheckpointError("\"vocab\" must be a list of strings")
        if vocab[:2] != [cls.UNK, cls.EOD]:
            raise CheckpointError(f"\"vocab\" must start with {cls.UNK!r} and {cls.EOD!r}, got {vocab[:2]!r}")
        if len(set(vocab)) != len(vocab):
            seen = set()
            duplicate = next(t for t in vocab if t in seen or seen.add(t))
            raise CheckpointError(f"\"vocab\" lists the token {duplicate!r} twice")
        return vocab

    def _check_ids(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(f"token ids must lie in 0..{self.vocab_size - 1}, got {ids.min()}..{ids.max()}")
        return ids

    def __eq__(self, other) -> bool:
        return type(other) is type(self) and other.to_dict() == self.to_dict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


class StreamDecoder:
    """Text of ids fed one at a time: ``feed(id)`` returns the text to print now (maybe "")."""

    def __init__(self, tokenizer: Tokenizer):
        self.tokenizer = tokenizer

    def feed(self, id: int) -> str:
        return self.tokenizer.token_text(int(id))
