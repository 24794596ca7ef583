"""The server's connections: uvicorn's HTTP/1.1 (h11) with the time limits it lacks, a cap on
open connections, and a shutdown that answers every open request and exits cleanly.

uvicorn gives the keep-alive timeout (``timeout_keep_alive``: an idle connection between
requests is closed) and h11's limit on the size of the headers (16 KiB, then 400). It has no
header, body or write timeout, and its ``limit_concurrency`` only answers 503 once a request
has arrived (an idle connection keeps its file descriptor), in plain text, logging each one.
So ``Connection`` adds, each logged the first time and then at most once a minute with a
count (``Notice``), never once per connection:

    header timeout   from connecting (or from the previous reply) to the end of the headers;
                     then closed: quietly if nothing came, else with a 408 error object
    body timeout     from the headers to the end of the body: 408, closed
    write timeout    a reply that waits for its client to read (the socket's buffers full:
                     ``SEND_BUFFER`` in the kernel, 64 KiB in asyncio's) this long: the
                     connection is reset, dropping what was not read, and the app sees a
                     disconnect, which cancels the request's work
    connection cap   past --max-connections a new connection gets a 503 error object and is
                     closed, before anything is parsed; the cap stays below the process's
                     limit on open files (``ulimit -n``), so accepting one never fails

``Server`` ends every open request when it shuts down (SIGTERM, Ctrl-C: app.state.jobs),
logs a failed accept in one line, and leaves the process to exit 0 rather than raising the
signal again as uvicorn does.
"""

import asyncio
import contextlib
import json
import logging
import signal
import socket
import struct
import threading
import time
from http import HTTPStatus
from typing import Optional, Tuple

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from .limits import Limits, Timeouts
from .request import RequestError

log = logging.getLogger("uvicorn.error")  # uvicorn's log: the same lines, the same format
GRACE = 5  # seconds uvicorn gives open requests at shutdown (ours end at once with an error)
SPARE_FILES = 64  # file descriptors kept free beside the connections (model, logs, threads)
SEND_BUFFER = 256 * 1024  # bytes the kernel holds for a client to read (Linux doubles it): bounds a stalled reader


class Notice:
    """A warning logged the first time, then at most once a minute with a count."""

    def __init__(self, text: str, every: float = 60.0):
        self.text, self.every = text, every
        self.count, self.since = 0, None

    def __call__(self) -> None:
        now = time.monotonic()
        self.count += 1
        if self.since is None:
            log.warning("%s; more are counted and noted at most once a minute", self.text)
        elif now - self.since >= self.every:
            log.warning("%s: %d times in the last %.0f s", self.text, self.count, now - self.since)
        else:
            return
        self.count, self.since = 0, now


class Notices:
    def __init__(self, timeouts: Timeouts, cap: int):
        self.header = Notice(f"closed connections that sent incomplete headers for {timeouts.header_timeout:g} s "
                             "(--header-timeout)")
        self.body = Notice(f"closed connections whose request body took over {timeouts.body_timeout:g} s "
                           "(--body-timeout)")
        self.write = Notice(f"closed connections whose client read nothing for {timeouts.write_timeout:g} s "
                            "(--write-timeout), cancelling their work")
        self.refused = Notice(f"refused connections past the limit of {cap} open (--max-connections)")
        self.invalid = Notice("answered 400 to requests that are not valid HTTP")
        self.accept = Notice("could not accept a connection (out of file descriptors or memory: ulimit -n); "
                             "accepting again in a second")


def reply(error: RequestError, status: Optional[int] = None) -> bytes:
    """A whole HTTP/1.1 reply carrying ``error``'s object, closing the connection."""
    status = status or error.status
    body = json.dumps(error.body()).encode("ascii")
    head = (f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n")
    return head.encode("ascii") + body


REFUSED = reply(RequestError("the server has too many open connections; try again shortly",
                             code="too_many_connections", status=503, type="server_error"))
TOO_SLOW = {phase: reply(RequestError(f"the request's {phase} took too long (--{phase}-timeout)",
                                      code="request_too_slow", status=408)) for phase in ("header", "body")}


class Connection(H11Protocol):
    """One client connection (see the module's notes). ``cap``, ``timeouts`` and ``notices``
    are set on a subclass made for each server (``make_server``)."""

    cap: int
    timeouts: Timeouts
    notices: Notices

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._phase = None  # header or body: what the timer waits for
        self._timer = self._write_timer = None
        self._received = False  # any byte since the timer was set
        self._refused = self._closing = False

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        if len(self.connections) > self.cap:  # refused: answered without parsing, closed within a second
            self._refused = True
            self.notices.refused()
            transport.write(REFUSED)
            transport.write_eof()
            self._timer = self.loop.call_later(1.0, self._reset)
        else:
            self._follow()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        self._received = True
        super().data_received(data)
        self._follow()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._follow()

    def _follow(self) -> None:
        """Set the timer for what the connection now waits for from its client, if anything."""
        state = self.conn.their_state
        phase = "header" if state is h11.IDLE else "body" if state is h11.SEND_BODY else None
        if phase != self._phase and not self.transport.is_closing():
            self._phase, self._received = phase, False
            self._cancel_timer()
            if phase:
                seconds = getattr(self.timeouts, f"{phase}_timeout")
                self._timer = self.loop.call_later(seconds, self._too_slow, phase)

    def _too_slow(self, phase: str) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        if phase == "header" and not self._received:  # idle (a browser's spare connection): just closed
            return self.transport.close()
        getattr(self.notices, phase)()
        self.transport.write(TOO_SLOW[phase])
        self.transport.close()

    def pause_writing(self) -> None:
        super().pause_writing()
        if self._write_timer is None:
            seconds = min(self.timeouts.write_timeout, 1.0) if self._closing else self.timeouts.write_timeout
            self._write_timer = self.loop.call_later(seconds, self._not_reading)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._write_timer is not None:
            self._write_timer.cancel()
            self._write_timer = None

    def _not_reading(self) -> None:
        self._write_timer = None
        self.notices.write()
        self._reset()

    def _reset(self) -> None:
        """Close at once with a reset: what the client has not read is dropped, not kept."""
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def connection_lost(self, exc) -> None:
        self._cancel_timer()
        if self._write_timer is not None:
            self._write_timer.cancel()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:  # not HTTP: an error object, one note for all
        self.notices.invalid()
        self.transport.write(reply(RequestError("the request is not valid HTTP/1.1", code="invalid_http")))
        self.transport.close()

    def shutdown(self) -> None:
        self._closing = True
        if self.flow is not None and self.flow.write_paused:  # a reply nobody reads would outlast the grace
            return self._reset()
        super().shutdown()


class _Quiet(logging.Filter):
    """Drops uvicorn's line per invalid request (``Connection.send_400_response`` notes them)."""

    def filter(self, record) -> bool:
        return record.getMessage() != "Invalid HTTP request received."


class Server(uvicorn.Server):
    """uvicorn's server, ending every open request at shutdown (``on_shutdown``)."""

    def __init__(self, config, on_shutdown, notices: Notices):
        super().__init__(config)
        self.on_shutdown, self.notices = on_shutdown, notices

    async def serve(self, sockets=None) -> None:
        asyncio.get_running_loop().set_exception_handler(self._loop_error)
        quiet = _Quiet()
        log.addFilter(quiet)
        try:
            await super().serve(sockets)
        finally:
            log.removeFilter(quiet)

    def _loop_error(self, loop, context) -> None:
        if context.get("message", "").startswith("socket.accept() out of system resource"):
            return self.notices.accept()
        loop.default_exception_handler(context)

    async def shutdown(self, sockets=None) -> None:
        self.on_shutdown()  # each open request ends now: an error object or event
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self):
        """SIGINT and SIGTERM stop the server; unlike uvicorn, the signal is not raised again
        once it stopped, so the process exits 0 (a service manager's stop is not a failure)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def connection_cap(wanted: int) -> Tuple[int, Optional[str]]:
    """``--max-connections``, kept ``SPARE_FILES`` below the limit on open files: the limit is
    raised where the hard limit allows, else the cap lowered (with a note to log)."""
    try:
        import resource
    except ImportError:  # not a POSIX system
        return wanted, None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + SPARE_FILES
    if soft == resource.RLIM_INFINITY or soft >= need:
        return wanted, None
    if hard == resource.RLIM_INFINITY or hard >= need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
        return wanted, None
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    cap = max(1, hard - SPARE_FILES)
    return cap, (f"--max-connections {wanted} lowered to {cap}: this process may open {hard} files (ulimit -n), "
                 f"{SPARE_FILES} of them kept for other uses")


def make_server(app, *, host: str, port: int, limits: Limits, timeouts: Timeouts, log_level: str = "info") -> Server:
    """A uvicorn server for ``app`` (from ``create_app``) with this module's connections;
    ``.run(sockets=[sock])`` serves until SIGTERM or Ctrl-C."""
    cap, note = connection_cap(limits.max_connections)
    notices = Notices(timeouts, cap)
    protocol = type("Connection", (Connection,), {"cap": cap, "timeouts": timeouts, "notices": notices})
    config = uvicorn.Config(app, host=host, port=port, log_level=log_level, http=protocol,
                            timeout_keep_alive=timeouts.keep_alive_timeout, timeout_graceful_shutdown=GRACE)
    server = Server(config, app.state.jobs.end_all, notices)
    if note:
        log.warning(note)
    return server
