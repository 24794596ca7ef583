"""How a text is read for scoring, and how its loss becomes bits: one definition for training,
``eval``, ``score`` and the insight pages.

- ``text_ids``: <eod> as a start marker, then each document followed by <eod>; every id
  after the first is a target.
- ``text_size``: the characters and UTF-8 bytes those targets stand for: each document's, and
  one of each for every closing <eod> (the divisors of bits per character and per byte).
- ``bits`` and ``bits_per_char``: nats in bits (÷ ln 2), and spread over characters.
"""

import math
from typing import List, Tuple

import numpy as np


def text_ids(tokenizer, docs: List[str]) -> np.ndarray:
    """The ids ``score`` and ``eval`` read (int32): <eod> as a start marker, then each document
    followed by <eod>. Every id after the first is a target."""
    return tokenizer.after_eod(tokenizer.encode_documents(docs))


def text_size(docs: List[str]) -> Tuple[int, int]:
    """Characters and UTF-8 bytes of the targets of ``text_ids(docs)``: each document's, and
    one of each for every closing <eod> (the divisors of bits per character and per byte)."""
    chars = sum(len(d) for d in docs) + len(docs)
    num_bytes = sum(len(d.encode("utf-8", "surrogatepass")) for d in docs) + len(docs)
    return chars, num_bytes


def bits(nats):
    """Nats (a number or an array) in bits."""
    return nats / math.log(2)


def bits_per_char(nats: float, chars: float) -> float:
    """``nats`` of loss over a text of ``chars`` characters (> 0) in bits per character: the
    same on every tokenizer, so runs with different tokenizers compare."""
    return bits(nats) / chars
