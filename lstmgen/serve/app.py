"""The Starlette app of ``lstmgen serve``: routes, and every error as an OpenAI-style object.

    GET  /                              a page to try the model (page.html, page.js)
    GET  /health                        {"status": "ok", ...}
    GET  /v1/models, /v1/models/{id}    the served run, as OpenAI lists models
    POST /v1/completions                OpenAI's completions API (see completions.py)
    POST /v1/lstmgen/next_token_probs   {"prompt", "k"} -> the k most likely next tokens

Every request first passes guard.py (Host, Origin, key, content type); its work runs in a
worker thread as a ``work.Job`` (queue, cancelling, deadline). Every error is an OpenAI-style
JSON object: 400 bad request (lone surrogates and undecodable bytes included), 401 key,
403 origin, 404, 405 (with ``Allow``), 413 body too large, 415 not JSON, 503 busy or shutting
down, 504 past --request-timeout, 500 with the traceback in the server's log only. Replies are
serialised in the worker, so the event loop stays free for /health and the other clients.
"""

import json
import time
from functools import partial
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..errors import LstmgenError
from . import completions
from .guard import HostGuard, RequestGuard
from .limits import Access, Limits, Timeouts
from .request import RequestError, parse_completion, parse_next_token_probs
from .work import EventStream, Gate, Jobs, render

HERE = Path(__file__).resolve().parent


class ErrorResponse(JSONResponse):
    """An error object in ASCII JSON: whatever text it quotes, it can be written."""

    def render(self, content) -> bytes:
        return json.dumps(content, separators=(",", ":")).encode("ascii")


async def read_json(request, limits: Limits):
    """The request's body as JSON, read up to ``limits.max_body_bytes`` (else 413)."""
    too_large = RequestError(f"the request body is larger than this server's limit of {limits.max_body_bytes} bytes",
                             code="body_too_large", status=413)
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise too_large
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > limits.max_body_bytes:
                raise too_large
    except ClientDisconnect:  # nobody reads the answer
        raise RequestError("the client disconnected", code="client_disconnected") from None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError (bytes that are not UTF-8) included
        raise RequestError(f"the request body is not valid JSON: {e}", code="invalid_json") from None
    try:  # a lone surrogate ("\ud800" in JSON) decodes but can be neither generated from nor written back
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as e:
        raise RequestError(f"the request body holds a lone surrogate ({e.object[e.start:e.end]!r}): not text",
                           code="invalid_text") from None
    except RecursionError:
        raise RequestError("the request body is nested too deeply", code="invalid_json") from None
    return data


# ---- every error as an OpenAI-style JSON object ---------------------------------------------------
def _error(request, exc):
    if isinstance(exc, LstmgenError):  # an option the API refused
        exc = RequestError(str(exc))
    headers = {"Retry-After": "1"} if exc.status == 503 else None
    return ErrorResponse(exc.body(), status_code=exc.status, headers=headers)


def _http_error(request, exc):
    kind = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code)
    return ErrorResponse(RequestError(str(exc.detail), code=kind).body(), status_code=exc.status_code,
                         headers=exc.headers)  # 405: Allow


def _server_error(request, exc):  # the traceback goes to the server's log, not to the client
    return ErrorResponse(RequestError("internal error", type="server_error").body(), status_code=500)


HANDLERS = {RequestError: _error, LstmgenError: _error, HTTPException: _http_error, Exception: _server_error}


def _middleware(access: Access) -> list:
    """The Host and Origin checks, CORS for the origins named, then the key and content checks."""
    middleware = [Middleware(HostGuard, access=access)]
    if access.cors_origins:
        middleware.append(Middleware(CORSMiddleware, allow_origins=list(access.cors_origins),
                                     allow_methods=["GET", "POST"], allow_headers=["authorization", "content-type"]))
    middleware.append(Middleware(RequestGuard, access=access))
    return middleware


def create_app(model, *, name: str, limits: Limits = Limits(), timeouts: Timeouts = Timeouts(),
               access: Access = Access()) -> Starlette:
    """The app serving ``model`` (an ``api.Model``) under the id ``name``; ``app.state.jobs``
    ends every open request when the server shuts down (connections.py)."""
    jobs = Jobs(Gate(limits.workers, limits.queue), timeouts.request_timeout)
    page = (HERE / "page.html").read_text(encoding="utf-8")
    script = (HERE / "page.js").read_text(encoding="utf-8")
    card = {"id": name, "object": "model", "created": int(time.time()), "owned_by": "lstmgen"}

    async def in_worker(request, fn):
        """``fn(cancelled)`` as a job, in a worker thread when the gate lets it run."""
        job = jobs.start(request.receive)
        try:
            return await job.run(fn)
        finally:
            job.close()

    async def complete(request):
        req = parse_completion(await read_json(request, limits), name, limits)
        if req.stream:
            return EventStream(jobs.start(request.receive), partial(completions.chunks, model, req, name))
        body = await in_worker(request, lambda cancelled: render(completions.complete(model, req, name, cancelled)))
        return Response(body, media_type="application/json")

    async def next_token_probs(request):
        prompt, k = parse_next_token_probs(await read_json(request, limits), name, limits)
        top = await in_worker(request, lambda cancelled: model.next_token_probs(prompt, k=k))
        return JSONResponse({"object": "lstmgen.next_token_probs", "model": name, "prompt": prompt,
                             "tokens": [{"token": t, "prob": p} for t, p in top]})

    async def models(request):
        return JSONResponse({"object": "list", "data": [card]})

    async def one_model(request):
        if request.path_params["id"] != name:
            raise RequestError(f"the model {request.path_params['id']!r} does not exist; this server serves '{name}'",
                               "model", "model_not_found", status=404)
        return JSONResponse(card)

    async def health(request):
        return JSONResponse({"status": "ok", "model": name, **jobs.gate.counts()})

    async def home(request):
        return HTMLResponse(page)

    async def page_script(request):
        return Response(script, media_type="text/javascript; charset=utf-8")

    routes = [
        Route("/", home), Route("/page.js", page_script), Route("/health", health),
        Route("/v1/models", models), Route("/v1/models/{id:path}", one_model),
        Route("/v1/completions", complete, methods=["POST"]),
        Route("/v1/lstmgen/next_token_probs", next_token_probs, methods=["POST"]),
    ]
    app = Starlette(routes=routes, middleware=_middleware(access), exception_handlers=HANDLERS)
    app.router.redirect_slashes = False  # a redirect would be built from the client's Host header
    app.state.jobs = jobs
    return app
