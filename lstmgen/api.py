"""The Python face of lstmgen: load a run, then generate, stream and score; train from a dict.

    import lstmgen
    model = lstmgen.load("runs/default")                  # the best checkpoint
    model.generate("The ", length=200, seed=1)            # prime + continuation, as `sample` prints it
    for piece in model.stream("The ", length=200): ...     # the continuation, piece by piece
    model.score("some text").bits_per_char
    model.next_token_probs("The ", k=10)                  # [(token, probability)]
    lstmgen.train({"train": {"max_steps": 500}}, out="runs/small")

The sampling options are those of ``lstmgen sample``, with the same names and defaults
(``SampleOptions``, in ``generation/options.py``: the command line, this module and the server
check them there); the command line (``lstmgen.cli``) and the HTTP server (``lstmgen.serve``)
are shells over this module. Errors are the typed exceptions of ``errors.py`` (a bad option is a ``ConfigError``).

Threads: a ``Model`` may be used from several threads at once. Its weights are only read, and
every call builds its own stepper, recurrent state and random generator.

Shapes: M samples generated together, V vocabulary size, K most likely tokens listed.
"""

import dataclasses
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from .errors import ConfigError
from .generation.options import SampleOptions, check_option
from .nn.model import LanguageModel


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
    """The ``best`` (lowest validation loss) or ``last`` checkpoint of a run directory, or the
    one kept at a step (``"500"``: ``train.keep_every``)."""
    from .runs.loading import read_run

    return Model(read_run(Path(run_dir), checkpoint))


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
        from .generation.sampling import Completion, sample_steps

        tok = self.tokenizer
        settings, rules = opts.settings(), opts.stop_rules()
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

    def session(self, carry: bool = True, **options):
        """An interactive session (``lstmgen sample --interactive``): ``respond(line)`` streams
        the continuation of each line; with ``carry`` the recurrent state runs on from one
        exchange to the next; ``command(":temperature 0.5")`` changes a setting. ``options``:
        the sampling options of one sample (``seed`` seeds the whole session)."""
        from .generation.interactive import Session

        opts = SampleOptions.of(options)
        if opts.num_samples != 1 or opts.beam_width != 1:
            raise ConfigError("a session samples one text at a time: num_samples and beam_width must be 1")
        return Session(self.net, self.run.params, self.tokenizer, settings=opts.settings(), rules=opts.stop_rules(),
                       length=opts.length, rng=np.random.default_rng(opts.seed), carry=carry)

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
        return self.tokenizer.after_eod(self.tokenizer.encode(prime))

    def _top(self, logits: np.ndarray, k: int) -> List[Dict[str, float]]:
        """Per row of logits (M, V): the k most likely tokens (not <unk>) and their log-probabilities."""
        from .generation.sampling import log_softmax

        logp = log_softmax(logits)  # (M, V)
        logp[:, self.tokenizer.unk_id] = -np.inf
        order = np.argsort(-logp, axis=1, kind="stable")[:, :k]  # (M, K)
        return [{self.tokenizer.token_text(int(j)): float(row[j]) for j in ids} for row, ids in zip(logp, order)]

    def _beam_search(self, prime: str, opts: SampleOptions) -> List[Sample]:
        from .generation.beam import beam_search
        from .generation.sampling import complete, ends_sample

        tok = self.tokenizer
        rules = opts.stop_rules()
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
    config when resuming), a YAML file's path or a shipped config's name, a ``Config``, or None
    for the defaults. ``train.init_from`` fine-tunes another run, inheriting its model and
    tokenizer, exactly as ``lstmgen train --init-from RUN`` does: the run is resolved by the
    CLI's own function (``runs.resolve.resolve_run``), so the same settings give the same run.
    ``out``: the run directory (default ``runs/<config file name>``, or ``runs/default``).
    ``resume``: continue the run in ``out``. ``progress``: show a progress bar on stderr.
    ``reporter``: a ``training.trainer.Reporter`` to receive the progress instead.
    """
    from .runs.resolve import resolve_run
    from .training.trainer import train as run_training

    run = resolve_run(config, out=out, resume=resume)
    if reporter is None and progress:
        from .training.progress import TqdmReporter

        reporter = TqdmReporter()
    return run_training(run.config, run.run_dir, resume=resume, reporter=reporter)
