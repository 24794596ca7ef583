"""Tokenizers: text <-> token ids. ``level`` names the kind: "char", "word" or "bpe".

``build_tokenizer`` learns one from the training documents; ``tokenizer_from_dict`` restores
one from the JSON a checkpoint stores (``tokenizer.to_dict()``). Messages of the
``CheckpointError`` it raises are meant to follow a file name ("tokenizer.json: ...").
"""

from __future__ import annotations

from ..errors import CheckpointError, ConfigError
from .base import Tokenizer
from .bpe import BPETokenizer
from .char import CharTokenizer
from .word import WordTokenizer

TOKENIZERS: dict[str, type[Tokenizer]] = {"char": CharTokenizer, "word": WordTokenizer, "bpe": BPETokenizer}

__all__ = ["TOKENIZERS", "Tokenizer", "CharTokenizer", "WordTokenizer", "BPETokenizer", "build_tokenizer", "tokenizer_from_dict",
           "tokenizer_settings"]


def build_tokenizer(level: str, documents: list[str], **settings) -> Tokenizer:
    """A tokenizer of kind ``level`` learnt from ``documents`` (the training split)."""
    if level not in TOKENIZERS:
        raise ConfigError(f"tokenizer.level: unknown level '{level}'; known: {', '.join(TOKENIZERS)}")
    return TOKENIZERS[level].build(documents, **settings)


def tokenizer_settings(section) -> dict:
    """The settings ``build_tokenizer`` takes for ``section.level``, read from the ``tokenizer``
    config section (``section.max_vocab`` ...): only those that kind of tokenizer uses."""
    cls = TOKENIZERS.get(section.level)
    return {name: getattr(section, name) for name in (cls.SETTINGS if cls else ())}


def tokenizer_from_dict(d) -> Tokenizer:
    """The tokenizer described by ``d`` (from ``to_dict``), validated; errors are CheckpointError."""
    if not isinstance(d, dict):
        raise CheckpointError(f"expected a JSON object describing a tokenizer, got {type(d).__name__}")
    level = d.get("level")
    if not isinstance(level, str) or level not in TOKENIZERS:
        raise CheckpointError(f"unknown tokenizer level {level!r}; known: {', '.join(TOKENIZERS)}")
    return TOKENIZERS[level].from_dict(d)
