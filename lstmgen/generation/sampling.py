"""Generate text from a trained model: temperature, top-k, top-p, penalties, stop rules.

Generation starts from the end-of-document token (the model's "a document begins here"),
then reads the prime text, then draws one token per step for M streams at once. The unknown
token is never drawn. Randomness comes only from the ``numpy.random.Generator`` passed in,
so the same seed gives the same text. Beam search lives in ``beam.py``.

Shapes: M streams, V vocabulary size, t tokens of history (context and generated so far).

Per step, the logits go through, in this order:

    repetition penalty   a token already in the history has its logit divided by the penalty
                         when positive, multiplied when negative (1 = off)
    no-repeat n-gram     a token that would complete an n-gram already in the history is banned
    temperature, top-k, top-p, banned ids   (``next_token_probs``)

The log-probability reported for a drawn token is the model's own (softmax of the raw
logits), not that of the filtered distribution it was drawn from.

States, and how long they stay valid. The hot loop runs ``model.stepper(params, M)``, a
``Stepper`` (model.py) that allocates nothing per token: each layer writes its new state into
one of two buffers in turn, so a state the stepper returns is overwritten two steps later.
Whoever keeps a state longer keeps ``Stepper.snapshot(state)``: read-only copies that nothing
changes. ``sample_steps`` does this for its callers: every ``Step.state`` it yields is a
snapshot, valid however long it is kept (a copy of 2 x layers (M, H) arrays per token, small
beside the step's products), so a caller may keep any of them and resume from it later
(``sample_steps(..., state=step.state)``, as the interactive session does). Code that drives
a stepper itself (beam search, a stream, activation views) calls ``snapshot`` where it keeps.
"""

from dataclasses import dataclass, field
from typing import Iterator, List, Optional, Sequence

import numpy as np


def next_token_probs(logits: np.ndarray, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                     banned=()) -> np.ndarray:
    """Probabilities (M, V) of the next token from logits (M, V) after the chosen filters.

    ``temperature`` divides the logits (0 = greedy: all mass on the arg-max); ``top_k`` keeps
    the k most likely tokens (0 = all); ``top_p`` keeps the smallest set of most likely tokens
    whose probabilities add up to at least p (1 = all). ``banned`` ids get probability 0.
    """
    logits = np.array(logits, dtype=np.float64)  # (M, V), a copy: changed in place below
    if len(banned):
        logits[:, list(banned)] = -np.inf
    if temperature == 0:
        probs = np.zeros_like(logits)
        probs[np.arange(len(logits)), logits.argmax(axis=1)] = 1.0
        return probs
    if temperature != 1.0:
        logits /= temperature
    if 0 < top_k < logits.shape[1]:
        kth = np.partition(logits, -top_k, axis=1)[:, -top_k][:, None]  # (M, 1) k-th largest
        logits[logits < kth] = -np.inf
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits, out=logits)
    probs /= probs.sum(axis=1, keepdims=True)
    if top_p < 1.0:
        order = np.argsort(-probs, axis=1, kind="stable")  # (M, V) most likely first
        sorted_p = np.take_along_axis(probs, order, axis=1)
        before = np.cumsum(sorted_p, axis=1) - sorted_p  # mass of the more likely tokens
        keep_sorted = before < top_p  # always keeps the most likely token
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(axis=1, keepdims=True)
    return probs


def draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One id per row of probs (M, V) by inverse-CDF sampling: ids (M,)."""
    cdf = probs.cumsum(axis=1)  # (M, V), non-decreasing
    u = rng.random(len(probs)) * cdf[:, -1]  # (M,)
    if len(probs) == 1:  # the number of cdf entries <= u, by bisection
        ids = np.searchsorted(cdf[0], u, side="right")
    else:
        ids = (cdf <= u[:, None]).sum(axis=1)
    return np.minimum(ids, probs.shape[1] - 1)


def choose(logits: np.ndarray, rng: np.random.Generator, *, temperature: float = 1.0, top_k: int = 0,
           top_p: float = 1.0, banned: Sequence[int] = (), filtered: Optional[np.ndarray] = None):
    """Draw one id per row of logits (M, V), through ``next_token_probs``' filters applied to
    ``filtered`` (penalised logits) if given, else to ``logits``: ids (M,), and their
    log-probabilities (M,) under the model's own softmax of ``logits``."""
    z = logits.astype(np.float64)  # (M, V)
    z -= z.max(axis=1, keepdims=True)
    weights = np.exp(z)  # (M, V) the softmax of logits, not yet normalised
    log_total = np.log(weights.sum(axis=1))  # (M,)
    if filtered is None and temperature == 1.0 and top_k == 0 and top_p == 1.0:
        weights[:, list(banned)] = 0.0  # no filter: draw these weights (it scales by their sum)
        ids = draw(weights, rng)
    else:
        probs = next_token_probs(logits if filtered is None else filtered, temperature, top_k, top_p, banned)
        ids = draw(probs, rng)
    return ids, z[np.arange(len(z)), ids] - log_total


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities (M, V) of logits (M, V), in float64."""
    z = logits.astype(np.float64)
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def penalize(logits: np.ndarray, history: np.ndarray, repetition_penalty: float = 1.0,
             no_repeat_ngram_size: int = 0) -> np.ndarray:
    """Logits (M, V) after the repetition penalty and the no-repeat n-gram ban, given the
    history (M, t) of ids each stream has read or generated so far."""
    if repetition_penalty == 1.0 and no_repeat_ngram_size <= 0:
        return logits
    logits = logits.astype(np.float64)  # (M, V), a copy
    M, t = history.shape
    if repetition_penalty != 1.0 and t:
        seen = np.zeros(logits.shape, dtype=bool)  # (M, V)
        seen[np.arange(M)[:, None], history] = True
        scaled = np.where(logits > 0, logits / repetition_penalty, logits * repetition_penalty)
        logits = np.where(seen, scaled, logits)
    n = no_repeat_ngram_size
    if n == 1:
        seen = np.zeros(logits.shape, dtype=bool)
        seen[np.arange(M)[:, None], history] = True
        logits[seen] = -np.inf
    elif n > 1 and t >= n:
        grams = np.lib.stride_tricks.sliding_window_view(history, n, axis=1)  # (M, t-n+1, n)
        prefix = history[:, t - n + 1:]  # (M, n-1) the last n-1 ids
        hits = (grams[:, :, :-1] == prefix[:, None, :]).all(axis=2)  # (M, t-n+1)
        rows, where = np.nonzero(hits)
        logits[rows, grams[rows, where, -1]] = -np.inf
    return logits


def _ban(logits: np.ndarray, banned: Sequence[int], fallback: np.ndarray) -> np.ndarray:
    """Logits (M, V) with ``banned`` ids at -inf; a row left with no token at all (the n-gram
    ban took every other one) falls back to its unpenalised logits."""
    logits = np.array(logits, dtype=np.float64)  # (M, V), a copy
    logits[:, list(banned)] = -np.inf
    empty = np.isneginf(logits).all(axis=1)  # (M,)
    if empty.any():
        logits[empty] = fallback[empty]
        logits[np.ix_(empty, list(banned))] = -np.inf
    return logits


@dataclass
class Settings:
    """How each next token is chosen (the ``sample`` command's options of the same names)."""

    temperature: float = 1.0  # divides the logits; 0 = greedy
    top_k: int = 0  # keep the k most likely tokens (0 = all)
    top_p: float = 1.0  # keep the smallest most-likely set with mass >= p (1 = all)
    repetition_penalty: float = 1.0  # > 1 makes tokens already seen less likely (1 = off)
    no_repeat_ngram_size: int = 0  # never repeat an n-gram of this many tokens (0 = off)


@dataclass
class Step:
    """One generation step of M streams."""

    ids: np.ndarray  # (M,) the drawn tokens
    logprobs: np.ndarray  # (M,) their log-probabilities under the model (nats)
    state: dict  # the state that produced the logits, before reading ``ids``: a snapshot
    # (read-only copies, ``Stepper.snapshot``), valid however long it is kept
    logits: np.ndarray = None  # (M, V) the model's raw logits ``ids`` were drawn from


def read_context(model, params, context: np.ndarray, state: Optional[dict] = None):
    """Read ids (t,) for one stream from ``state`` (default zero): logits (1, V) after the last
    id, and the state after it."""
    if state is None:
        state = model.init_state(1)
    logits, state = model.logits(params, np.asarray(context, np.int32)[:, None], state)  # (t, V)
    return logits[-1:], state


def sample_steps(model, params, context: np.ndarray, *, settings: Settings, num_samples: int,
                 rng: np.random.Generator, banned: Sequence[int] = (), state: Optional[dict] = None,
                 length: Optional[int] = None) -> Iterator[Step]:
    """Read ``context`` (t,) once, copy its state to M = ``num_samples`` streams, then yield
    one ``Step`` per drawn token: ``length`` of them, or until the caller stops iterating."""
    context = np.asarray(context, np.int32)
    logits, state = read_context(model, params, context, state)
    state = {k: np.repeat(v, num_samples, axis=0) for k, v in state.items()}  # (M, H) each
    logits = np.repeat(logits, num_samples, axis=0)  # (M, V)
    history = np.repeat(context[None], num_samples, axis=0)  # (M, t)
    s = settings
    penalized = s.repetition_penalty != 1.0 or s.no_repeat_ngram_size > 0  # only then is history read
    filters = dict(temperature=s.temperature, top_k=s.top_k, top_p=s.top_p)
    stepper = model.stepper(params, num_samples)
    drawn = 0
    while length is None or drawn < length:
        if penalized:  # the n-gram ban may leave a row nothing but banned ids: _ban's fallback
            chosen = penalize(logits, history, s.repetition_penalty, s.no_repeat_ngram_size)
            ids, logprobs = choose(logits, rng, filtered=_ban(chosen, banned, fallback=logits), **filters)
        else:
            ids, logprobs = choose(logits, rng, banned=banned, **filters)  # (M,), (M,)
        yield Step(ids, logprobs, stepper.snapshot(state), logits)
        drawn += 1
        if penalized:
            history = np.concatenate([history, ids[:, None].astype(np.int32)], axis=1)  # (M, t+1)
        logits, state = stepper(ids, state)


def generate(model, params, tokenizer, *, prime: str = "", length: int = 200, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, num_samples: int = 1,
             rng: np.random.Generator, repetition_penalty: float = 1.0,
             no_repeat_ngram_size: int = 0) -> Iterator[np.ndarray]:
    """Yield ``length`` steps of generated ids, each (num_samples,)."""
    context = tokenizer.after_eod(tokenizer.encode(prime))
    settings = Settings(temperature, top_k, top_p, repetition_penalty, no_repeat_ngram_size)
    for step in sample_steps(model, params, context, settings=settings, num_samples=num_samples, rng=rng,
                             banned=[tokenizer.unk_id], length=length):
        yield step.ids


# ---- stop rules ------------------------------------------------------------------------------
@dataclass
class StopRules:
    """When a sample ends, besides the token budget (``--length``)."""

    stop: Sequence[str] = ()  # end after the first of these strings (the string is kept)
    stop_at_eod: bool = False  # end at the end-of-document token (which is not kept)
    max_chars: Optional[int] = None  # end once the continuation holds this many characters


@dataclass
class Completion:
    """The continuation of one stream, growing token by token until a stop rule ends it.

    ``add`` returns the new text to show (possibly shortened by a stop rule); after a stop,
    ``done`` is set, ``stopped_by`` says why, and further tokens are ignored.
    """

    tokenizer: object
    rules: StopRules
    prime: str = ""  # the text before the continuation: the decoder spaces words after it
    text: str = ""
    ids: List[int] = field(default_factory=list)
    logprobs: List[float] = field(default_factory=list)
    done: bool = False
    stopped_by: str = "length"

    def __post_init__(self):
        self.decoder = self.tokenizer.stream_decoder(self.prime)

    def add(self, id: int, logprob: float) -> str:
        if self.done:
            return ""
        if self.rules.stop_at_eod and id == self.tokenizer.eod_id:
            self.done, self.stopped_by = True, "eod"
            return ""
        piece = self.decoder.feed(id)  # may be "" while a character is incomplete (bpe)
        start = len(self.text)
        text = self.text + piece
        cut, reason = len(text), None
        # a stop string that newly ends must overlap the new piece; the earliest end wins
        ends = [at + len(s) for s in self.rules.stop if (at := text.find(s, max(0, start - len(s) + 1))) >= 0]
        if ends:
            cut, reason = min(ends), "stop"
        limit = self.rules.max_chars
        if limit is not None and (limit < cut or (limit == cut and reason is None)):
            cut, reason = limit, "max_chars"
        if reason is not None:
            self.done, self.stopped_by = True, reason
        if reason is None or cut > start:  # the token is part of the kept continuation
            self.ids.append(int(id))
            self.logprobs.append(float(logprob))
        self.text = text[:cut]
        return self.text[start:]


def top_tokens(logits: np.ndarray, tokenizer, k: int, banned: Sequence[int] = ()) -> list:
    """The k most likely next tokens after logits (1, V): ``[(token_name, probability)]``."""
    logp = log_softmax(logits)[0]  # (V,)
    logp[list(banned)] = -np.inf
    order = np.argsort(-logp, kind="stable")[:k]
    return [(tokenizer.token_name(int(i)), float(np.exp(logp[i]))) for i in order]


def ends_sample(tokenizer, rules: StopRules, ids: List[int]) -> bool:
    """Whether a stop rule ends a continuation at its last token (``ids`` ended nowhere before):
    the cheap test beam search applies to every candidate."""
    if rules.stop_at_eod and ids[-1] == tokenizer.eod_id:
        return True
    if rules.max_chars is not None and tokenizer.num_chars(ids) >= rules.max_chars:
        return True
    if rules.stop:
        longest = max(len(s) for s in rules.stop)
        tail = "".join(tokenizer.token_text(i) for i in ids[-longest:])  # every token has >= 1 character
        piece = len(tokenizer.token_text(ids[-1]))
        return any(tail.find(s, max(0, len(tail) - piece - len(s) + 1)) >= 0 for s in rules.stop)
    return False


def complete(tokenizer, rules: StopRules, ids: Sequence[int], logprobs: Sequence[float],
             prime: str = "") -> Completion:
    """The ``Completion`` of a whole sequence of generated ids (for beam search's results)."""
    c = Completion(tokenizer, rules, prime)
    for id, logprob in zip(ids, logprobs):
        c.add(int(id), float(logprob))
    return c
