"""Corpus sources (file, folder, glob, CSV/TSV, built-in), their train/val split, their errors."""

import re

import pytest

from lstmgen.data.corpus import BUILTIN_CORPORA, Corpus, check_format_options, load_corpus, read_documents
from lstmgen.errors import ConfigError, DataError


def write(path, text, encoding="utf-8"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


LINES = "".join(f"line number {i:02d}\n" for i in range(20))  # 20 lines of 15 characters


# --- one text file -----------------------------------------------------------------------------


def test_single_file_is_cut_at_a_line_boundary(tmp_path):
    path = write(tmp_path / "a.txt", LINES)
    corpus = load_corpus(str(path), val_fraction=0.1)
    assert isinstance(corpus, Corpus) and corpus.source == str(path)
    assert corpus.train[0] + corpus.val[0] == LINES
    assert corpus.train[0].endswith("\n")
    assert corpus.val[0] == "line number 18\nline number 19\n"


def test_single_file_without_validation(tmp_path):
    path = write(tmp_path / "a.txt", LINES)
    corpus = load_corpus(str(path), val_fraction=0.0)
    assert corpus.train == [LINES] and corpus.val == []


def test_tiny_text_keeps_one_line_for_validation(tmp_path):
    path = write(tmp_path / "a.txt", "first line\nsecond line\n")
    corpus = load_corpus(str(path), val_fraction=0.01)
    assert corpus.train == ["first line\n"] and corpus.val == ["second line\n"]


def test_one_line_text_has_empty_validation(tmp_path):
    path = write(tmp_path / "a.txt", "just one line")
    corpus = load_corpus(str(path), val_fraction=0.5)
    assert corpus.train == ["just one line"] and corpus.val == []


def test_read_documents_keeps_the_whole_text(tmp_path):
    path = write(tmp_path / "a.txt", "\ufeffhéllo 中文 👋\n")
    assert read_documents(str(path)) == ["héllo 中文 👋\n"]  # byte-order mark dropped


def test_other_encoding(tmp_path):
    path = write(tmp_path / "a.txt", "café\n", encoding="latin-1")
    assert read_documents(str(path), encoding="latin-1") == ["café\n"]


# --- folders and globs -------------------------------------------------------------------------


def make_folder(tmp_path, n=10):
    for i in range(n):
        write(tmp_path / "docs" / f"sub{i % 2}" / f"doc{i}.txt", f"document {i}\n")
    write(tmp_path / "docs" / ".hidden.txt", "secret\n")
    write(tmp_path / "docs" / ".git" / "config", "secret\n")
    return tmp_path / "docs"


def test_folder_reads_every_visible_file_sorted_by_path(tmp_path):
    folder = make_folder(tmp_path)
    docs = read_documents(str(folder))
    expected = [f"document {i}\n" for i in [0, 2, 4, 6, 8, 1, 3, 5, 7, 9]]  # sub0/ before sub1/
    assert docs == expected


def test_folder_split_assigns_whole_documents(tmp_path):
    folder = make_folder(tmp_path)
    corpus = load_corpus(str(folder), val_fraction=0.2)
    assert len(corpus.val) == 2 and len(corpus.train) == 8
    assert sorted(corpus.train + corpus.val) == sorted(read_documents(str(folder)))
    order = read_documents(str(folder))
    assert corpus.train == [d for d in order if d in corpus.train]  # original order kept
    assert load_corpus(str(folder), val_fraction=0.2) == corpus  # deterministic


def test_split_keeps_a_training_document(tmp_path):
    write(tmp_path / "d" / "a.txt", "aaa\n")
    write(tmp_path / "d" / "b.txt", "bbb\n")
    corpus = load_corpus(str(tmp_path / "d"), val_fraction=0.9)
    assert len(corpus.train) == 1 and len(corpus.val) == 1


def test_glob(tmp_path):
    make_folder(tmp_path)
    docs = read_documents(str(tmp_path / "docs" / "*" / "doc[13].txt"))
    assert docs == ["document 1\n", "document 3\n"]


def test_glob_matching_nothing(tmp_path):
    with pytest.raises(DataError, match="matches no files"):
        read_documents(str(tmp_path / "*.nothing"))


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no files"):
        read_documents(str(tmp_path / "empty"))


# --- CSV and TSV -------------------------------------------------------------------------------

CSV = 'id,text,label\n1,"Hello, world",a\n2,"two\nlines, and ""quotes""",b\n3,   ,c\n4,last,d\n'


def test_csv_by_name_handles_quotes_commas_and_newlines(tmp_path):
    path = write(tmp_path / "t.csv", CSV)
    docs = read_documents(str(path), csv_column="text")
    assert docs == ["Hello, world", 'two\nlines, and "quotes"', "last"]  # blank row skipped


@pytest.mark.parametrize("column", [1, "1"])
def test_csv_by_index_skips_the_header(tmp_path, column):
    path = write(tmp_path / "t.csv", CSV)
    assert read_documents(str(path), csv_column=column)[0] == "Hello, world"


def test_csv_rows_are_split_like_documents(tmp_path):
    path = write(tmp_path / "t.csv", "text\n" + "".join(f"row {i}\n" for i in range(10)))
    corpus = load_corpus(str(path), val_fraction=0.3)
    assert len(corpus.train) == 7 and len(corpus.val) == 3


def test_tsv(tmp_path):
    path = write(tmp_path / "t.tsv", "title\tbody\nA\tfirst, body\nB\tsecond body\n")
    assert read_documents(str(path), csv_column="body") == ["first, body", "second body"]


def test_single_column_csv_needs_no_column(tmp_path):
    path = write(tmp_path / "t.csv", "text\none\ntwo\n")
    assert read_documents(str(path)) == ["one", "two"]


def test_csv_without_column_lists_the_columns(tmp_path):
    path = write(tmp_path / "t.csv", CSV)
    with pytest.raises(DataError, match=r"'id', 'text', 'label'.*data\.csv_column"):
        read_documents(str(path))


def test_csv_missing_column_suggests_the_nearest(tmp_path):
    path = write(tmp_path / "t.csv", CSV)
    with pytest.raises(DataError) as info:
        read_documents(str(path), csv_column="txet")
    message = str(info.value)
    assert "t.csv" in message and "'txet'" in message and "did you mean 'text'" in message
    assert "'label'" in message


def test_csv_index_out_of_range(tmp_path):
    path = write(tmp_path / "t.csv", CSV)
    with pytest.raises(DataError, match="out of range"):
        read_documents(str(path), csv_column=7)


def test_csv_parse_error_names_the_line(tmp_path):
    path = write(tmp_path / "t.csv", 'text\nfine\n"unclosed quote\n')
    with pytest.raises(DataError, match=r"t\.csv.*line 3"):
        read_documents(str(path), csv_column="text")


# --- errors ------------------------------------------------------------------------------------


def test_a_csv_column_or_json_field_is_refused_where_no_file_would_use_it(tmp_path):
    text = write(tmp_path / "notes.txt", LINES)
    for key, option in (("data.csv_column", {"csv_column": "text"}), ("data.json_field", {"json_field": "body"})):
        with pytest.raises(ConfigError, match=f"{key} is set, but the corpus '.*notes.txt' is not a"):
            check_format_options(str(text), **option)
    with pytest.raises(ConfigError, match="data.json_field .* is not a .jsonl or .ndjson file"):
        check_format_options(str(write(tmp_path / "rows.csv", "text\na\n")), json_field="body")
    with pytest.raises(ConfigError, match="data.csv_column .*'builtin:python-docs' is a built-in corpus"):
        check_format_options("builtin:python-docs", csv_column=0)
    with pytest.raises(ConfigError, match="holds no .csv or .tsv file"):  # a folder of text files
        check_format_options(str(tmp_path / "*.txt"), csv_column="text")
    # a folder or glob that holds one file of the format takes the option (its other files are text)
    check_format_options(str(tmp_path), csv_column="text")
    check_format_options(str(tmp_path / "*"), csv_column="text")
    write(tmp_path / "more" / "chats.NDJSON", '{"body": "hi"}\n')
    check_format_options(str(tmp_path), json_field="body")
    check_format_options(str(text))  # nothing set: nothing to refuse


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"corpus file '.*x\.txt' does not exist"):
        load_corpus(str(tmp_path / "x.txt"))


def test_empty_corpus(tmp_path):
    path = write(tmp_path / "blank.txt", " \n\t\n")
    with pytest.raises(DataError, match="empty"):
        load_corpus(str(path))


def test_bad_bytes_name_file_and_offset(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"good text\n\xff\xfe more")
    with pytest.raises(DataError) as info:
        read_documents(str(path))
    message = str(info.value)
    assert "bad.txt" in message and "offset 10" in message and "data.encoding" in message


def test_bad_val_fraction(tmp_path):
    with pytest.raises(ConfigError):
        load_corpus(str(write(tmp_path / "a.txt", LINES)), val_fraction=1.0)


def test_unknown_builtin():
    with pytest.raises(DataError, match="'nope'.*python-docs"):
        load_corpus("builtin:nope")


# --- builtin:python-docs -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def python_docs():
    pytest.importorskip("pydoc_data.topics")
    return load_corpus("builtin:python-docs", val_fraction=0.1)


def paragraphs(text):
    return text.split("\n\n")


def test_python_docs_is_listed():
    assert "python-docs" in BUILTIN_CORPORA


def test_python_docs_splits_are_single_nonempty_documents(python_docs):
    assert len(python_docs.train) == 1 and len(python_docs.val) == 1
    assert len(python_docs.train[0]) > 50_000
    assert 0.03 < len(python_docs.val[0]) / len(python_docs.train[0]) < 0.3


def test_python_docs_has_no_repeated_paragraph(python_docs):
    train, val = paragraphs(python_docs.train[0]), paragraphs(python_docs.val[0])
    assert len(set(train + val)) == len(train) + len(val)
    assert not set(val) & set(train)
    assert all(p not in python_docs.train[0] for p in val if len(p) > 80)  # nor inside one


def test_python_docs_is_prose(python_docs):
    for paragraph in paragraphs(python_docs.train[0]) + paragraphs(python_docs.val[0]):
        lines = paragraph.split("\n")
        assert paragraph == paragraph.strip() and paragraph
        assert not all(line.startswith((" ", "\t")) for line in lines)
        assert not any(line.strip() and set(line.strip()) <= set("*=-~^") for line in lines)
        # no table: grid borders (+---+), grid rows (| a | b |), simple tables' rules (=== ===)
        assert not any(re.fullmatch(r"\s*(\+[-=+]+\+|\|.*\||=+( +=+)+)\s*", line) for line in lines), paragraph


def test_python_docs_read_documents_is_one_document(python_docs):
    (whole,) = read_documents("builtin:python-docs")
    assert sorted(paragraphs(whole)) == sorted(paragraphs(python_docs.train[0]) + paragraphs(python_docs.val[0]))
