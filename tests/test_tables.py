"""CSV templates and delimiters, JSON-lines fields, encoding errors: generated files, edge cases."""

import csv
import json

import pytest

from lstmgen.data.corpus import load_corpus, read_documents
from lstmgen.errors import ConfigError, DataError

ROWS = [
    ["title", "body", "score"],
    ["First", "Hello, world", "3"],
    ["Quotes", 'She said "hi"\nand left; twice', "5"],
    ["", "   ", ""],  # blank in every templated field: skipped
    ["Only title", "", "1"],
    ["Braces {x}", "tab\there", "0"],
]


def write_csv(path, rows, delimiter=","):
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter=delimiter, quoting=csv.QUOTE_MINIMAL).writerows(rows)
    return str(path)


def test_template_joins_columns_by_name_and_index(tmp_path):
    path = write_csv(tmp_path / "t.csv", ROWS)
    docs = read_documents(path, template="{title}: {1} ({score}) {{literal}}")
    assert docs == [
        "First: Hello, world (3) {literal}",
        'Quotes: She said "hi"\nand left; twice (5) {literal}',
        "Only title:  (1) {literal}",
        "Braces {x}: tab\there (0) {literal}",
    ]


@pytest.mark.parametrize("delimiter", [";", "|", "\t"])
def test_any_delimiter_with_quoting(tmp_path, delimiter):
    rows = [["a", "text"], ["1", f"has {delimiter} inside"], ["2", 'a "quote" and\nnewline']]
    path = write_csv(tmp_path / "t.csv", rows, delimiter)
    assert read_documents(path, csv_column="text", csv_delimiter=delimiter) == [r[1] for r in rows[1:]]


def test_template_errors_name_the_problem(tmp_path):
    path = write_csv(tmp_path / "t.csv", ROWS)
    with pytest.raises(DataError, match=r"no column 'bdy' \(data.template\).*did you mean 'body'"):
        read_documents(path, template="{bdy}")
    for bad in ["{title", "title}", "{}", "no fields"]:
        with pytest.raises(ConfigError, match="data.template"):
            read_documents(path, template=bad)
    with pytest.raises(ConfigError, match="csv_delimiter"):
        read_documents(path, csv_delimiter=";;")


def test_jsonl_field_and_template(tmp_path):
    records = [{"id": 1, "text": "one", "tags": ["a"]}, {"id": 2, "text": None}, {"id": 3},
               {"id": 4, "text": "four\nlines \"quoted\" ünï"}, {"id": 5, "text": "  "}]
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records[:2]) + "\n\n"
                    + "\n".join(json.dumps(r) for r in records[2:]) + "\n", encoding="utf-8")
    assert read_documents(str(path), json_field="text") == ["one", 'four\nlines "quoted" ünï']
    assert read_documents(str(path), template="#{id} {text}")[:2] == ["#1 one", "#2 "]
    assert read_documents(str(path), template="{tags}") == ['["a"]']
    corpus = load_corpus(str(path), json_field="text", val_fraction=0.5)
    assert len(corpus.train) == len(corpus.val) == 1


def test_jsonl_errors(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "body": "b"}\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"fields 'text', 'body'; say which one holds the text with data.json_field"):
        read_documents(str(path))
    with pytest.raises(DataError, match=r"no field 'txt' in any object.*did you mean 'text'"):
        read_documents(str(path), json_field="txt")
    path.write_text('{"text": "a"}\n[1, 2]\n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not a JSON object"):
        read_documents(str(path), json_field="text")
    path.write_text('{"text": "a"}\n{"text": \n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not valid JSON"):
        read_documents(str(path), json_field="text")


def test_encoding_errors_strict_names_the_offset_and_replace_reads_on(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes("good text ".encode() + b"\xff\xfe" + " more".encode())
    with pytest.raises(DataError, match=r"bad.txt' is not valid utf-8: byte 0xff at offset 10.*encoding_errors=replace"):
        read_documents(str(path))
    assert read_documents(str(path), encoding_errors="replace") == ["good text \ufffd\ufffd more"]
    with pytest.raises(ConfigError, match="encoding_errors"):
        read_documents(str(path), encoding_errors="ignore")


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:
    given = None

if given is not None:
    # any field text (commas, quotes, line breaks, any script) survives a CSV and a JSON-lines file
    cell = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\x00"), max_size=20)

    @settings(max_examples=40, deadline=None)
    @given(st.lists(st.tuples(cell, cell), min_size=1, max_size=8))
    def test_csv_and_jsonl_round_trip_any_text(tmp_path_factory, rows):
        folder = tmp_path_factory.mktemp("rt")
        expected = [f"{a}|{b}" for a, b in rows if a.strip() or b.strip()]
        path = write_csv(folder / "t.csv", [["a", "b"]] + [list(r) for r in rows])
        jsonl = folder / "t.jsonl"
        jsonl.write_text("".join(json.dumps({"a": a, "b": b}) + "\n" for a, b in rows), encoding="utf-8")
        for source in (path, str(jsonl)):
            try:
                docs = read_documents(source, template="{a}|{b}")
            except DataError:  # every row blank: the corpus is empty
                assert not expected
                continue
            assert docs == [d for d in expected if d.strip()]
