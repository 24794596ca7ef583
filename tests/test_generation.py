"""Beam search against brute force, penalties and stop rules against their definitions."""

import itertools

import numpy as np

from lstmgen.tokenizers.base import StreamDecoder
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lstmgen.generation.beam import beam_search
from lstmgen.nn.model import LanguageModel
from lstmgen.generation.sampling import (Completion, Settings, StopRules, complete, ends_sample, log_softmax, penalize,
                            sample_steps)
from lstmgen.tokenizers.char import CharTokenizer

TOK = CharTokenizer(["<unk>", "<eod>", "a", "b"])  # V = 4; <unk> is never generated


@pytest.fixture
def tiny_model():
    model = LanguageModel("lstm", TOK.vocab_size, embed_dim=3, hidden_size=5, num_layers=2)
    params = model.init_params(np.random.default_rng(7))
    params = {k: v * 3 for k, v in params.items()}  # sharper distributions: fewer near-ties
    return model, params


def sequence_logprob(model, params, context, ids):
    """Summed log p of ``ids`` after ``context``, read in one pass (the reference)."""
    full = np.concatenate([context, ids]).astype(np.int32)
    logits, _ = model.logits(params, full[:-1, None], model.init_state(1))  # (t, V)
    logp = log_softmax(logits)[np.arange(len(full) - 1), full[1:]]
    return float(logp[len(context) - 1:].sum())


def all_candidates(length, eod):
    """Every sequence beam search can return: ends at <eod> (at most ``length``) or has ``length``
    tokens and no <eod>."""
    for n in range(1, length + 1):
        for seq in itertools.product([1, 2, 3], repeat=n):
            if eod in seq[:-1]:
                continue
            if seq[-1] == eod or n == length:
                yield list(seq)


@pytest.mark.parametrize("length_penalty", [0.0, 0.6, 1.0])
def test_wide_beam_equals_exhaustive_search(tiny_model, length_penalty):
    model, params = tiny_model
    context, L = np.array([1, 2], np.int32), 4
    best = beam_search(model, params, context, width=3 ** L, length=L, length_penalty=length_penalty, banned=[0],
                       is_final=lambda ids: ids[-1] == TOK.eod_id)[0]
    scored = [(sequence_logprob(model, params, context, s) / len(s) ** length_penalty, s)
              for s in all_candidates(L, TOK.eod_id)]
    score, ids = max(scored, key=lambda pair: pair[0])
    assert best.ids == ids
    assert best.score == pytest.approx(score, rel=1e-5)
    assert sum(best.logprobs) == pytest.approx(sequence_logprob(model, params, context, best.ids), rel=1e-5)


def test_beam_of_width_one_is_greedy(tiny_model):
    model, params = tiny_model
    context = np.array([1], np.int32)
    best = beam_search(model, params, context, width=1, length=12, banned=[0])[0]
    steps = sample_steps(model, params, context, settings=Settings(temperature=0), num_samples=1,
                         rng=np.random.default_rng(0), banned=[0], length=12)
    assert best.ids == [int(s.ids[0]) for s in steps]


def test_beam_returns_distinct_hypotheses_best_first(tiny_model):
    model, params = tiny_model
    results = beam_search(model, params, np.array([1], np.int32), width=4, length=5, banned=[0], num_results=4)
    assert len(results) == 4 and len({tuple(h.ids) for h in results}) == 4
    assert [h.score for h in results] == sorted((h.score for h in results), reverse=True)


def test_beam_hypotheses_carry_their_own_logprobs_as_beams_finish(tiny_model):
    # width 3 with <eod> final: the number of live beams changes, and the search's one stepper
    # pads them; every hypothesis's per-token log-probabilities must be those of its own text
    model, params = tiny_model
    context = np.array([1, 3], np.int32)
    results = beam_search(model, params, context, width=3, length=7, banned=[0], num_results=10,
                          is_final=lambda ids: ids[-1] == TOK.eod_id)
    assert any(h.ids[-1] == TOK.eod_id for h in results) and any(len(h.ids) == 7 for h in results)
    for h in results:
        full = np.concatenate([context, h.ids]).astype(np.int32)
        logits, _ = model.logits(params, full[:-1, None], model.init_state(1))
        expected = log_softmax(logits)[np.arange(len(full) - 1), full[1:]][len(context) - 1:]
        np.testing.assert_allclose(h.logprobs, expected, rtol=1e-5, atol=1e-6)


def test_beam_search_makes_one_stepper(tiny_model, monkeypatch):
    model, params = tiny_model
    made = []
    real = model.stepper
    monkeypatch.setattr(model, "stepper", lambda p, N: made.append(N) or real(p, N))
    beam_search(model, params, np.array([1], np.int32), width=3, length=8, banned=[0],
                is_final=lambda ids: ids[-1] == TOK.eod_id)
    assert made == [3]


@pytest.mark.parametrize("cell", ["lstm", "peephole_lstm", "gru", "gru_cudnn", "rnn"])
def test_every_yielded_state_stays_valid(cell):
    # keep every state of a 20-step run of 2 streams; each must equal a fresh read of the
    # context and the ids drawn before it
    model = LanguageModel(cell, TOK.vocab_size, embed_dim=3, hidden_size=5, num_layers=2, dtype=np.float64)
    params = model.init_params(np.random.default_rng(3))
    context = np.array([1, 2, 3], np.int32)
    kept = list(sample_steps(model, params, context, settings=Settings(), num_samples=2,
                             rng=np.random.default_rng(0), banned=[0], length=20))
    ids = np.stack([k.ids for k in kept])  # (20, 2)
    for t, step in enumerate(kept):
        x = np.concatenate([np.repeat(context[:, None], 2, axis=1), ids[:t]])  # (3 + t, 2)
        _, expected = model.logits(params, x, model.init_state(2))
        for k in expected:
            np.testing.assert_allclose(step.state[k], expected[k], rtol=1e-10, atol=1e-12, err_msg=f"{k} at {t}")
            assert not step.state[k].flags.writeable


def test_stepper_reuses_its_buffers_and_snapshot_keeps(tiny_model):
    # the reason for snapshot: a state the stepper returned is overwritten two calls later
    model, params = tiny_model
    stepper = model.stepper(params, 2)
    _, state = stepper(np.array([1, 2]), model.init_state(2))
    kept, raw = stepper.snapshot(state), state
    _, state = stepper(np.array([2, 3]), state)
    _, state = stepper(np.array([3, 2]), state)
    assert not np.array_equal(raw["layers.1.h"], kept["layers.1.h"])  # raw was written over
    _, again = model.logits(params, np.array([[1, 2]]), model.init_state(2))
    for k in again:
        np.testing.assert_allclose(kept[k], again[k], rtol=1e-5, atol=1e-6)


def test_repetition_penalty_follows_its_definition():
    rng = np.random.default_rng(0)
    logits, history = rng.standard_normal((3, 6)), rng.integers(0, 6, (3, 4))
    out = penalize(logits, history, repetition_penalty=1.5)
    for m in range(3):
        for v in range(6):
            want = logits[m, v]
            if v in history[m]:
                want = want / 1.5 if want > 0 else want * 1.5
            assert out[m, v] == pytest.approx(want)


@pytest.mark.parametrize("n", [1, 2, 3])
def test_no_repeat_ngram_bans_exactly_the_repeating_tokens(n):
    rng = np.random.default_rng(n)
    history = rng.integers(0, 4, (5, 9))
    out = penalize(np.zeros((5, 4)), history, no_repeat_ngram_size=n)
    for m, row in enumerate(history.tolist()):
        grams = {tuple(row[i:i + n]) for i in range(len(row) - n + 1)}
        tail = tuple(row[len(row) - n + 1:]) if n > 1 else ()
        banned = {v for v in range(4) if tail + (v,) in grams}
        assert set(np.flatnonzero(np.isneginf(out[m])).tolist()) == banned


def test_sampled_text_never_repeats_an_ngram(tiny_model):
    model, params = tiny_model
    steps = sample_steps(model, params, np.array([1], np.int32), settings=Settings(no_repeat_ngram_size=4),
                         num_samples=3, rng=np.random.default_rng(1), banned=[0], length=25)
    ids = np.stack([s.ids for s in steps], axis=1)  # (M, 25)
    for row in ids.tolist():
        row = [1] + row
        grams = [tuple(row[i:i + 4]) for i in range(len(row) - 3)]
        assert len(grams) == len(set(grams))


def test_sampling_is_determined_by_the_seed(tiny_model):
    model, params = tiny_model
    settings = Settings(temperature=0.8, top_k=3, top_p=0.9, repetition_penalty=1.3, no_repeat_ngram_size=3)

    def run(seed):
        steps = sample_steps(model, params, np.array([1, 2], np.int32), settings=settings, num_samples=4,
                             rng=np.random.default_rng(seed), banned=[0], length=30)
        return np.stack([s.ids for s in steps])

    np.testing.assert_array_equal(run(5), run(5))
    assert not np.array_equal(run(5), run(6))


def feed(rules, text, tokenizer=None):
    tokenizer = tokenizer or CharTokenizer(["<unk>", "<eod>"] + sorted(set(text.replace("\n", ""))))
    c = Completion(tokenizer, rules)
    shown = ""
    for ch in text:
        id = tokenizer.eod_id if ch == "\n" else int(tokenizer.encode(ch)[0])
        shown += c.add(id, -1.0)
    return c, shown


def test_stop_string_ends_after_its_first_occurrence():
    c, shown = feed(StopRules(stop=["dog."]), "the dog. the cat. the dog.")
    assert c.done and c.stopped_by == "stop" and shown == c.text == "the dog."
    assert len(c.ids) == len(c.logprobs) == len("the dog.")


def test_earliest_ending_stop_string_wins():
    c, _ = feed(StopRules(stop=["cat sat", "at"]), "a cat sat")
    assert c.text == "a cat"


def test_stop_at_eod_drops_the_marker_and_max_chars_cuts():
    c, shown = feed(StopRules(stop_at_eod=True), "abc\nde")
    assert (c.text, shown, c.stopped_by, c.ids) == ("abc", "abc", "eod", [2, 3, 4])
    c, _ = feed(StopRules(), "abc\nde")
    assert c.text == "abc\nde" and not c.done
    c, shown = feed(StopRules(max_chars=4), "abcdef")
    assert (c.text, shown, c.stopped_by, len(c.ids)) == ("abcd", "abcd", "max_chars", 4)
    c, _ = feed(StopRules(stop=["cd"], max_chars=4), "abcdef")
    assert (c.text, c.stopped_by) == ("abcd", "stop")


def test_stop_string_inside_a_multi_character_token_cuts_the_token():
    class Words:  # a word-level stand-in: tokens of several characters
        eod_id = 1
        vocab = ["<unk>", "<eod>", "hello", " wor", "ld!", " again"]

        def token_text(self, id):
            return self.vocab[id]

        def stream_decoder(self, prime=""):
            return StreamDecoder(self)

    c = Completion(Words(), StopRules(stop=["rld"]))
    shown = "".join(c.add(i, -0.5) for i in [2, 3, 4, 5])
    assert shown == c.text == "hello world" and c.ids == [2, 3, 4]


def test_beam_stops_where_the_stop_rules_say(tiny_model):
    model, params = tiny_model
    rules = StopRules(stop=["ba"], max_chars=9)
    for h in beam_search(model, params, np.array([1], np.int32), width=3, length=20, banned=[0], num_results=3,
                         is_final=lambda ids: ends_sample(TOK, rules, ids)):
        c = complete(TOK, rules, h.ids, h.logprobs)
        assert c.done and c.text == TOK.decode(h.ids)
        assert c.text.endswith("ba") or len(c.text) == 9
        assert "ba" not in c.text[:-1]


def test_interactive_session_commands_and_carried_state(tiny_model):
    from lstmgen.generation.interactive import Session

    model, params = tiny_model
    s = Session(model, params, TOK, settings=Settings(), rules=StopRules(), length=6,
                rng=np.random.default_rng(0))
    assert "temperature=0.0" in s.command(":temp 0")
    assert "needs a valid value" in s.command(":top-p 2") and s.settings.top_p == 1.0
    assert s.command(":stop b ") == "stop strings: ['b ']" and s.command(":stop") == "stop strings: []"
    first = "".join(s.respond("ab"))
    carried = "".join(s.respond("a"))
    s.command(":reset")
    fresh = "".join(s.respond("a"))
    # greedy: a fresh "a" is the start-of-document continuation; the carried one reads "ab" + first first
    steps = sample_steps(model, params, np.array([1, 2], np.int32), settings=Settings(temperature=0), num_samples=1,
                         rng=np.random.default_rng(0), banned=[0], length=6)
    assert fresh == TOK.decode([int(st.ids[0]) for st in steps])
    first_ids = [TOK.eod_id if ch == "\n" else int(TOK.encode(ch)[0]) for ch in first]  # TOK has no "\n" char
    context = np.concatenate([[1], TOK.encode("ab"), first_ids, TOK.encode("a")]).astype(np.int32)
    steps = sample_steps(model, params, context, settings=Settings(temperature=0), num_samples=1,
                         rng=np.random.default_rng(0), banned=[0], length=6)
    assert carried == TOK.decode([int(st.ids[0]) for st in steps])


@settings(max_examples=200, deadline=None)
@given(pieces=st.lists(st.text("ab.", min_size=1, max_size=3), max_size=12),
       stops=st.lists(st.text("ab.", min_size=1, max_size=3), max_size=3),
       max_chars=st.one_of(st.none(), st.integers(1, 20)))
def test_streamed_stop_rules_equal_a_search_of_the_whole_text(pieces, stops, max_chars):
    class Pieces:  # a tokenizer whose token k is pieces[k]
        eod_id = -1

        def token_text(self, id):
            return pieces[id]

        def stream_decoder(self, prime=""):
            return StreamDecoder(self)

    c = Completion(Pieces(), StopRules(stop=stops, max_chars=max_chars))
    shown = "".join(c.add(k, 0.0) for k in range(len(pieces)))
    full = "".join(pieces)
    cut = min([full.find(s) + len(s) for s in stops if s in full] + [len(full)])
    if max_chars is not None:
        cut = min(cut, max_chars)
    assert shown == c.text == full[:cut]
    starts = np.cumsum([0] + [len(p) for p in pieces])[:-1]
    assert c.ids == [k for k in range(len(pieces)) if starts[k] < cut]
    assert c.done == (cut < len(full) or any(s in full for s in stops) or max_chars is not None and max_chars <= len(full))
