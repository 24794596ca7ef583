"""The word tokenizer: splitting, vocabulary capping, unknown words, readable decoding, JSON round trip."""

import json

import numpy as np
import pytest

from lstmgen.errors import CheckpointError, ConfigError
from lstmgen.tokenizers import WordTokenizer, build_tokenizer, tokenizer_from_dict


def test_punctuation_is_split_from_words_and_line_breaks_are_tokens():
    tok = build_tokenizer("word", [""])
    assert tok.tokens("Don't stop, it's (nearly) done!\nNext line.") == [
        "Don't", "stop", ",", "it's", "(", "nearly", ")", "done", "!", "\n", "Next", "line", "."]


def test_vocabulary_is_most_frequent_first_and_capped():
    docs = ["b b b a a c", "c c c c d"]  # counts: c 5, b 3, a 2, d 1
    tok = build_tokenizer("word", docs, max_vocab=4, min_freq=1)
    assert tok.vocab == ["<unk>", "<eod>", "c", "b"]
    ids = tok.encode("a b c d")
    assert ids.tolist() == [0, 3, 2, 0] and ids.dtype == np.int32
    assert tok.count_unknown("a b c dd") == 3  # "a" and "dd"
    assert tok.decode(ids) == "\ufffd b c \ufffd"


def test_min_freq_drops_rare_words_and_ties_are_in_code_point_order():
    tok = build_tokenizer("word", ["z y x x y z q"], max_vocab=100, min_freq=2)
    assert tok.vocab == ["<unk>", "<eod>", "x", "y", "z"]


def test_lowercase():
    tok = build_tokenizer("word", ["The cat. the CAT"], lowercase=True)
    assert tok.vocab[2:] == ["cat", "the", "."]
    assert tok.decode(tok.encode("THE Cat.")) == "the cat."


def test_decoding_is_readable():
    text = 'He said "no, thanks" (twice) and left.\n\nThen: 50% off!'
    tok = build_tokenizer("word", [text])
    assert tok.decode(tok.encode(text)) == text
    tok = build_tokenizer("word", ["a b c"])
    assert tok.decode(tok.encode("a   b\t c")) == tok.decode(tok.encode("a b c")) == "a b c"


def test_stream_decoder_continues_the_prime():
    tok = build_tokenizer("word", ["hello world , again ."])
    decoder = tok.stream_decoder("hello")
    assert "".join(decoder.feed(i) for i in tok.encode("world, again.")) == " world, again."
    ids = tok.encode_documents(["hello world.", "again"])
    decoder = tok.stream_decoder()
    assert "".join(decoder.feed(i) for i in ids) == tok.decode(ids) == "hello world.\nagain\n"


def test_chars_and_bytes_measure_the_decoded_text():
    tok = build_tokenizer("word", ["café au lait."])
    ids = tok.encode("café au lait.")
    assert tok.num_chars(ids) == len("café au lait.") and tok.num_bytes(ids) == len("café au lait.".encode())


def test_json_round_trip():
    tok = build_tokenizer("word", ["One two, three.\nFour!"], lowercase=True)
    d = json.loads(json.dumps(tok.to_dict()))
    assert d["level"] == "word" and d["lowercase"] is True
    again = tokenizer_from_dict(d)
    assert isinstance(again, WordTokenizer) and again == tok
    assert again.encode("ONE four").tolist() == tok.encode("one four").tolist()


@pytest.mark.parametrize("d, message", [
    ({"level": "word", "vocab": ["<unk>", "<eod>", "two words"]}, "single tokens"),
    ({"level": "word", "vocab": ["<unk>", "<eod>", "a"], "lowercase": "yes"}, "true or false"),
])
def test_from_dict_rejects_garbage(d, message):
    with pytest.raises(CheckpointError, match=message):
        tokenizer_from_dict(d)


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="max_vocab"):
        build_tokenizer("word", ["a"], max_vocab=2)
    with pytest.raises(TypeError):
        build_tokenizer("word", ["a"], vocab_size=10)


def test_classic_config_is_the_tutorial_setup():
    from lstmgen.runs.config import load_config
    from lstmgen.data.corpus import read_documents
    from tests.helpers import ROOT

    cfg = load_config(ROOT / "configs" / "classic-word-lstm.yaml")
    assert (cfg.tokenizer.level, cfg.tokenizer.max_vocab, cfg.model.hidden_size) == ("word", 8000, 100)
    assert (cfg.train.optimizer, cfg.train.momentum, cfg.train.learning_rate) == ("sgd", 0.0, 0.005)
    assert (cfg.train.lr_schedule, cfg.train.lr_decay) == ("plateau", 0.5)
    assert len(read_documents(str(ROOT / cfg.data.corpus), csv_column=cfg.data.csv_column)) == 2000
