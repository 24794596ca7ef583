"""The Python face of lstmgen: load a run, then generate, stream and score; train from a dict.

    import lstmgen
    model = lstmgen.load("runs/default")                  # the best checkpoint
    model.generate("The ", length=200, seed=1)            # prime + continuation, as `sample` prints it
    for piece in model.stream("The ", length=200): ...     # the continuation, piece by piece
    model.score("some text").bits_per_char
    model.next_token_probs("The ", k=10)                  # [(token, probability)]
    lstmgen.train({"train": {"max_steps": 500}}, out="runs/small")

The sampling options are those of ``lstmgen sample``, with the same names and defaults
(``SampleOptions``); ``cli.py`` and the HTTP server (``lstmgen.serve``) are shells over this
module. Errors are the typed exceptions of ``errors.py`` (a bad option is a ``ConfigError``).

Threads: a ``Model`` may be used from several threads at once. Its weights are only read, and
every call builds its own stepper, recurrent state and random generator.

Shapes: M samples generated together, V vocabulary size, K most likely tokens listed.
"""

import copy
import dataclasses
import difflib
import math
import numbers
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import ConfigError
from .nn.model import LanguageModel


# ---- the options of `lstmgen sample` ----------------------------------------------------------
@dataclass(frozen=True)
class SampleOptions:
    """How ``Model.generate`` and its siblings sample: ``lstmgen sample``'s options, same names
    and defaults. Values are checked when the object is made (``ConfigError`` naming the key)."""

    length: int = 500  # tokens to generate after the prime
    temperature: float = 1.0  # divides the logits; 0 = greedy
    top_k: int = 0  # draw only from the k most likely tokens (0 = all)
    top_p: float = 1.0  # draw only from the most likely tokens with mass p (1 = all)
    seed: Optional[int] = None  # the same seed gives the same text; None = fresh
    num_samples: int = 1  # samples generated together (batched)
    repetition_penalty: float = 1.0  # above 1, tokens already seen become less likely (1 = off)
    no_repeat_ngram_size: int = 0  # never repeat a run of this many tokens (0 = off)
    beam_width: int = 1  # above 1: beam search (ignores temperature, top-k, top-p)
    length_penalty: float = 1.0  # beam search ranks by log-probability / length ** this
    stop: Tuple[str, ...] = ()  # end a sample after the first of these strings (kept)
    stop_at_eod: bool = False  # end a sample at the end-of-document token
    max_chars: Optional[int] = None  # end a sample after this many characters

    def __post_init__(self):
        for f in dataclasses.fields(self):
            object.__setattr__(self, f.name, check_option(f.name, getattr(self, f.name)))
        if self.beam_width > 1 and self.num_samples > self.beam_width:
            raise ConfigError(f"num_samples {self.num_samples} is more than beam_width {self.beam_width}; "
                              "beam search returns at most one text per beam")

    @classmethod
    def of(cls, options: Mapping) -> "SampleOptions":
        """Options from keyword arguments; an unknown name is a ``ConfigError`` with a suggestion."""
        names = [f.name for f in dataclasses.fields(cls)]
        for name in options:
            if name not in names:
                near = difflib.get_close_matches(name, names, n=1)
                hint = f"; did you mean '{near[0]}'?" if near else f"; expected one of: {', '.join(names)}"
                raise ConfigError(f"unknown sampling option '{name}'{hint}")
        return cls(**options)


# name -> (kind, lowest, highest, lowest excluded, None allowed); kinds: int, number, text list, flag
_RULES = {
    "length": ("int", 0, None, False, False),
    "temperature": ("number", 0, None, False, False),
    "top_k": ("int", 0, None, False, False),
    "top_p": ("number", 0, 1, True, False),
    "seed": ("int", 0, None, False, True),
    "num_samples": ("int", 1, None, False, False),
    "repetition_penalty": ("number", 0, None, True, False),
    "no_repeat_ngram_size": ("int", 0, None, False, False),
    "beam_width": ("int", 1, None, False, False),
    "length_penalty": ("number", None, None, False, False),
    "stop": ("texts", None, None, False, False),
    "stop_at_eod": ("flag", None, None, False, False),
    "max_chars": ("int", 1, None, False, True),
    "top_logprobs": ("int", 0, None, False, False),
    "k": ("int", 1, None, False, False),
}


def check_option(name: str, value, label: Optional[str] = None, high=None):
    """``value`` checked against the rule of option ``name`` (and the upper bound ``high``, if
    given), as the type the option takes; else a ``ConfigError`` that names ``label``
    (default: ``name``). The server checks its requests' fields with this too."""
    kind, low, top, low_open, nullable = _RULES[name]
    label = label or name
    top = high if high is not None else top
    if value is None and nullable:
        return None
    if kind == "flag":
        if not isinstance(value, (bool, np.bool_)):
            raise ConfigError(f"{label} must be true or false, got {value!r}")
        return bool(value)
    if kind == "texts":
        texts = (value,) if isinstance(value, str) else value
        if not isinstance(texts, (list, tuple)) or not all(isinstance(s, str) and s for s in texts):
            raise ConfigError(f"{label} must be a non-empty string or a list of them, got {value!r}")
        return tuple(texts)
    if kind == "int":
        ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
        what = "an integer"
    else:
        ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)) and math.isfinite(value)
        what = "a number"
    bounds = []
    if low is not None:
        bounds.append(f"> {low}" if low_open else f">= {low}")
    if top is not None:
        bounds.append(f"<= {top}")
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and top is not None:
        ok = value <= top
    if not ok:
        raise ConfigError(f"{label} must be {what}{' ' + ' and '.join(bounds) if bounds else ''}, got {value!r}")
    return int(value) if kind == "int" else float(value)


# ---- what generation returns ------------------------------------------------------------------
@dataclass
class Sample:
    """One generated continuation (``Model.samples``)."""

    prime: str
    text: str  # the continuation: ``prime + text`` is what ``lstmgen sample`` prints
    tokens: List[str]  # its tokens (their texts joined give ``text``, unless a stop rule cut the last)
    logprobs: List[float]  # their log-probabilities under the model (nats)
    stopped_by: str  # length, stop, eod or max_chars
    score: Optional[float] = None  # beam search's length-normalised score
    top_logprobs: Optional[List[Dict[str, float]]] = None  # per token: the K most likely tokens


@dataclass
class Piece:
    """What one step added to one sample (``Model.stream_samples``)."""

    index: int  # which sample
    text: str  # the new text (may be "" while a character is incomplete, or at the end)
    tokens: List[str] = field(default_factory=list)  # the token kept at this step (none or one)
    logprobs: List[float] = field(default_factory=list)
    top_logprobs: List[Dict[str, float]] = field(default_factory=list)  # with top_logprobs > 0
    stopped_by: Optional[str] = None  # set on a sample's last piece: length, stop, eod, max_chars


@dataclass
class Score:
    """A text scored token by token (``Model.score``), as ``lstmgen score --json`` prints it."""

    tokens: List[dict]  # per token: token, logprob (nats), surprisal_bits, and top with top > 0
    num_tokens: int
    characters: int
    unknown_characters: int  # characters not in the vocabulary, scored as <unk>
    total_bits: float
    bits_per_char: float
    loss: float  # nats per token

    @property
    def logprobs(self) -> List[float]:
        return [row["logprob"] for row in self.tokens]


# ---- the model --------------------------------------------------------------------------------
def load(run_dir, checkpoint: str = "best") -> "Model":
    """The ``best`` (lowest validation loss) or ``last`` checkpoint of a run directory."""
    from .runs.loading import load_run

    return Model(load_run(Path(run_dir), checkpoint))


class Model:
    """A trained run, ready to sample and score. Safe to use from several threads at once."""

    def __init__(self, run):
        self.run = run  # loading.Run: config, tokenizer, model, params, step, checkpoint folder
        self.tokenizer = run.tokenizer
        self.config = run.config
        self.step = run.step
        self._local = threading.local()

    @property
    def net(self):
        """This thread's ``LanguageModel``: a network keeps buffers between calls (its cells'
        workspaces), so each thread has its own; they share the read-only weights."""
        if not hasattr(self._local, "net"):
            self._local.net = LanguageModel.from_config(self.config.model, self.tokenizer.vocab_size)
        return self._local.net

    def __repr__(self) -> str:
        return f"<lstmgen.Model {self.run.path} step {self.step}>"

    def generate(self, prime: str = "", **options) -> Union[str, List[str]]:
        """``prime`` + its continuation: exactly what ``lstmgen sample`` prints with the same
        options (without the final newline). A list of texts when ``num_samples`` > 1."""
        texts = [prime + s.text for s in self.samples(prime, **options)]
        return texts if options.get("num_samples", 1) != 1 else texts[0]

    def samples(self, prime: str = "", top_logprobs: int = 0, **options) -> List[Sample]:
        """``num_samples`` continuations with their tokens, log-probabilities and stop reason
        (what ``lstmgen sample --format json`` prints); ``top_logprobs`` = K also lists the K
        most likely tokens at each position (not with beam search)."""
        opts = SampleOptions.of(options)
        if opts.beam_width > 1 and not check_option("top_logprobs", top_logprobs):
            return self._beam_search(prime, opts)
        pieces = self.stream_samples(prime, top_logprobs=top_logprobs, **options)
        found = [Sample(prime, "", [], [], "length", None, [] if top_logprobs else None)
                 for _ in range(opts.num_samples)]
        for piece in pieces:
            s = found[piece.index]
            s.text += piece.text
            s.tokens += piece.tokens
            s.logprobs += piece.logprobs
            if top_logprobs:
                s.top_logprobs += piece.top_logprobs
            s.stopped_by = piece.stopped_by or s.stopped_by
        return found

    def stream(self, prime: str = "", **options) -> Iterator[str]:
        """The continuation of ``prime`` piece by piece as it is generated (one sample):
        ``prime + "".join(model.stream(prime, ...)) == model.generate(prime, ...)``."""
        if options.get("num_samples", 1) != 1:
            raise ConfigError("stream generates one sample; use stream_samples for num_samples > 1")
        pieces = self.stream_samples(prime, **options)  # checks the options now, not at the first piece
        return (piece.text for piece in pieces if piece.text)

    def stream_samples(self, prime: str = "", top_logprobs: int = 0, **options) -> Iterator[Piece]:
        """``Piece``s of ``num_samples`` continuations as they are generated, the last of each
        sample with ``stopped_by`` set. Beam search yields each sample whole, at the end."""
        opts = SampleOptions.of(options)
        k = check_option("top_logprobs", top_logprobs)
        if opts.beam_width > 1:
            if k:
                raise ConfigError("top_logprobs needs sampling; beam search does not list them (beam_width 1)")
            return (Piece(i, s.text, s.tokens, s.logprobs, [], s.stopped_by)
                    for i, s in enumerate(self._beam_search(prime, opts)))
        return self._pieces(prime, opts, k)

    def _pieces(self, prime: str, opts: SampleOptions, k: int) -> Iterator[Piece]:
        from .generation.sampling import Completion, Settings, StopRules, sample_steps

        tok = self.tokenizer
        settings = Settings(opts.temperature, opts.top_k, opts.top_p, opts.repetition_penalty,
                            opts.no_repeat_ngram_size)
        rules = StopRules(list(opts.stop), opts.stop_at_eod, opts.max_chars)
        completions = [Completion(tok, rules, prime=prime) for _ in range(opts.num_samples)]
        steps = sample_steps(self.net, self.run.params, self._context(prime), settings=settings,
                             num_samples=opts.num_samples, rng=np.random.default_rng(opts.seed),
                             banned=[tok.unk_id], length=opts.length)
        for step in steps:
            top = self._top(step.logits, k) if k else None  # (M, K) pairs
            for i, c in enumerate(completions):
                if c.done:
                    continue
                kept = len(c.ids)
                text = c.add(int(step.ids[i]), float(step.logprobs[i]))
                new = c.ids[kept:]
                if text or new or c.done:
                    yield Piece(i, text, [tok.token_text(t) for t in new], c.logprobs[kept:],
                                [top[i]] * len(new) if k else [], c.stopped_by if c.done else None)
            if all(c.done for c in completions):
                return
        for i, c in enumerate(completions):  # the token budget ended these
            if not c.done:
                yield Piece(i, "", stopped_by=c.stopped_by)

    def next_token_probs(self, prime: str = "", k: int = 10) -> List[Tuple[str, float]]:
        """The ``k`` most likely next tokens after ``prime``, with their probabilities
        (``lstmgen sample --show-probs K``)."""
        from .generation.sampling import read_context, top_tokens

        k = check_option("k", k)
        logits, _ = read_context(self.net, self.run.params, self._context(prime))
        return top_tokens(logits, self.tokenizer, k, banned=[self.tokenizer.unk_id])

    def score(self, text: Union[str, Sequence[str]], top: int = 0) -> Score:
        """Score a text (or a list of documents) token by token, as ``lstmgen score`` does;
        ``top`` = K also lists the K tokens the model found most likely at each position."""
        from .errors import DataError
        from .evaluation.score import score_documents

        docs = [text] if isinstance(text, str) else list(text)
        if not all(isinstance(d, str) for d in docs):
            raise DataError("score takes a text or a list of texts")
        if not "".join(docs):
            raise DataError("nothing to score: the text is empty")
        run = dataclasses.replace(self.run, model=self.net)
        return Score(**score_documents(run, docs, check_option("top_k", top, "top")))

    # ---- helpers --------------------------------------------------------------------------
    def _context(self, prime: str) -> np.ndarray:
        """The ids generation reads first: the start of a document, then the prime (t,)."""
        return np.concatenate([[self.tokenizer.eod_id], self.tokenizer.encode(prime)]).astype(np.int32)

    def _top(self, logits: np.ndarray, k: int) -> List[Dict[str, float]]:
        """Per row of logits (M, V): the k most likely tokens (not <unk>) and their log-probabilities."""
        from .generation.sampling import log_softmax

        logp = log_softmax(logits)  # (M, V)
        logp[:, self.tokenizer.unk_id] = -np.inf
        order = np.argsort(-logp, axis=1, kind="stable")[:, :k]  # (M, K)
        return [{self.tokenizer.token_text(int(j)): float(row[j]) for j in ids} for row, ids in zip(logp, order)]

    def _beam_search(self, prime: str, opts: SampleOptions) -> List[Sample]:
        from .generation.beam import beam_search
        from .generation.sampling import StopRules, complete, ends_sample

        tok = self.tokenizer
        rules = StopRules(list(opts.stop), opts.stop_at_eod, opts.max_chars)
        hyps = beam_search(self.net, self.run.params, self._context(prime), width=opts.beam_width,
                           length=opts.length, length_penalty=opts.length_penalty, banned=[tok.unk_id],
                           is_final=lambda ids: ends_sample(tok, rules, ids),
                           repetition_penalty=opts.repetition_penalty,
                           no_repeat_ngram_size=opts.no_repeat_ngram_size, num_results=opts.num_samples)
        found = []
        for h in hyps:
            c = complete(tok, rules, h.ids, h.logprobs, prime=prime)
            found.append(Sample(prime, c.text, [tok.token_text(t) for t in c.ids], c.logprobs, c.stopped_by, h.score))
        return found


# ---- training ---------------------------------------------------------------------------------
def train(config=None, *, out=None, progress: bool = False, resume: bool = False, reporter=None):
    """Train a model, as ``lstmgen train`` does, and return its ``TrainResult``.

    ``config``: a ``{section: {key: value}}`` dict applied to the defaults (to the run's own
    config when resuming), a YAML file's path, a ``Config``, or None for the defaults. It is
    checked exactly as the CLI checks ``--config`` and ``--set``. ``out``: the run directory
    (default ``runs/<config file name>``, or ``runs/default``). ``progress``: show a progress
    bar on stderr. ``reporter``: a ``train.Reporter`` to receive the progress instead.
    """
    from .runs.config import Config, budget_choices, config_from_dict, load_config, validate
    from .training.trainer import train as run_training

    if out is None:
        out = Path("runs") / (Path(config).stem if isinstance(config, (str, Path)) else "default")
    out = Path(out)
    if isinstance(config, (str, Path)):
        cfg = load_config(config)
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
        validate(cfg)
    elif config is None or isinstance(config, Mapping):
        from .runs.checkpoint import has_checkpoint, load_checkpoint

        base = None
        if resume and has_checkpoint(out):  # continue with the run's own config, as `lstmgen train --resume` does
            base = load_checkpoint(out, "last", with_training_state=False).config
        cfg = config_from_dict(dict(config or {}), "config", base)
        if base is None:  # a new run with a time budget: the budget's choices where the dict chose nothing
            cfg = budget_choices(cfg, [f"{s}.{k}" for s, keys in (config or {}).items() if isinstance(keys, Mapping)
                                       for k in keys])
        validate(cfg)
    else:
        raise ConfigError(f"config must be a dict, a YAML file's path or a Config, got {type(config).__name__}")
    if reporter is None and progress:
        from .training.progress import TqdmReporter

        reporter = TqdmReporter()
    return run_training(cfg, out, resume=resume, reporter=reporter)
