"""Property tests of every tokenizer, on any text hypothesis draws: the round trip, the unknown
characters, the capped word vocabulary, BPE's merges against the naive learner. Skipped as a
whole where hypothesis (the ``test`` extra) is not installed."""

from collections import Counter

import pytest

pytest.importorskip("hypothesis")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from lstmgen.tokenizers import build_tokenizer  # noqa: E402
from lstmgen.tokenizers.bpe import CHUNK, FIRST_MERGE  # noqa: E402
from tests.test_bpe_tokenizer import TEXT, naive_merges  # noqa: E402  (the reference learner)


# ---- char ---------------------------------------------------------------------------------------
@given(st.text())  # st.text() never draws lone surrogates
def test_char_round_trip_of_any_text(text):
    tok = build_tokenizer("char", [text])
    ids = tok.encode(text)
    assert len(ids) == len(text) and tok.decode(ids) == text and tok.count_unknown(text) == 0


@given(st.lists(st.text(), max_size=5), st.text())
def test_char_unknowns_are_counted_and_replaced(documents, text):
    tok = build_tokenizer("char", documents)
    known = set("".join(documents))
    assert tok.count_unknown(text) == sum(ch not in known for ch in text)
    assert tok.decode(tok.encode(text)) == "".join(ch if ch in known else "\ufffd" for ch in text)


# ---- word ---------------------------------------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(st.text())
def test_word_round_trip_of_any_text(text):
    # every visible character survives in order, and the decoded text gives the same tokens back
    tok = build_tokenizer("word", [text], max_vocab=10**6)
    ids = tok.encode(text)
    assert tok.count_unknown(text) == 0 and tok.unk_id not in ids
    decoded = tok.decode(ids)
    assert "".join(decoded.split()) == "".join(text.split())
    assert tok.encode(decoded).tolist() == ids.tolist()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(alphabet="abc .,\n", max_size=30), max_size=5), st.integers(3, 8))
def test_word_capped_vocabulary_keeps_the_most_frequent(documents, max_vocab):
    tok = build_tokenizer("word", documents, max_vocab=max_vocab)
    counts = {}
    for doc in documents:
        for t in tok.tokens(doc):
            counts[t] = counts.get(t, 0) + 1
    kept = tok.vocab[2:]
    assert len(tok.vocab) <= max_vocab
    dropped = [t for t in counts if t not in kept]
    assert all(counts[k] >= counts[t] for k in kept for t in dropped)
    assert sum(tok.count_unknown(doc) for doc in documents) == sum(counts[t] * len(t) for t in dropped)


# ---- bpe ----------------------------------------------------------------------------------------
LEARNT = build_tokenizer("bpe", [TEXT], vocab_size=320)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_bpe_round_trip_of_any_text(text):
    ids = LEARNT.encode(text)
    assert LEARNT.decode(ids) == text
    assert LEARNT.num_chars(ids) == len(text) and LEARNT.num_bytes(ids) == len(text.encode())


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(alphabet="ab cé中", max_size=40), max_size=6))
def test_bpe_learnt_from_any_text_round_trips_it(documents):
    tok = build_tokenizer("bpe", documents, vocab_size=280)
    joined = "\n".join(documents)
    assert tok.decode(tok.encode(joined)) == joined
    chunks = Counter(c for doc in documents for c in CHUNK.findall(doc))
    assert tok.merges == naive_merges(chunks, 280 - FIRST_MERGE)
