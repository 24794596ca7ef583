"""The Starlette app of ``lstmgen serve``: routes, bounded concurrency, server-sent events.

    GET  /                              a page to try the model (page.html, page.js)
    GET  /health                        {"status": "ok", ...}
    GET  /v1/models, /v1/models/{id}    the served run, as OpenAI lists models
    POST /v1/completions                OpenAI's completions API (see completions.py)
    POST /v1/lstmgen/next_token_probs   {"prompt", "k"} -> the k most likely next tokens

Generation runs in worker threads, never on the event loop: at most ``Limits.workers`` at
once, up to ``Limits.queue`` more requests wait for one, and past that a request is answered
503 at once (``Gate``). A streamed completion stops generating when its client disconnects.
Every error is a JSON error object (400 bad request, 404, 405, 413 body too large, 503 busy,
500 with the traceback in the server's log only).
"""

import json
import logging
import math
import threading
import time
from functools import partial
from pathlib import Path

import anyio
import anyio.from_thread
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..errors import LstmgenError
from . import completions
from .limits import Limits
from .request import RequestError, parse_completion, parse_next_token_probs

HERE = Path(__file__).resolve().parent
log = logging.getLogger("lstmgen.serve")


class Gate:
    """At most ``workers`` generations at once and ``queue`` more waiting; past that, 503.
    Used only from the event loop's thread, so plain counters suffice."""

    def __init__(self, workers: int, queue: int):
        self.workers, self.capacity = workers, workers + queue
        self.admitted = 0  # running or waiting
        self._running = None  # anyio.Semaphore(workers), made on the event loop

    @property
    def running(self):
        if self._running is None:
            self._running = anyio.Semaphore(self.workers)
        return self._running

    def admit(self) -> None:
        if self.admitted >= self.capacity:
            raise RequestError(f"the server is busy: {self.admitted} requests running or waiting; try again shortly",
                               code="server_busy", status=503, type="server_error")
        self.admitted += 1

    def leave(self) -> None:
        self.admitted -= 1

    def counts(self) -> dict:
        running = self.workers - self.running.value
        return {"running": running, "waiting": self.admitted - running}


def _event(data) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode("utf-8")


class EventStream:
    """An ASGI response of server-sent events: ``make_chunks(cancelled)`` runs in a worker
    thread (when the gate lets it) and each chunk it yields is sent as ``data: {json}``, then
    ``data: [DONE]``. A client that disconnects sets ``cancelled``, which ends the generation
    at its next token. The gate's admission is given back however the stream ends."""

    def __init__(self, make_chunks, gate: Gate):
        self.make_chunks, self.gate = make_chunks, gate

    async def __call__(self, scope, receive, send):
        cancelled = threading.Event()
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream; charset=utf-8"),
                                    (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]})
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._watch, receive, tg.cancel_scope)
                await self._stream(send, cancelled)
                tg.cancel_scope.cancel()
        except OSError:  # the client went away while a chunk was sent
            pass
        finally:
            cancelled.set()
            self.gate.leave()

    @staticmethod
    async def _watch(receive, scope):
        while (await receive())["type"] != "http.disconnect":
            pass
        scope.cancel()

    async def _stream(self, send, cancelled):
        async with self.gate.running:
            sender, receiver = anyio.create_memory_object_stream(math.inf)
            async with anyio.create_task_group() as tg:
                tg.start_soon(partial(anyio.to_thread.run_sync, self._produce, sender, cancelled))
                try:
                    async with receiver:
                        async for data in receiver:
                            await send({"type": "http.response.body", "body": data, "more_body": True})
                finally:
                    cancelled.set()  # on a disconnect: the worker stops at its next token
        await send({"type": "http.response.body", "body": _event("[DONE]"), "more_body": False})

    def _produce(self, sender, cancelled):
        """In a worker thread: generate, handing each chunk to the event loop."""
        try:
            for chunk in self.make_chunks(cancelled):
                anyio.from_thread.run_sync(sender.send_nowait, _event(chunk))
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # the reader is gone
        except Exception as e:  # after the 200 went out: the error becomes the last event
            error = RequestError(str(e)) if isinstance(e, LstmgenError) else \
                RequestError("internal error", type="server_error", status=500)
            if not isinstance(e, LstmgenError):
                log.exception("error while streaming a completion")
            try:
                anyio.from_thread.run_sync(sender.send_nowait, _event(error.body()))
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                pass
        finally:
            anyio.from_thread.run_sync(sender.close)


async def read_json(request, limits: Limits):
    """The request's body as JSON, read up to ``limits.max_body_bytes`` (else 413)."""
    too_large = RequestError(f"the request body is larger than this server's limit of {limits.max_body_bytes} bytes",
                             code="body_too_large", status=413)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise too_large
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.max_body_bytes:
            raise too_large
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as e:
        raise RequestError(f"the request body is not valid JSON: {e}", code="invalid_json") from None


def create_app(model, *, name: str, limits: Limits = Limits()) -> Starlette:
    """The app serving ``model`` (an ``api.Model``) under the id ``name``."""
    gate = Gate(limits.workers, limits.queue)
    page = (HERE / "page.html").read_text(encoding="utf-8")
    script = (HERE / "page.js").read_text(encoding="utf-8")
    card = {"id": name, "object": "model", "created": int(time.time()), "owned_by": "lstmgen"}

    async def in_worker(fn, *args):
        """``fn(*args)`` in a worker thread, when the gate lets it run."""
        gate.admit()
        try:
            async with gate.running:
                return await anyio.to_thread.run_sync(fn, *args)
        finally:
            gate.leave()

    async def complete(request):
        req = parse_completion(await read_json(request, limits), name, limits)
        if not req.stream:
            return JSONResponse(await in_worker(completions.complete, model, req, name))
        gate.admit()
        return EventStream(partial(completions.chunks, model, req, name), gate)

    async def next_token_probs(request):
        prompt, k = parse_next_token_probs(await read_json(request, limits), name, limits)
        top = await in_worker(partial(model.next_token_probs, prompt, k=k))
        return JSONResponse({"object": "lstmgen.next_token_probs", "model": name, "prompt": prompt,
                             "tokens": [{"token": t, "prob": p} for t, p in top]})

    async def models(request):
        return JSONResponse({"object": "list", "data": [card]})

    async def one_model(request):
        if request.path_params["id"] != name:
            raise RequestError(f"the model '{request.path_params['id']}' does not exist; this server serves '{name}'",
                               "model", "model_not_found", status=404)
        return JSONResponse(card)

    async def health(request):
        return JSONResponse({"status": "ok", "model": name, **gate.counts()})

    async def home(request):
        return HTMLResponse(page)

    async def page_script(request):
        return Response(script, media_type="text/javascript; charset=utf-8")

    def error(request, exc):
        if isinstance(exc, LstmgenError):  # an option the API refused
            exc = RequestError(str(exc))
        headers = {"Retry-After": "1"} if exc.status == 503 else None
        return JSONResponse(exc.body(), status_code=exc.status, headers=headers)

    def http_error(request, exc):
        kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
        return JSONResponse(RequestError(str(exc.detail), code=kind).body(), status_code=exc.status_code)

    def server_error(request, exc):  # the traceback goes to the server's log, not to the client
        return JSONResponse(RequestError("internal error", type="server_error").body(), status_code=500)

    routes = [
        Route("/", home), Route("/page.js", page_script), Route("/health", health),
        Route("/v1/models", models), Route("/v1/models/{id:path}", one_model),
        Route("/v1/completions", complete, methods=["POST"]),
        Route("/v1/lstmgen/next_token_probs", next_token_probs, methods=["POST"]),
    ]
    handlers = {RequestError: error, LstmgenError: error, HTTPException: http_error, Exception: server_error}
    return Starlette(routes=routes, exception_handlers=handlers)
