"""The interactive prompt loop of ``lstmgen sample --interactive``, without the terminal.

Each line typed either changes a setting (it starts with ``:``) or primes the model; the
continuation comes back piece by piece. With ``carry`` on, the model keeps its recurrent
state from one exchange to the next (a conversation with one long text); with it off, each
line starts a fresh document. ``api.Model.session`` makes one from a loaded run and the
sampling options (checked as ``SampleOptions``); ``cli/interactive.py`` reads the lines and
prints the pieces.

Commands (the names of the ``sample`` options):

    :temperature T  (or :temp T)    :top-k K    :top-p P    :repetition-penalty R
    :no-repeat-ngram-size N         :length N   :max-chars N (0 = off)
    :stop TEXT  (add a stop string, taken verbatim; ":stop" alone clears them)     :stop-at-eod on|off
    :carry on|off   :reset (forget the carried state)   :settings   :help
"""

import dataclasses
from typing import Iterator, Optional

import numpy as np

from ..errors import ConfigError
from .options import check_option
from .sampling import Completion, Settings, StopRules, sample_steps

HELP = (":temperature T (:temp T), :top-k K, :top-p P, :repetition-penalty R, :no-repeat-ngram-size N, "
        ":length N, :max-chars N (0 = off), :stop TEXT (alone: clear), :stop-at-eod on|off, :carry on|off, "
        ":reset, :settings, :help; Ctrl-C ends a continuation; Ctrl-D leaves")


def _on_off(text: str) -> bool:
    if text.lower() in ("on", "yes", "true", "1"):
        return True
    if text.lower() in ("off", "no", "false", "0"):
        return False
    raise ValueError(f"expected on or off, got {text!r}")


def _checked(option: str, cast):
    """A parser of ``:command VALUE`` for a sampling option: its rule (``options.check_option``)
    decides what is valid; 0 turns ``max_chars`` off."""
    def parse(text):
        value = cast(text)
        if option == "max_chars" and value == 0:
            return None
        try:
            return check_option(option, value)
        except ConfigError:
            raise ValueError(f"{text} is out of range") from None
    return parse


# command -> (the Settings / StopRules / Session attribute it sets, its parser)
SETTERS = {
    "temperature": ("temperature", _checked("temperature", float)),
    "temp": ("temperature", _checked("temperature", float)),
    "top-k": ("top_k", _checked("top_k", int)),
    "top-p": ("top_p", _checked("top_p", float)),
    "repetition-penalty": ("repetition_penalty", _checked("repetition_penalty", float)),
    "no-repeat-ngram-size": ("no_repeat_ngram_size", _checked("no_repeat_ngram_size", int)),
    "length": ("length", _checked("length", int)),
    "max-chars": ("max_chars", _checked("max_chars", int)),
    "stop-at-eod": ("stop_at_eod", _on_off),
    "carry": ("carry", _on_off),
}


class Session:
    def __init__(self, model, params, tokenizer, *, settings: Settings, rules: StopRules, length: int,
                 rng: np.random.Generator, carry: bool = True):
        self.model, self.params, self.tokenizer = model, params, tokenizer
        self.settings, self.rules, self.length, self.rng, self.carry = settings, rules, length, rng, carry
        self._state: Optional[dict] = None  # the state before reading self._last, for one stream
        self._last: Optional[int] = None  # the last generated token, not read yet

    def settings_line(self) -> str:
        s, r = self.settings, self.rules
        return (f"temperature={s.temperature} top-k={s.top_k} top-p={s.top_p} "
                f"repetition-penalty={s.repetition_penalty} no-repeat-ngram-size={s.no_repeat_ngram_size} "
                f"length={self.length} max-chars={r.max_chars or 0} stop={list(r.stop)!r} "
                f"stop-at-eod={'on' if r.stop_at_eod else 'off'} carry={'on' if self.carry else 'off'}")

    def command(self, line: str) -> str:
        """Apply ``:name value``; return the message to show."""
        name, _, raw = line[1:].lstrip().partition(" ")
        arg = raw.strip()
        if name == "help":
            return HELP
        if name == "settings":
            return self.settings_line()
        if name == "reset":
            self._state = self._last = None
            return "state reset: the next line starts a new document"
        if name == "stop":
            self.rules.stop = [*self.rules.stop, raw] if raw else []  # verbatim: spaces count
            return f"stop strings: {list(self.rules.stop)!r}"
        if name not in SETTERS:
            return f"unknown command ':{name}'; {HELP}"
        attr, parse = SETTERS[name]
        try:
            value = parse(arg)
        except ValueError:
            return f"':{name}' needs a valid value, got {arg!r}"
        if attr in ("length", "carry"):
            setattr(self, attr, value)
        elif attr in ("max_chars", "stop_at_eod"):
            setattr(self.rules, attr, value)
        else:
            setattr(self.settings, attr, value)
        return self.settings_line()

    def respond(self, line: str) -> Iterator[str]:
        """The continuation of ``line``, piece by piece (streamed)."""
        ids = self.tokenizer.encode(line)
        if self.carry and self._state is not None:
            context, state = np.concatenate([[self._last], ids]), self._state
        else:
            context, state = np.concatenate([[self.tokenizer.eod_id], ids]), None
        completion = Completion(self.tokenizer, dataclasses.replace(self.rules), prime=line)
        steps = sample_steps(self.model, self.params, context.astype(np.int32), settings=self.settings,
                             num_samples=1, rng=self.rng, banned=[self.tokenizer.unk_id], state=state,
                             length=self.length)
        for step in steps:
            self._state, self._last = step.state, int(step.ids[0])
            piece = completion.add(int(step.ids[0]), float(step.logprobs[0]))
            if piece:
                yield piece
            if completion.done:
                break
