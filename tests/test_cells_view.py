"""lstmgen cells and score --html: the recording against the cells' own forward pass, the
finder on a model whose interpretable units are set by hand, the pages, the JSON, the errors."""

import builtins
import json
from html.parser import HTMLParser

import numpy as np
import pytest

from lstmgen.insight import activations

from lstmgen.runs import checkpoint as ckpt
from lstmgen.insight.unit_finder import pearson, rank
from lstmgen.runs.config import load_config
from lstmgen.nn.model import CELLS, LanguageModel
from lstmgen.evaluation.score import score_ids
from lstmgen.insight.text_features import char_features, token_features
from lstmgen.tokenizers import build_tokenizer
from lstmgen.tokenizers.char import CharTokenizer
from tests.helpers import assert_user_error, run

COUNTER, QUOTES = 3, 5  # the hand-set units of layer 0


# ---- a run directory written directly, with chosen weights -------------------------------------
def save_run(run_dir, cell, docs, params_of=None, hidden_size=8, num_layers=2, level="char"):
    """A run whose checkpoint holds ``params_of(model)`` (default: the model's own init)."""
    tok = CharTokenizer.build(docs) if level == "char" else build_tokenizer(level, docs)
    E = min(tok.vocab_size, 64)
    cfg = load_config(None, [f"model.cell={cell}", f"model.embed_dim={E}", f"model.hidden_size={hidden_size}",
                             f"model.num_layers={num_layers}", f"tokenizer.level={level}"])
    model = LanguageModel.from_config(cfg.model, tok.vocab_size)
    params = params_of(model, tok) if params_of else model.init_params(np.random.default_rng(0))
    ckpt.write_run_files(run_dir, cfg, tok.to_dict())
    ckpt.save_checkpoint(run_dir, ["last", "best"], step=0, params=params, optimizer_arrays={},
                         state_arrays=model.init_state(1), trainer={"step": 0}, cfg=cfg, tokenizer_dict=tok.to_dict())
    return run_dir


def hand_set_params(model, tok):
    """Layer 0 unit COUNTER: its cell state grows by ~0.02 per character and is reset by a line
    break (input and forget gates shut); unit QUOTES: a flip-flop whose cell state is set to ~1
    by an opening double quote and cleared by the closing one (its own h, fed back into its
    input gate, tells the two apart). The embedding is the identity (one-hot inputs); every
    other weight keeps its random init."""
    params = model.init_params(np.random.default_rng(0))
    H, V = model.hidden_size, model.vocab_size
    params["embed.W"] = np.eye(V, dtype=np.float32)
    W, b = params["layers.0.W"], params["layers.0.b"]  # (V+H, 4H), (4H,)
    i, f, g, o = (k * H for k in range(4))
    newline, eod, quote = tok.encode("\n")[0], tok.eod_id, tok.encode('"')[0]
    for u in (COUNTER, QUOTES):
        W[:, [i + u, f + u, g + u, o + u]] = 0.0  # nothing but what is set below
        b[[f + u, o + u]] = 10.0  # keep the memory, show it
    b[i + COUNTER], b[g + COUNTER] = 10.0, np.arctanh(0.02)  # add 0.02 per character ...
    W[[newline, eod], i + COUNTER] = -20.0  # ... except at a line break,
    W[[newline, eod], f + COUNTER] = -20.0  # which forgets
    b[i + QUOTES], b[g + QUOTES] = -10.0, 3.0  # write ~1, but only ...
    W[quote, i + QUOTES] = 20.0  # ... at a quote ...
    W[V + QUOTES, i + QUOTES] = -30.0  # ... that does not close one (h ~ 0.76 inside)
    W[quote, f + QUOTES] = -20.0  # every quote clears the old value
    return params


def quoted_text(lines=60, seed=0):
    rng = np.random.default_rng(seed)
    words = ["the", "cat", "sat", "on", "a", "mat", "and", "said", "hello", "to", "it"]
    out = []
    for _ in range(lines):
        parts = [str(w) for w in rng.choice(words, rng.integers(2, 9))]
        if rng.random() < 0.6:
            k = rng.integers(0, len(parts))
            parts[k] = f'"{parts[k]} {rng.choice(words)}"'
        out.append(" ".join(parts) + ".")
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def hand_set_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hand")
    text = tmp / "text.txt"
    text.write_text(quoted_text(), encoding="utf-8")
    return save_run(tmp / "run", "lstm", [text.read_text()], hand_set_params), text


# ---- the recording ------------------------------------------------------------------------------
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_the_recording_is_the_models_own_states_with_the_reset_at_eod(cell):
    tok = CharTokenizer.build(["abc def\n"])
    model = LanguageModel(cell, tok.vocab_size, 4, 6, 2, dtype=np.float64)
    assert model.reset_at_eod  # the constructor's default is the config's
    params = model.init_params(np.random.default_rng(3))
    ids = np.concatenate([[tok.eod_id], tok.encode_documents(["fed cab", "a b", "cab"])])  # <eod> between documents
    rec = activations.record(model, params, ids, top=3)
    # the model's own stepper (sampling's path), one token at a time, has the same states
    step, state = model.stepper(params, 1), model.init_state(1)
    for t, token in enumerate(ids[:-1]):
        _, state = step(np.array([token]), state)
        for l, layer in enumerate(model.cells):
            for name in layer.state_names:
                np.testing.assert_allclose(rec.layers[l][name][t], state[f"layers.{l}.{name}"][0], rtol=1e-10, atol=1e-12)
            for gate in activations.GATES[cell]:
                assert ((rec.layers[l][gate][t] > 0) & (rec.layers[l][gate][t] < 1)).all()
    if "c" in rec.layers[0]:
        np.testing.assert_allclose(rec.layers[0]["tanh(c)"], np.tanh(rec.layers[0]["c"]))
    # a document after an <eod> is recorded as if it were read alone: the state was reset there
    second = np.flatnonzero(ids == tok.eod_id)[1]
    alone = activations.record(model, params, ids[second:], top=3)
    for got, want in zip(rec.layers, alone.layers):
        assert got.keys() == want.keys()
        for q in got:
            np.testing.assert_allclose(got[q][second:], want[q], rtol=1e-10, atol=1e-12)
    model.reset_at_eod = False  # without the reset the state carries over, and the test sees it
    carried = activations.record(model, params, ids, top=3)
    assert not np.allclose(carried.layers[0]["h"][second], rec.layers[0]["h"][second])


def test_record_predictions_match_score():
    tok = CharTokenizer.build(["abc def\n"])
    model = LanguageModel("gru_cudnn", tok.vocab_size, 4, 6, 2, tie_weights=True)
    params = model.init_params(np.random.default_rng(2))
    ids = np.concatenate([[tok.eod_id], tok.encode_documents(["fed cab", "a b"])])
    rec = activations.record(model, params, ids, top=3)
    scores = score_ids(model, params, ids, top=3)
    np.testing.assert_allclose(rec.next_probs, np.exp(scores.logprobs), rtol=1e-5)
    np.testing.assert_array_equal(rec.top_ids, scores.top_ids)
    np.testing.assert_allclose(rec.top_probs, np.exp(scores.top_logprobs), rtol=1e-5)
    assert len(rec.layers) == 2 and rec.layers[1]["h"].shape == (len(ids) - 1, 6)


# ---- the features and the finder ----------------------------------------------------------------
def test_char_features_of_a_small_text():
    text = 'ab "c(d)"\n  it\'s \'x\'. Next'
    f = char_features(text)
    assert f["line_position"].tolist()[:11] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert "".join(c for c, q in zip(text, f["in_double_quotes"]) if q) == '"c(d)'
    assert "".join(c for c, q in zip(text, f["in_single_quotes"]) if q) == "'x"  # it's is an apostrophe
    assert f["bracket_depth"][text.index("d")] == 1 and f["bracket_depth"][text.index(")")] == 0
    assert f["indentation"][text.index("i")] == 2 and f["indentation"][text.index(" ")] == 0
    assert f["to_sentence_end"][text.index("x")] == 2 and f["to_sentence_end"][text.index(".")] == 0
    assert f["in_word"].tolist()[:3] == [1, 1, 0]


def test_token_features_take_the_value_at_the_last_character_of_each_piece():
    pieces = ["", "say", ' "hi', '"', "\n", "ok"]
    f = token_features(pieces, "word")
    assert f["in_double_quotes"].tolist() == [0, 0, 1, 0, 0, 0]
    assert f["line_position_tokens"].tolist() == [1, 2, 3, 4, 0, 1]
    assert f["line_position"].tolist() == [0, 3, 7, 8, 0, 2]
    assert "line_position_tokens" not in token_features(list("ab"), "char")


def test_pearson_and_rank():
    rng = np.random.default_rng(3)
    f = rng.standard_normal(50)
    A = np.stack([rng.standard_normal(50), -2 * f + 1, np.ones(50), f + 0.1 * rng.standard_normal(50)], axis=1)
    r = pearson(A, f)
    np.testing.assert_allclose(r[[1, 2]], [-1, 0], atol=1e-12)
    assert r[3] == pytest.approx(np.corrcoef(A[:, 3], f)[0, 1])
    ranked = rank(np.stack([r, r[::-1]]), 3)
    assert [(e["layer"], e["unit"]) for e in ranked] == [(0, 1), (1, 2), (0, 3)]
    assert [(e["layer"], e["unit"]) for e in rank(np.stack([r, r[::-1]]), 1, layers=[1])] == [(1, 2)]


def test_the_finder_ranks_the_hand_set_units_first(hand_set_run):
    run_dir, text = hand_set_run
    result = run("cells", run_dir, text, "--json", "--top", "3", "--unit", COUNTER, "--layer", 0)
    assert result.exit_code == 0, result.output
    s = json.loads(result.output)
    top = {f["feature"]: f["top"] for f in s["features"]}
    assert (top["line_position"][0]["layer"], top["line_position"][0]["unit"]) == (0, COUNTER)
    assert (top["in_double_quotes"][0]["layer"], top["in_double_quotes"][0]["unit"]) == (0, QUOTES)
    assert top["line_position"][0]["r"] > 0.95 and top["in_double_quotes"][0]["r"] > 0.95
    assert abs(top["line_position"][1]["r"]) < 0.9 and abs(top["in_double_quotes"][1]["r"]) < 0.9
    assert s["units"] == [{"layer": 0, "unit": COUNTER, "r": s["units"][0]["r"]}]
    assert s["units"][0]["r"]["line_position"] == top["line_position"][0]["r"]
    # and across both layers, the same two units come first
    both = json.loads(run("cells", run_dir, text, "--json").output)
    assert [(f["top"][0]["layer"], f["top"][0]["unit"]) for f in both["features"]
            if f["feature"] in ("line_position", "in_double_quotes")] == [(0, COUNTER), (0, QUOTES)]


def test_json_shape(hand_set_run):
    run_dir, text = hand_set_run
    s = json.loads(run("cells", run_dir, text, "--json", "--top", "2").output)
    assert s["cell"] == "lstm" and s["activation"] == "tanh(c)"
    assert s["num_layers"] == 2 and s["hidden_size"] == 8
    assert s["tokens"] == len(text.read_text()) and s["characters"] == len(text.read_text())
    assert [f["feature"] for f in s["features"]] == ["line_position", "in_double_quotes", "in_single_quotes",
                                                     "bracket_depth", "in_word", "indentation", "to_sentence_end"]
    constant = {f["feature"] for f in s["features"] if f["constant"]}
    assert constant == {"in_single_quotes", "bracket_depth", "indentation"}  # none in this text
    assert all(len(f["top"]) == (0 if f["constant"] else 2) for f in s["features"])
    sat = s["saturation"]
    assert sat["gates"] == ["i", "f", "o"] and len(sat["layers"]) == 2
    for layer in sat["layers"]:
        for g in sat["gates"]:
            left, right = layer[g]["left"], layer[g]["right"]
            assert len(left) == len(right) == 8
            assert all(0 <= a and 0 <= b and a + b <= 1 for a, b in zip(left, right))
    assert sat["layers"][0]["f"]["right"][COUNTER] > 0.9  # it keeps its memory almost always


# ---- the pages ----------------------------------------------------------------------------------
class _Page(HTMLParser):
    """Collects the tags (checking they nest) and the inline JSON data."""

    VOID = {"meta", "input", "br", "img", "link"}

    def __init__(self):
        super().__init__()
        self.open, self.tags, self.data, self._in_data = [], [], None, False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag not in self.VOID:
            self.open.append(tag)
        self._in_data = tag == "script" and ("id", "data") in attrs

    def handle_endtag(self, tag):
        assert self.open and self.open.pop() == tag, f"</{tag}> closes nothing open"
        self._in_data = False

    def handle_data(self, data):
        if self._in_data:
            self.data = json.loads(data)


def parse_page(path):
    html = path.read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html  # nothing from the network
    page = _Page()
    page.feed(html)
    page.close()
    assert page.open == [] and {"html", "style", "script"} <= set(page.tags)
    return page.data


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_every_cell_type_renders(tmp_path, cell):
    text = 'print("hi")\n  x = (1, [2])\nit\'s "done".\n'
    run_dir = save_run(tmp_path / "run", cell, [text])
    out = tmp_path / "cells.html"
    result = run("cells", run_dir, text, "-o", out, "--unit", 2)
    assert result.exit_code == 0, result.output
    assert f"wrote {out}" in result.output
    data = parse_page(out)
    assert "".join(data["pieces"]) == text
    assert data["layers"] == 2 and data["hidden"] == 8 and data["chosen"] == [[1, 2]]
    assert data["activation"] == activations.ACTIVATION[cell]
    names = [q["name"] for q in data["quantities"]]
    assert names[0] == data["activation"] and set(activations.GATES[cell]) <= set(names)
    assert ("has no cell state" in data["note"]) == (cell in ("gru", "gru_cudnn", "rnn"))
    block = data["blocks"][f"0/{data['activation']}"]
    assert block["units"] is None and len(block["scale"]) == 8
    assert len(__import__("base64").b64decode(block["data"])) == 8 * len(text)
    assert len(data["top"]) == data["K"] * len(text) and len(data["next_p"]) == len(text)
    assert all(0 <= i < len(data["tokens"]) for i in data["top"])


@pytest.mark.parametrize("level", ["word", "bpe"])
def test_word_and_bpe_models_get_token_features_and_readable_pieces(tmp_path, level):
    text = 'He said "it is (not) here".\nShe said no.\n'
    run_dir = save_run(tmp_path / "run", "lstm", [text * 3], level=level, num_layers=1)
    s = json.loads(run("cells", run_dir, text, "--json").output)
    assert "line_position_tokens" in [f["feature"] for f in s["features"]]
    out = tmp_path / "w.html"
    assert run("cells", run_dir, text, "-o", out).exit_code == 0
    data = parse_page(out)
    assert "".join(data["pieces"]) == text  # spaces and line breaks as the text reads
    assert len(data["pieces"]) == s["tokens"] < len(text)


def test_quantised_values_round_trip():
    from lstmgen.insight.html_pages import quantised

    v = np.random.default_rng(4).uniform(-3, 3, (100, 4))
    v[:, 2] = 0
    q = quantised(v)
    back = np.frombuffer(__import__("base64").b64decode(q["data"]), np.int8).reshape(4, 100).T
    np.testing.assert_allclose(back * np.array(q["scale"]) / 127, v, atol=3 / 127 / 2 + 1e-9)


def test_page_of_the_hand_set_run_shows_the_chosen_unit_and_the_ranking(hand_set_run, tmp_path):
    run_dir, text = hand_set_run
    out = tmp_path / "c.html"
    assert run("cells", run_dir, text, "-o", out, "--layer", 0, "--unit", QUOTES).exit_code == 0
    data = parse_page(out)
    assert data["start"] == {"layer": 0, "unit": QUOTES, "quantity": "tanh(c)"}
    assert data["ranking"][0]["top"][0]["unit"] == COUNTER
    assert data["blocks"]["0/f"]["units"] == sorted({e["unit"] for f in data["ranking"] for e in f["top"]} | {QUOTES})


def test_score_html_writes_the_surprise_page(hand_set_run, tmp_path):
    run_dir, _ = hand_set_run
    out = tmp_path / "s.html"
    result = run("score", run_dir, 'said "hello"', "--html", "-o", out)
    assert result.exit_code == 0, result.output
    data = parse_page(out)
    assert data["kind"] == "surprise" and "".join(data["pieces"]) == 'said "hello"\n'
    s = json.loads(run("score", run_dir, 'said "hello"', "--json").output)
    np.testing.assert_allclose(data["bits"], [t["surprisal_bits"] for t in s["tokens"]], atol=1e-3)
    assert data["cap_bits"] >= 4 and data["cap_bits"] >= np.percentile(data["bits"], 99)  # the colour scale's top
    assert_user_error(run("score", run_dir, "x", "--html"), 2, "--html and -o FILE go together")
    csv = tmp_path / "rows.csv"
    csv.write_text("text,n\nsaid hello,1\nthe cat,2\n")
    assert run("score", run_dir, csv, "--csv-column", "text", "--html", "-o", out).exit_code == 0
    assert "".join(parse_page(out)["pieces"]) == "said hello\nthe cat\n"  # each row ends in <eod>


# ---- gate saturation ----------------------------------------------------------------------------
def test_saturation_png_and_table_without_matplotlib(hand_set_run, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    run_dir, text = hand_set_run
    png = tmp_path / "gates.png"
    result = run("cells", run_dir, text, "--saturation", "-o", png)
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = run("cells", run_dir, text, "--saturation")
    assert table.exit_code == 0 and table.output.splitlines()[0].split()[:4] == ["layer", "gate", "left", "right"]
    assert len(table.output.splitlines()) == 1 + 2 * 3 + 1  # header, 2 layers x 3 gates, key

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("no matplotlib here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    missing = run("cells", run_dir, text, "--saturation", "-o", tmp_path / "no.png")
    assert_user_error(missing, 1, "pip install 'lstmgen[plot]'", "mostly open")
    assert not (tmp_path / "no.png").exists()


def test_saturation_of_an_rnn_is_refused(tmp_path):
    run_dir = save_run(tmp_path / "run", "rnn", ["abc\n"], num_layers=1)
    assert_user_error(run("cells", run_dir, "abc", "--saturation"), 2, "a rnn cell has no gates")


# ---- errors -------------------------------------------------------------------------------------
def test_cli_errors(hand_set_run, tmp_path):
    run_dir, text = hand_set_run
    bad_layer = run("cells", run_dir, text, "--layer", 2)
    assert_user_error(bad_layer, 2, "layer 2 does not exist: the model has 2 layer(s), 0..1")
    assert len(bad_layer.output.strip().splitlines()) == 1
    assert_user_error(run("cells", run_dir, text, "--layer", 0, "--unit", 8), 2,
                      "unit 8 does not exist: layer 0 has 8 units, 0..7")
    # --cell is the old name of --unit
    assert_user_error(run("cells", run_dir, text, "--cell", -1), 2, "unit -1 does not exist: layer 1")
    assert_user_error(run("cells", run_dir, tmp_path / "missing.txt"), 1, "there is no file")
    assert_user_error(run("cells", tmp_path / "no_run", "some text"), 1, "no_run")


def test_long_texts_are_cut_to_max_chars(hand_set_run):
    run_dir, text = hand_set_run
    result = run("cells", run_dir, text, "--json", "--max-chars", 100)
    s = json.loads(result.output.splitlines()[-1])
    assert s["characters"] == 100 and s["truncated"] and s["tokens"] == 100



def test_pages_hold_the_first_max_chars_by_default_and_say_so(hand_set_run, tmp_path):
    """A page of a long text holds its first html_pages.PAGE_CHARS characters (--max-chars
    changes it) and says so; score without --html reads the whole text unless told otherwise."""
    from lstmgen.insight.html_pages import PAGE_CHARS

    run_dir, _ = hand_set_run
    text = tmp_path / "long.txt"
    text.write_text(quoted_text(lines=500, seed=1), encoding="utf-8")
    total = len(text.read_text(encoding="utf-8"))
    assert total > PAGE_CHARS
    out = tmp_path / "page.html"
    for cmd in ("score", "cells"):
        args = [cmd, run_dir, text, "-o", out] + (["--html"] if cmd == "score" else [])
        capped = run(*args)
        said = f"Showing the first {PAGE_CHARS:,} of {total:,} characters (--max-chars to change)."
        assert capped.exit_code == 0 and said in capped.output and said in parse_page(out)["note"], cmd
        assert len("".join(parse_page(out)["pieces"])) <= PAGE_CHARS + 1  # the text, and an <eod>
        assert run(*args, "--max-chars", 300).exit_code == 0
        assert f"the first 300 of {total:,}" in parse_page(out)["note"], cmd
        whole = run(*args, "--max-chars", total)
        assert "Showing" not in whole.output and "Showing" not in parse_page(out)["note"], cmd
    table = run("score", run_dir, text, "--json")
    assert json.loads(table.output)["characters"] == total + 1  # no cap without --html: the text and <eod>
    first = run("score", run_dir, text, "--json", "--max-chars", 50)
    assert json.loads(first.output.splitlines()[-1])["characters"] == 51 and "scoring the first 50 of" in first.output
