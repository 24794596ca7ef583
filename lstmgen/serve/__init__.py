"""``lstmgen serve``: a trained run behind an OpenAI-compatible HTTP API, with a page to try it.

An optional extra (``pip install 'lstmgen[serve]'``: starlette and uvicorn); the core never
imports this package's ``app`` module. The parts, each importable without the extra except
``app``:

    __init__.py     the server's limits (``Limits``); which of its packages are missing
    request.py      a completions request checked field by field
    completions.py  a checked request -> the response object, or its stream of chunks
    app.py          the Starlette app: routes, bounded concurrency, server-sent events
    page.html/.js   the page served at ``/`` (no build step, nothing from elsewhere)

See docs/serve.md.
"""

import errno
import importlib.util
import socket
from dataclasses import dataclass
from typing import List, Optional

from ..errors import AddressError

INSTALL = "pip install 'lstmgen[serve]'"
NEEDS = ("starlette", "uvicorn")


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, and how many run at once (``lstmgen serve`` options)."""

    max_tokens: int = 1024  # tokens generated per choice
    max_prompt_chars: int = 4096  # characters per prompt
    max_choices: int = 16  # n x number of prompts
    max_body_bytes: int = 256 * 1024  # request body
    workers: int = 1  # generations running at once (threads): more helps only with cores to spare (RESULTS.md)
    queue: int = 32  # requests waiting for a worker; past that: 503


def missing() -> List[str]:
    """The packages ``lstmgen serve`` needs that are not installed."""
    return [name for name in NEEDS if importlib.util.find_spec(name) is None]


def listen_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (port 0: a free one), for ``serve``: a port in use is
    an ``AddressError`` here, in one line, before the model loads and the server starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn: a port in TIME_WAIT is free
    try:
        sock.bind((host, port))
    except OSError as e:
        sock.close()
        if e.errno == errno.EADDRINUSE:
            raise AddressError(f"port {port} on {host} is in use: choose another with --port") from None
        if e.errno == errno.EACCES:
            raise AddressError(f"port {port} on {host} needs privileges: choose one above 1023 with --port") from None
        if e.errno == errno.EADDRNOTAVAIL:
            raise AddressError(f"--host {host} is not an address of this machine") from None
        raise
    sock.listen()  # holds the port (a second bound socket could share it until one listens)
    sock.set_inheritable(True)
    return sock


def serve(model, *, name: str, host: str = "127.0.0.1", port: int = 8000, limits=None, log_level: str = "info",
          sock: Optional[socket.socket] = None):
    """Serve ``model`` (an ``api.Model``) until interrupted (needs the ``serve`` extra), on
    ``sock`` (from ``listen_socket``) or else on a socket bound to ``host:port`` here."""
    import uvicorn

    from .app import create_app

    sock = sock or listen_socket(host, port)
    app = create_app(model, name=name, limits=limits or Limits())
    config = uvicorn.Config(app, host=host, port=sock.getsockname()[1], log_level=log_level,
                            timeout_graceful_shutdown=5)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn (0.29 and later) raises Ctrl-C again once it has shut down cleanly
        pass
