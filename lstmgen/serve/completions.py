"""A checked completions request -> the OpenAI response object, or its stream of chunks.

Plain Python over ``api.Model.stream_samples``; the app runs these in a worker thread. Each
prompt is one call with ``num_samples = n`` and the request's seed, so choice ``p * n + i``
is sample ``i`` of ``lstmgen sample --prime PROMPT_p --num-samples n --seed SEED``.

    stopped_by  length, max_chars -> finish_reason "length";  stop, eod -> "stop"
    logprobs    tokens, token_logprobs (nats, the model's own), top_logprobs (the K most likely
                tokens at each position; empty objects with logprobs 0), text_offset (where
                each token's text starts, counting the prompt)

Unlike OpenAI's, a stop string is kept at the end of the text, as ``lstmgen sample`` keeps it.
"""

import dataclasses
import threading
import time
import uuid
from typing import Iterator, Optional

from .request import CompletionRequest

FINISH = {"length": "length", "max_chars": "length", "stop": "stop", "eod": "stop"}


def completion_id() -> str:
    return f"cmpl-{uuid.uuid4().hex[:24]}"


class _Choice:
    """One choice as it grows: its text and, when asked for, its log-probabilities."""

    def __init__(self, index: int, prompt: str, with_logprobs: bool):
        self.index, self.prompt, self.text = index, prompt, ""
        self.logprobs = {"tokens": [], "token_logprobs": [], "top_logprobs": [], "text_offset": []} \
            if with_logprobs else None
        self.finish_reason: Optional[str] = None
        self.num_tokens = 0  # tokens of the text (usage.completion_tokens)

    def add(self, piece) -> Optional[dict]:
        """Take a ``Piece``; return the logprobs object of what it added (None without)."""
        added = None
        if self.logprobs is not None:
            offset = len(self.prompt) + len(self.text)
            added = {"tokens": piece.tokens, "token_logprobs": piece.logprobs,
                     "top_logprobs": piece.top_logprobs or [{} for _ in piece.tokens],
                     "text_offset": [offset] * len(piece.tokens)}
            for key, values in added.items():
                self.logprobs[key].extend(values)
        self.text += piece.text
        self.num_tokens += len(piece.tokens)
        if piece.stopped_by is not None:
            self.finish_reason = FINISH[piece.stopped_by]
        return added

    def to_dict(self) -> dict:
        return {"text": self.text, "index": self.index, "logprobs": self.logprobs,
                "finish_reason": self.finish_reason}


def _pieces(model, req: CompletionRequest, cancelled: Optional[threading.Event]):
    """(choice index, prompt, Piece) for every prompt in turn; stops early once ``cancelled``."""
    n = req.options.num_samples
    for p, prompt in enumerate(req.prompts):
        for piece in model.stream_samples(prompt, top_logprobs=req.logprobs or 0, **dataclasses.asdict(req.options)):
            if cancelled is not None and cancelled.is_set():
                return
            yield p * n + piece.index, prompt, piece


def _usage(model, req: CompletionRequest, choices) -> dict:
    prompt_tokens = sum(len(model.tokenizer.encode(p)) for p in req.prompts)
    completion_tokens = sum(c.num_tokens for c in choices)
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def _choices(req: CompletionRequest) -> list:
    n = req.options.num_samples
    return [_Choice(p * n + i, prompt, req.logprobs is not None) for p, prompt in enumerate(req.prompts)
            for i in range(n)]


def complete(model, req: CompletionRequest, name: str, cancelled: Optional[threading.Event] = None) -> dict:
    """The whole response of a request without ``stream`` (cut short once ``cancelled``)."""
    choices = _choices(req)
    for index, _, piece in _pieces(model, req, cancelled):
        choices[index].add(piece)
    return {"id": completion_id(), "object": "text_completion", "created": int(time.time()), "model": name,
            "choices": [c.to_dict() for c in choices], "usage": _usage(model, req, choices)}


def chunks(model, req: CompletionRequest, name: str, cancelled: threading.Event) -> Iterator[dict]:
    """The chunks of a request with ``stream``: one per piece of text (or finished choice),
    then, with ``stream_options.include_usage``, one with the usage and no choices."""
    choices = _choices(req)
    head = {"id": completion_id(), "object": "text_completion", "created": int(time.time()), "model": name}
    for index, _, piece in _pieces(model, req, cancelled):
        c = choices[index]
        added = c.add(piece)
        choice = {"text": piece.text, "index": index, "logprobs": added, "finish_reason": c.finish_reason}
        yield {**head, "choices": [choice]}
    if req.include_usage and not cancelled.is_set():
        yield {**head, "choices": [], "usage": _usage(model, req, choices)}
