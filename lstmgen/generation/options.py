"""The sampling options and their checks, written once: ``lstmgen sample``'s options, the
Python API's keyword arguments (``Model.generate`` and its siblings) and the server's request
fields all become a ``SampleOptions``, checked here.

A bad value is an ``OptionError`` (a ``ConfigError``) that names the option as its caller
spells it: ``SampleOptions.of(options, name=...)`` takes that spelling (``--num-samples`` for
the command line, ``n`` for the server; the field's own name for the API).
"""

import dataclasses
import difflib
import math
import numbers
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Tuple

import numpy as np

from ..errors import ConfigError
from .sampling import Settings, StopRules


class OptionError(ConfigError):
    """A sampling option's value is wrong; ``option`` is the option's field name (``top_p``)."""

    def __init__(self, message: str, option: str):
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class SampleOptions:
    """How a sample is generated: ``lstmgen sample``'s options, same names and defaults. Values
    are checked when the object is made (``OptionError`` naming the option)."""

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
        _check_together(dataclasses.asdict(self), lambda option: option)

    @classmethod
    def of(cls, options: Mapping, name: Callable[[str], str] = lambda option: option,
           high: Optional[Mapping[str, int]] = None) -> "SampleOptions":
        """Options from keyword arguments; an unknown name is a ``ConfigError`` with a
        suggestion. Errors name option ``x`` as ``name(x)``; ``high`` gives upper bounds of
        the caller's own (the server's ``max_tokens``)."""
        names = [f.name for f in dataclasses.fields(cls)]
        for option in options:
            if option not in names:
                near = difflib.get_close_matches(option, names, n=1)
                hint = f"; did you mean '{near[0]}'?" if near else f"; expected one of: {', '.join(names)}"
                raise ConfigError(f"unknown sampling option '{option}'{hint}")
        high = high or {}
        checked = {k: check_option(k, v, name(k), high.get(k)) for k, v in options.items()}
        _check_together({**{f.name: f.default for f in dataclasses.fields(cls)}, **checked}, name)
        return cls(**checked)

    def settings(self) -> Settings:
        """How each next token is drawn."""
        return Settings(self.temperature, self.top_k, self.top_p, self.repetition_penalty, self.no_repeat_ngram_size)

    def stop_rules(self) -> StopRules:
        """When a sample ends, besides ``length``."""
        return StopRules(list(self.stop), self.stop_at_eod, self.max_chars)


def _check_together(values: Mapping, name: Callable[[str], str]) -> None:
    """The rules between options."""
    if values["beam_width"] > 1 and values["num_samples"] > values["beam_width"]:
        raise OptionError(f"{name('num_samples')} {values['num_samples']} is more than {name('beam_width')} "
                          f"{values['beam_width']}; beam search returns at most one text per beam", "num_samples")


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
    given), as the type the option takes; else an ``OptionError`` that names ``label``
    (default: ``name``). The server checks its requests' other fields with this too."""
    kind, low, top, low_open, nullable = _RULES[name]
    label = label or name
    top = high if high is not None else top
    if value is None and nullable:
        return None
    if kind == "flag":
        if not isinstance(value, (bool, np.bool_)):
            raise OptionError(f"{label} must be true or false, got {value!r}", name)
        return bool(value)
    if kind == "texts":
        texts = (value,) if isinstance(value, str) else value
        if not isinstance(texts, (list, tuple)) or not all(isinstance(s, str) and s for s in texts):
            raise OptionError(f"{label} must be a non-empty string or a list of them, got {value!r}", name)
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
        raise OptionError(f"{label} must be {what}{' ' + ' and '.join(bounds) if bounds else ''}, got {value!r}", name)
    return int(value) if kind == "int" else float(value)
