"""The char tokenizer: vocabulary, encode/decode, unseen characters, JSON round trip, validation."""

import json

import numpy as np
import pytest

from lstmgen.errors import CheckpointError, ConfigError
from lstmgen.tokenizers import TOKENIZERS, CharTokenizer, Tokenizer, build_tokenizer, tokenizer_from_dict

MIXED = "Héllo wörld, naïve café! 中文字符 😀👍 — e\u0301 👨\u200d👩\u200d👧\n"


def test_specials_have_fixed_ids():
    tok = build_tokenizer("char", ["ab"])
    assert isinstance(tok, Tokenizer) and TOKENIZERS["char"] is CharTokenizer
    assert tok.vocab[:2] == [Tokenizer.UNK, Tokenizer.EOD] and (tok.unk_id, tok.eod_id) == (0, 1)
    assert tok.vocab == ["<unk>", "<eod>", "a", "b"] and tok.vocab_size == 4


def test_vocab_is_deterministic_and_sorted():
    a = build_tokenizer("char", ["zebra", "apple"])
    b = build_tokenizer("char", ["apple", "zebra"])
    assert a.vocab == b.vocab and a.vocab[2:] == sorted(set("zebraapple"))


def test_round_trip_of_unicode_text():
    tok = build_tokenizer("char", [MIXED])
    ids = tok.encode(MIXED)
    assert ids.dtype == np.int32 and len(ids) == len(MIXED)
    assert tok.decode(ids) == MIXED
    assert tok.count_unknown(MIXED) == 0
    assert "".join(tok.token_text(int(i)) for i in ids) == MIXED


def test_combined_emoji_is_several_tokens():
    family = "👨\u200d👩\u200d👧"
    tok = build_tokenizer("char", [family])
    assert len(tok.encode(family)) == 5 and tok.vocab_size == 2 + 4


def test_unseen_characters_become_unk():
    tok = build_tokenizer("char", ["abc"])
    ids = tok.encode("abXcY中")
    assert ids.tolist() == [2, 3, 0, 4, 0, 0]
    assert tok.decode(ids) == "ab\ufffdc\ufffd\ufffd"
    assert tok.count_unknown("abXcY中") == 3
    assert tok.num_chars(ids) == 6


def test_encode_documents_ends_each_document_with_eod():
    tok = build_tokenizer("char", ["ab", "c"])
    ids = tok.encode_documents(["ab", "c", "", "ba"])
    assert ids.dtype == np.int32
    assert ids.tolist() == [2, 3, 1, 4, 1, 1, 3, 2, 1]
    assert tok.decode(ids) == "ab\nc\n\nba\n"
    assert tok.num_chars(ids) == len("ab\nc\n\nba\n")
    assert tok.encode_documents([]).tolist() == []


def test_empty_text():
    tok = build_tokenizer("char", [""])
    assert tok.vocab_size == 2
    assert tok.encode("").tolist() == [] and tok.decode([]) == ""
    assert tok.encode("x").tolist() == [tok.unk_id]


def test_decode_rejects_ids_out_of_range():
    tok = build_tokenizer("char", ["ab"])
    with pytest.raises(ValueError):
        tok.decode([4])
    with pytest.raises(ValueError):
        tok.decode([-1])


def test_json_round_trip():
    tok = build_tokenizer("char", [MIXED])
    d = json.loads(json.dumps(tok.to_dict()))
    assert d["level"] == "char" and d["vocab"] == tok.vocab
    again = tokenizer_from_dict(d)
    assert isinstance(again, CharTokenizer) and again == tok
    assert again.encode(MIXED).tolist() == tok.encode(MIXED).tolist()


def test_vocab_order_of_a_loaded_tokenizer_is_kept():
    tok = tokenizer_from_dict({"level": "char", "vocab": ["<unk>", "<eod>", "b", "a"]})
    assert tok.encode("ab").tolist() == [3, 2] and tok.decode([2, 3]) == "ba"


@pytest.mark.parametrize(
    "d, message",
    [
        ([1, 2], "JSON object"),
        ({"vocab": ["<unk>", "<eod>"]}, "level"),
        ({"level": "klingon", "vocab": ["<unk>", "<eod>"]}, "klingon"),
        ({"level": "char"}, "list of strings"),
        ({"level": "char", "vocab": "abc"}, "list of strings"),
        ({"level": "char", "vocab": ["<unk>", "<eod>", 3]}, "list of strings"),
        ({"level": "char", "vocab": ["a", "<unk>", "<eod>"]}, "start with"),
        ({"level": "char", "vocab": []}, "start with"),
        ({"level": "char", "vocab": ["<unk>", "<eod>", "a", "a"]}, "twice"),
        ({"level": "char", "vocab": ["<unk>", "<eod>", "ab"]}, "single char"),
    ],
)
def test_from_dict_rejects_garbage(d, message):
    with pytest.raises(CheckpointError, match=message):
        tokenizer_from_dict(d)


def test_unknown_level_or_settings_are_config_errors():
    with pytest.raises(ConfigError, match="klingon"):
        build_tokenizer("klingon", ["a"])
    with pytest.raises(ConfigError, match="vocab_size"):
        build_tokenizer("char", ["a"], vocab_size=10)


def test_encode_is_fast_enough_for_megabytes():
    text = (MIXED * 40_000)[:2_000_000]
    tok = build_tokenizer("char", [text])
    ids = tok.encode_documents([text])
    assert len(ids) == len(text) + 1 and tok.decode(ids[:-1]) == text
