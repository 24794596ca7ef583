"""Fuzzing with hypothesis: the config loader, the text/CSV readers and every tokenizer.

Arbitrary Unicode, control characters, NUL bytes, undecodable bytes, huge lines and empty rows
go in; what comes out is a result or the module's own typed error (ConfigError, DataError,
CheckpointError), never another exception. ``EXAMPLES`` says how many inputs each test tries.
"""

import string

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from lstmgen.runs.config import Config, all_keys, load_config
from lstmgen.data.corpus import Corpus, load_corpus, read_documents
from lstmgen.errors import CheckpointError, ConfigError, DataError
from lstmgen.tokenizers import TOKENIZERS, build_tokenizer, tokenizer_from_dict
from tests.helpers import assert_user_error, run

EXAMPLES = 200
fuzz = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# text that leans on the awkward: NUL, control characters, separators, quotes, any code point
awkward = st.text(st.one_of(st.sampled_from("\x00\x01\x1b\x7f\r\n\t,;\"' \u2028\ufeff\u200d"),
                            st.characters()), max_size=200)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), awkward)
yaml_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) |
                           st.dictionaries(awkward, inner, max_size=3), max_leaves=6)
key_names = st.one_of(st.sampled_from([k.split(".")[1] for k in all_keys()]), awkward)
section_names = st.one_of(st.sampled_from(["data", "tokenizer", "model", "train"]), awkward)


# ---- the config loader -----------------------------------------------------------------------
@fuzz
@given(text=awkward)
@example(text="[" * 5000)  # deep nesting
@example(text="train: !!python/object/apply:os.system ['echo hi']")
@example(text="train:\n  learning_rate: .nan\n  max_steps: 1e400\n")
def test_config_file_with_any_text(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        assert isinstance(load_config(path), Config)
    except ConfigError as e:
        assert str(path) in str(e)


@fuzz
@given(data=st.dictionaries(section_names, st.one_of(yaml_values, st.dictionaries(key_names, yaml_values)),
                            max_size=4))
def test_config_file_with_any_mapping(tmp_path, data):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    try:
        cfg = load_config(path)
    except ConfigError as e:
        assert str(path) in str(e)
        return
    assert isinstance(cfg, Config)


@fuzz
@given(overrides=st.lists(st.one_of(awkward, st.builds(lambda s, k, v: f"{s}.{k}={v}", section_names, key_names,
                                                        awkward)), max_size=3))
def test_set_overrides_of_any_text(overrides):
    try:
        assert isinstance(load_config(None, overrides), Config)
    except ConfigError as e:
        assert "--set" in str(e) or "train." in str(e)


# ---- the text and CSV readers ------------------------------------------------------------------
HUGE_LINE = ("x" * 300_000).encode()  # one field above csv's default limit of 131072 characters


@fuzz
@given(content=st.one_of(st.binary(max_size=400), awkward.map(lambda t: t.encode("utf-8", "surrogatepass"))),
       suffix=st.sampled_from([".txt", ".csv", ".tsv", ".md"]),
       csv_column=st.one_of(st.none(), st.integers(-2, 4), awkward),
       encoding=st.sampled_from(["utf-8", "latin-1", "utf-16", "ascii", "cp1252", "no-such-codec"]),
       val_fraction=st.sampled_from([0.0, 0.1, 0.5, 0.99]))
@example(content=b"text\n" + HUGE_LINE + b"\n", suffix=".csv", csv_column=None, encoding="utf-8", val_fraction=0.1)
@example(content=HUGE_LINE, suffix=".txt", csv_column=None, encoding="utf-8", val_fraction=0.1)
@example(content=b"a,b\n,\n\n,\n", suffix=".csv", csv_column="b", encoding="utf-8", val_fraction=0.1)
@example(content=b"a\x00b\n\"unclosed", suffix=".csv", csv_column=0, encoding="utf-8", val_fraction=0.1)
@example(content=b"a,b\nx,y\n", suffix=".csv", csv_column="\u00b2", encoding="utf-8", val_fraction=0.1)  # isdigit()
def test_corpus_readers_with_any_bytes(tmp_path, content, suffix, csv_column, encoding, val_fraction):
    path = tmp_path / f"corpus{suffix}"
    path.write_bytes(content)
    try:
        corpus = load_corpus(str(path), csv_column=csv_column, val_fraction=val_fraction, encoding=encoding)
    except (DataError, ConfigError) as e:
        assert str(path) in str(e) or "data.encoding" in str(e)
        return
    assert isinstance(corpus, Corpus) and corpus.train
    assert all(isinstance(d, str) for d in corpus.train + corpus.val)
    assert read_documents(str(path), csv_column=csv_column, encoding=encoding)


def test_eval_csv_column_that_only_looks_like_a_number(char_run, tmp_path):
    # "\u00b2" (superscript two) passes str.isdigit() but not int(): found by the fuzzer above
    (tmp_path / "d.csv").write_text("a,b\nsome text,more text\n")
    result = run("eval", char_run, "--corpus", tmp_path / "d.csv", "--csv-column", "\u00b2")
    assert_user_error(result, 1, "d.csv", "no column '\u00b2'")


# ---- every tokenizer -----------------------------------------------------------------------------
@pytest.mark.parametrize("level", sorted(TOKENIZERS))
@fuzz
@given(documents=st.lists(awkward, max_size=5), text=awkward)
@example(documents=["a" * 20_000], text="a" * 20_000 + "b")  # a huge line (kept modest for slower tokenizers)
@example(documents=[], text="")
def test_tokenizer_with_any_text(level, documents, text):
    tok = build_tokenizer(level, documents)
    for t in documents + [text]:
        ids = tok.encode(t)
        assert ids.ndim == 1 and (ids.size == 0 or 0 <= ids.min() <= ids.max() < tok.vocab_size)
        assert isinstance(tok.decode(ids), str)
    ids = tok.encode_documents(documents)
    assert ids.ndim == 1 and (ids.size == 0 or ids.max() < tok.vocab_size)
    assert tokenizer_from_dict(tok.to_dict()) == tok
    if level == "char":
        assert [tok.decode(tok.encode(d)) for d in documents] == documents


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), awkward),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(awkward, inner, max_size=3),
                           max_leaves=8)


@pytest.mark.parametrize("level", sorted(TOKENIZERS))
@fuzz
@given(vocab=st.one_of(json_values, st.lists(st.one_of(awkward, st.sampled_from(["<unk>", "<eod>"]),
                                                          st.sampled_from(list(string.printable))), max_size=8)),
       extra=st.dictionaries(awkward, json_values, max_size=2))
def test_tokenizer_from_any_json(level, vocab, extra):
    for d in ({**extra, "level": level, "vocab": vocab}, {**extra, "level": level, "vocab": ["<unk>", "<eod>"] +
                                                          (vocab if isinstance(vocab, list) else [])}, vocab):
        try:
            tok = tokenizer_from_dict(d)
        except CheckpointError:
            continue
        assert tok.level == level and tokenizer_from_dict(tok.to_dict()) == tok
