"""One request's work: the line for a worker, the ways it ends early, server-sent events.

Generation runs in worker threads, never on the event loop: at most ``workers`` at once, up to
``queue`` more requests wait for one, past that 503 at once (``Gate``). A request is a ``Job``
that ends early for three reasons, each answered its own way:

    disconnect  its client left (or stopped reading for --write-timeout: the connection is
                closed): nothing is sent; a waiting job leaves the line at once
    timeout     --request-timeout passed since it arrived, waiting included: 504 error object
                (a stream: an error event, then [DONE])
    shutdown    SIGTERM or Ctrl-C: 503 error object (a stream: an error event, then [DONE])

Ending a job sets ``cancelled``, which its generation thread checks at every token, then
cancels what awaits for it. A running thread is always waited for (it stops at its next
token), so no more than ``workers`` threads ever run, and a worker is held only while its
thread runs: never while a reply waits for its client.
"""

import asyncio
import json
import logging
import threading
from functools import partial

import anyio
import anyio.to_thread

from ..errors import LstmgenError
from .request import RequestError

log = logging.getLogger("lstmgen.serve")

ENDED = {  # why a job ended early -> the error its client gets (None: the client is gone)
    "disconnect": None,
    "timeout": lambda seconds: RequestError(
        f"the request took longer than this server's limit of {seconds:g} s (--request-timeout)",
        code="request_timeout", status=504, type="server_error"),
    "shutdown": lambda seconds: RequestError("the server is shutting down; try again shortly",
                                             code="server_shutting_down", status=503, type="server_error"),
}


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

    async def work(self, fn):
        """``fn()`` in a worker thread once a worker is free. Cancelled while waiting, it leaves
        at once; while running, the cancellation waits for the thread (see the module's notes)."""
        async with self.running:
            return await anyio.to_thread.run_sync(fn)


class Jobs:
    """The requests in progress, so that a shutdown can end them all."""

    def __init__(self, gate: Gate, request_timeout: float):
        self.gate, self.request_timeout = gate, request_timeout
        self.open = set()
        self.closing = False

    def start(self, receive) -> "Job":
        """A job for the request now arriving (``receive``: its ASGI receive), admitted by the
        gate (else 503); ``close`` it however it ends."""
        if self.closing:
            raise ENDED["shutdown"](0)
        self.gate.admit()
        job = Job(self, receive, anyio.current_time() + self.request_timeout)
        self.open.add(job)
        return job

    def end_all(self) -> None:
        """The server is shutting down: every open request ends now with an error."""
        self.closing = True
        for job in list(self.open):
            job.end("shutdown")


class Job:
    """One request's work: ``cancelled`` (for its thread), a cancel scope (for what awaits),
    ``reason`` once it ended early."""

    def __init__(self, jobs: Jobs, receive, deadline: float):
        self.jobs, self.receive, self.deadline = jobs, receive, deadline
        self.cancelled = threading.Event()
        self.scope = anyio.CancelScope()
        self.reason = None  # disconnect, timeout or shutdown

    def end(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.cancelled.set()
        self.scope.cancel()

    def error(self):
        """The error for the client of a job that ended early (None: none, or no client)."""
        make = ENDED.get(self.reason)
        return make(self.jobs.request_timeout) if make else None

    def close(self) -> None:
        self.cancelled.set()
        if self in self.jobs.open:
            self.jobs.open.discard(self)
            self.jobs.gate.leave()

    async def watch(self) -> None:
        """Until cancelled: end the job when its client disconnects or its deadline passes."""
        with anyio.move_on_after(self.deadline - anyio.current_time()):
            while (await self.receive())["type"] != "http.disconnect":
                pass
            return self.end("disconnect")
        self.end("timeout")

    async def run(self, fn):
        """``fn(cancelled)`` in a worker, watched; its result, or the job's error raised."""
        async with anyio.create_task_group() as tg:
            tg.start_soon(self.watch)
            with self.scope:
                result = await self.jobs.gate.work(partial(fn, self.cancelled))
            tg.cancel_scope.cancel()
        if self.reason is not None:
            raise self.error() or RequestError("the client disconnected", code="client_disconnected")
        return result


def dumps(data) -> bytes:
    """JSON as Starlette's JSONResponse writes it."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def render(reply: dict) -> bytes:
    """A reply's JSON, a choice at a time: each call into the C encoder is short, so the event
    loop's thread gets the GIL between them even for a reply of megabytes (call it in a worker)."""
    if not reply.get("choices"):
        return dumps(reply)
    rest = dumps({k: v for k, v in reply.items() if k != "choices"})[1:-1]
    choices = b"[" + b",".join(dumps(c) for c in reply["choices"]) + b"]"
    return b'{"choices":' + choices + (b"," + rest if rest else b"") + b"}"


def _event(data) -> bytes:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n".encode("utf-8")


class Pipe:
    """Events from a worker thread to the event loop, the thread never waiting: ``put`` appends
    and wakes the loop once per batch; ``batches`` yields all that came since, joined."""

    def __init__(self):
        self.loop = asyncio.get_running_loop()
        self.items, self.lock, self.ready, self.closed = [], threading.Lock(), asyncio.Event(), False

    def put(self, data: bytes) -> None:  # in the thread
        with self.lock:
            self.items.append(data)
            first = len(self.items) == 1
        if first:
            self.loop.call_soon_threadsafe(self.ready.set)

    def close(self) -> None:  # in the thread, or on the loop once the thread ended
        with self.lock:
            self.closed = True
        self.loop.call_soon_threadsafe(self.ready.set)

    async def batches(self):
        while True:
            await self.ready.wait()
            self.ready.clear()
            with self.lock:
                items, self.items, closed = self.items, [], self.closed
            if items:
                yield b"".join(items)
            if closed:
                return


class EventStream:
    """An ASGI response of server-sent events for ``job``: ``make_chunks(cancelled)`` runs in a
    worker thread (when the gate lets it) and each chunk it yields is sent as ``data: {json}``,
    then ``data: [DONE]``. Events wait in memory for the client, never the other way round:
    the thread never waits on a send, and its worker is free once it ends. A job that ended
    early ends the stream with its error event and ``[DONE]``, or, its client gone, at once."""

    def __init__(self, job: Job, make_chunks):
        self.job, self.make_chunks = job, make_chunks

    async def __call__(self, scope, receive, send):
        job = self.job
        try:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"text/event-stream; charset=utf-8"),
                                    (b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]})
            pipe = Pipe()
            async with anyio.create_task_group() as tg:
                tg.start_soon(job.watch)
                tg.start_soon(self._generate, pipe)
                async for data in pipe.batches():
                    if job.reason == "disconnect":
                        break
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                tg.cancel_scope.cancel()
            if job.reason != "disconnect":
                error = job.error()
                last = (_event(error.body()) if error else b"") + _event("[DONE]")
                await send({"type": "http.response.body", "body": last, "more_body": False})
        except OSError:  # the client went away while a chunk was sent
            pass
        finally:
            job.close()

    async def _generate(self, pipe: Pipe):
        try:
            with self.job.scope:
                await self.job.jobs.gate.work(partial(self._produce, pipe))
        finally:
            pipe.close()  # the sending loop then ends

    def _produce(self, pipe: Pipe):
        """In a worker thread: generate, handing each event to the event loop."""
        try:
            for chunk in self.make_chunks(self.job.cancelled):
                pipe.put(_event(chunk))
        except Exception as e:  # after the 200 went out: the error becomes the last event
            error = RequestError(str(e)) if isinstance(e, LstmgenError) else \
                RequestError("internal error", type="server_error", status=500)
            if not isinstance(e, LstmgenError):
                log.exception("error while streaming a completion")
            pipe.put(_event(error.body()))
