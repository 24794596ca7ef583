"""Word-level tokenizer: the classic word language model's vocabulary of frequent words.

Text is cut into tokens by one regular expression (``TOKEN``):

- a *word* is a run of letters, digits and underscores, which may hold apostrophes between
  its parts ("don't", "rock'n'roll" are one word each);
- every other visible character is a token of its own, so punctuation is split from words
  ("end." is "end", ".");
- a line break is a token ("\\n"), so paragraphs and verse lines survive;
- other whitespace (spaces, tabs, carriage returns) only separates tokens and is dropped.

With ``tokenizer.lowercase`` the text is lowercased first. The vocabulary is ``<unk>``,
``<eod>``, then the training split's tokens seen at least ``tokenizer.min_freq`` times, most
frequent first (ties in code-point order), up to ``tokenizer.max_vocab`` entries in all. Every
other token becomes ``<unk>``. ``<eod>`` ends each document, so in a stream it also marks
where the next one starts: with one short document per CSV row (the classic setup) it is the
sentence start and end token.

Decoding rejoins tokens readably (``Spacer``): one space between tokens, none before closing
punctuation (``. , ; : ! ? ) ] } %``), none after opening brackets, none around a line break,
and a straight double quote hugs the text it opens or closes. Whitespace other than line
breaks is therefore normalised, and ``encode(decode(ids)) == ids`` for any ids without
``<unk>``: the decoded text tokenizes back to the same tokens.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from ..errors import CheckpointError, ConfigError
from .base import StreamDecoder, Tokenizer

TOKEN = re.compile(r"\n|\w+(?:['\u2019]\w+)*|[^\w\s]")
NO_SPACE_BEFORE = frozenset(".,;:!?)]}%\u2026\u201d\u2019")
NO_SPACE_AFTER = frozenset("([{\u201c\u2018\u00bf\u00a1")


class WordTokenizer(Tokenizer):
    level = "word"
    SETTINGS = ("max_vocab", "min_freq", "lowercase")

    def __init__(self, vocab: list[str], lowercase: bool = False):
        super().__init__(vocab)
        self.lowercase = lowercase
        self._ids = {token: i for i, token in enumerate(self.vocab)}
        del self._ids[self.UNK], self._ids[self.EOD]  # the text "<unk>" is three tokens, not a special

    @classmethod
    def build(cls, documents: list[str], *, max_vocab: int = 8000, min_freq: int = 1,
              lowercase: bool = False) -> WordTokenizer:
        """The ``max_vocab - 2`` most frequent tokens of ``documents`` seen ``min_freq`` times or more."""
        if max_vocab < 3:
            raise ConfigError(f"tokenizer.max_vocab must be at least 3 (two special tokens and a word), got {max_vocab}")
        counts = Counter()
        for doc in documents:
            counts.update(TOKEN.findall(doc.lower() if lowercase else doc))
        ranked = sorted((token for token, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        return cls([cls.UNK, cls.EOD] + ranked[: max_vocab - 2], lowercase=lowercase)

    def tokens(self, text: str) -> list[str]:
        """The token texts of ``text`` (lowercased when the tokenizer lowercases)."""
        return TOKEN.findall(text.lower() if self.lowercase else text)

    def encode(self, text: str) -> np.ndarray:
        get = self._ids.get
        return np.array([get(token, self.unk_id) for token in self.tokens(text)], dtype=np.int32)

    def count_unknown(self, text: str) -> int:
        """Characters of ``text`` in tokens outside the vocabulary."""
        return sum(len(token) for token in self.tokens(text) if token not in self._ids)

    def decode(self, ids) -> str:
        spacer = Spacer(self)
        return "".join(spacer.feed(i) for i in self._check_ids(ids))

    def stream_decoder(self, prime: str = "") -> Spacer:
        spacer = Spacer(self)
        for i in self.encode(prime):
            spacer.feed(i)
        return spacer

    def num_chars(self, ids) -> int:
        """Characters of the decoded text (words, the spaces between them, punctuation)."""
        return len(self.decode(ids))

    def num_bytes(self, ids) -> int:
        return len(self.decode(ids).encode("utf-8", "surrogatepass"))

    def to_dict(self) -> dict:
        return {"level": self.level, "lowercase": self.lowercase, "vocab": list(self.vocab)}

    @classmethod
    def from_dict(cls, d: dict) -> WordTokenizer:
        super().from_dict(d)  # checks the level and the vocabulary
        lowercase = d.get("lowercase", False)
        if not isinstance(lowercase, bool):
            raise CheckpointError(f"\"lowercase\" must be true or false, got {lowercase!r}")
        return cls(d["vocab"], lowercase=lowercase)

    @classmethod
    def _check_vocab(cls, vocab) -> list[str]:
        vocab = super()._check_vocab(vocab)
        bad = next((t for t in vocab[2:] if TOKEN.fullmatch(t) is None), None)
        if bad is not None:
            raise CheckpointError(f"a word vocabulary holds single tokens, but it lists {bad!r}")
        return vocab


class Spacer(StreamDecoder):
    """Joins word tokens readably, one at a time (the rules are in the module docstring)."""

    def __init__(self, tokenizer: WordTokenizer):
        super().__init__(tokenizer)
        self.previous = None  # the previous token's text; None at the start of a line
        self.quote_open = False  # a straight double quote was opened and not yet closed

    def feed(self, id: int) -> str:
        text = self.tokenizer.token_text(int(id))
        if text == "\n":
            self.previous, self.quote_open = None, False
            return text
        space = self.previous is not None and self.previous not in NO_SPACE_AFTER and text not in NO_SPACE_BEFORE
        if text == '"':
            space = space and not self.quote_open  # a closing quote hugs the text before it
            self.quote_open = not self.quote_open
            self.previous = "(" if self.quote_open else text  # an opening quote hugs the text after it
        else:
            self.previous = text
        return " " + text if space else text
