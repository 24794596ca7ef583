"""The byte-level BPE tokenizer: exact round trip of any text, merges against a naive learner,
determinism, byte fallback, measures, JSON round trip and validation."""

import json
from collections import Counter

import numpy as np
import pytest

from lstmgen.errors import CheckpointError, ConfigError
from lstmgen.tokenizers import BPETokenizer, build_tokenizer, tokenizer_from_dict
from lstmgen.tokenizers.bpe import CHUNK, FIRST_MERGE, learn_merges

TEXT = "the cat sat on the mat; the cat ran. Thé café, 中文中文 and 😀😀 again: 123456 the_end\n" * 5


def naive_merges(chunks, num_merges):
    """The definition: recount every pair of every chunk, merge the most frequent (smallest on ties)."""
    words = {chunk: [b + 2 for b in chunk.encode("utf-8")] for chunk in chunks}
    merges = []
    while len(merges) < num_merges:
        counts = Counter()
        for chunk, ids in words.items():
            for pair in zip(ids, ids[1:]):
                counts[pair] += chunks[chunk]
        if not counts or max(counts.values()) < 2:
            break
        best = min(counts, key=lambda p: (-counts[p], p))
        new = FIRST_MERGE + len(merges)
        merges.append(best)
        for chunk, ids in words.items():
            out, i = [], 0
            while i < len(ids):
                if ids[i : i + 2] == list(best):
                    out.append(new)
                    i += 2
                else:
                    out.append(ids[i])
                    i += 1
            words[chunk] = out
    return merges


def test_incremental_learner_equals_the_naive_definition():
    chunks = Counter(CHUNK.findall(TEXT + "aaaa aaa banana bananas"))
    assert learn_merges(chunks, 60) == naive_merges(chunks, 60)


def test_vocabulary_layout_and_exact_round_trip():
    tok = build_tokenizer("bpe", [TEXT], vocab_size=300)
    assert isinstance(tok, BPETokenizer) and tok.vocab[:2] == ["<unk>", "<eod>"]
    assert tok.vocab[2:258] == [chr(b) for b in range(256)] and 258 < tok.vocab_size <= 300
    assert " the" in tok.vocab and " cat" in tok.vocab
    ids = tok.encode(TEXT)
    assert ids.dtype == np.int32 and len(ids) < len(TEXT.encode()) / 2
    assert tok.decode(ids) == TEXT


def test_byte_fallback_for_unseen_scripts():
    tok = build_tokenizer("bpe", ["plain ascii only"], vocab_size=270)
    text = "Ελληνικά, русский, 日本語 🙂"
    ids = tok.encode(text)
    assert tok.unk_id not in ids and tok.count_unknown(text) == 0
    assert tok.decode(ids) == text and len(ids) == len(text.encode())


def test_learning_is_deterministic():
    a = build_tokenizer("bpe", [TEXT, "more text here"], vocab_size=320)
    b = build_tokenizer("bpe", [TEXT, "more text here"], vocab_size=320)
    assert a.to_dict() == b.to_dict()


def test_chars_and_bytes_and_streaming_of_split_characters():
    tok = build_tokenizer("bpe", [TEXT], vocab_size=258)  # bytes only: every multi-byte character is split
    text = "é中😀x"
    ids = tok.encode_documents([text])
    assert tok.num_chars(ids) == len(text) + 1 and tok.num_bytes(ids) == len(text.encode()) + 1
    decoder = tok.stream_decoder()
    pieces = [decoder.feed(i) for i in ids]
    assert "".join(pieces) == text + "\n" and "" in pieces  # incomplete characters are held back


def test_json_round_trip_and_validation():
    tok = build_tokenizer("bpe", [TEXT], vocab_size=290)
    d = json.loads(json.dumps(tok.to_dict()))
    again = tokenizer_from_dict(d)
    assert again == tok and again.encode(TEXT).tolist() == tok.encode(TEXT).tolist()
    bad_pair = dict(d, merges=[[5, 9999]] + d["merges"][1:])
    wrong_vocab = dict(d, vocab=d["vocab"][:-1] + ["zz"])
    for broken, message in [(dict(d, merges=d["merges"][:-1]), "merges"), (bad_pair, "pair of ids"),
                            (wrong_vocab, "does not match"), (dict(d, vocab=d["vocab"][:100]), "256 single bytes")]:
        with pytest.raises(CheckpointError, match=message):
            tokenizer_from_dict(broken)


def test_vocab_size_below_the_bytes_is_a_config_error():
    with pytest.raises(ConfigError, match="tokenizer.vocab_size"):
        build_tokenizer("bpe", ["a"], vocab_size=100)
