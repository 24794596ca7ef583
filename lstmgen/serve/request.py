"""What a request may ask: the server's limits, and a completions request checked field by field.

A request that breaks a rule becomes a ``RequestError`` naming the field (``param``); the app
answers it with HTTP 400 and an OpenAI-style error object. The sampling fields become the
``SampleOptions`` that ``lstmgen sample`` and the Python API build, checked there, with the
OpenAI names (``max_tokens`` is ``length``, ``n`` is ``num_samples``).
"""

from dataclasses import dataclass
from typing import Any, List, Optional

from ..api import SampleOptions, check_option
from ..errors import ConfigError
from ..generation.options import OptionError
from .limits import Limits


class RequestError(Exception):
    """A bad request: HTTP ``status`` with an OpenAI-style error object."""

    def __init__(self, message: str, param: Optional[str] = None, code: Optional[str] = None, status: int = 400,
                 type: str = "invalid_request_error"):
        super().__init__(message)
        self.message, self.param, self.code, self.status, self.type = message, param, code, status, type

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


@dataclass
class CompletionRequest:
    """A checked ``POST /v1/completions`` body."""

    prompts: List[str]
    options: SampleOptions  # length, temperature, ..., num_samples, seed, stop
    logprobs: Optional[int]  # None: no log-probabilities; K: the chosen tokens' and the K most likely
    stream: bool
    include_usage: bool  # stream_options.include_usage: a last chunk with the usage


# OpenAI fields lstmgen does not implement: accepted only at the value that means "off"
_NEUTRAL = {
    "echo": (False,), "suffix": (None, ""), "presence_penalty": (0, None), "frequency_penalty": (0, None),
    "logit_bias": (None, {}), "best_of": (None, 1),
}
_HINTS = {"presence_penalty": "; lstmgen has repetition_penalty", "frequency_penalty": "; lstmgen has repetition_penalty"}
# field -> the api option it sets (and whose range it has)
_OPTIONS = {"max_tokens": "length", "temperature": "temperature", "top_p": "top_p", "n": "num_samples",
            "seed": "seed", "stop": "stop", "top_k": "top_k", "repetition_penalty": "repetition_penalty",
            "no_repeat_ngram_size": "no_repeat_ngram_size", "stop_at_eod": "stop_at_eod"}
_FIELDS = {option: name for name, option in _OPTIONS.items()}  # the api option -> the field that sets it
_OTHER = {"model", "prompt", "logprobs", "stream", "stream_options", "user"}


def _field(body: dict, name: str, option: str, high=None):
    try:
        return check_option(option, body[name], label=name, high=high)
    except ConfigError as e:
        raise RequestError(str(e), name) from None


def check_model(body: dict, served: str, required: bool = True) -> None:
    model = body.get("model")
    if model is None and not required:
        return
    if not isinstance(model, str):
        raise RequestError("model must be a string: the served model's id (GET /v1/models)", "model")
    if model != served:
        raise RequestError(f"the model '{model}' does not exist; this server serves '{served}'", "model",
                           "model_not_found")


def check_prompt(value, limits: Limits, name: str = "prompt") -> List[str]:
    prompts = [value] if isinstance(value, str) else value
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        raise RequestError(f"{name} must be a string or a non-empty list of strings (token ids are not supported)",
                           name)
    for p in prompts:
        if len(p) > limits.max_prompt_chars:
            raise RequestError(f"{name} has {len(p)} characters; this server's limit is {limits.max_prompt_chars}",
                               name, "prompt_too_long")
    return prompts


def parse_completion(body: Any, served: str, limits: Limits) -> CompletionRequest:
    """A ``CompletionRequest`` from a decoded JSON body, or a ``RequestError``."""
    if not isinstance(body, dict):
        raise RequestError(f"the request body must be a JSON object, got {type(body).__name__}")
    for name in body:
        if name not in _OPTIONS and name not in _OTHER and name not in _NEUTRAL:
            raise RequestError(f"unknown field '{name}'", name, "unknown_field")
    for name, neutral in _NEUTRAL.items():
        if name in body and body[name] not in neutral:
            raise RequestError(f"{name} {body[name]!r} is not supported{_HINTS.get(name, '')}", name, "unsupported")
    check_model(body, served)
    prompts = check_prompt(body.get("prompt", ""), limits)
    given = {option: body[name] for name, option in _OPTIONS.items() if body.get(name) is not None}
    high = {"length": limits.max_tokens} if "length" in given else None  # the limit bounds what a request asks
    try:  # OpenAI's default max_tokens: 16
        options = SampleOptions.of({"length": 16, **given}, name=_FIELDS.get, high=high)
    except OptionError as e:
        raise RequestError(str(e), _FIELDS[e.option]) from None
    if len(options.stop) > 4:
        raise RequestError("stop takes at most 4 strings", "stop")
    choices = options.num_samples * len(prompts)
    if choices > limits.max_choices:
        raise RequestError(f"n x prompts = {choices} choices; this server's limit is {limits.max_choices}", "n")
    logprobs = None if body.get("logprobs") is None else _field(body, "logprobs", "top_logprobs", high=5)
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError(f"stream must be true or false, got {stream!r}", "stream")
    stream_options = body.get("stream_options") or {}
    if not isinstance(stream_options, dict) or not isinstance(stream_options.get("include_usage", False), bool):
        raise RequestError("stream_options must be an object like {\"include_usage\": true}", "stream_options")
    return CompletionRequest(prompts, options, logprobs, stream, bool(stream_options.get("include_usage")))


def parse_next_token_probs(body: Any, served: str, limits: Limits):
    """``(prompt, k)`` from a ``POST /v1/lstmgen/next_token_probs`` body, or a ``RequestError``."""
    if not isinstance(body, dict):
        raise RequestError(f"the request body must be a JSON object, got {type(body).__name__}")
    for name in body:
        if name not in ("model", "prompt", "k"):
            raise RequestError(f"unknown field '{name}'", name, "unknown_field")
    check_model(body, served, required=False)
    prompt = body.get("prompt", "")
    if not isinstance(prompt, str):
        raise RequestError("prompt must be a string", "prompt")
    check_prompt(prompt, limits)
    k = 10 if body.get("k") is None else _field(body, "k", "k", high=100)
    return prompt, k
