"""``lstmgen serve``: a trained run behind an OpenAI-compatible HTTP API, with a page to try it.

An optional extra (``pip install 'lstmgen[serve]'``: starlette and uvicorn); the core never
imports this package's ``app`` module. The parts, each importable without the extra except
``app``:

    __init__.py     which of its packages are missing; the listening socket; ``serve``
    limits.py       the server's limits, time limits (``Timeouts``) and access rules (``Access``)
    request.py      a completions request checked field by field
    completions.py  a checked request -> the response object, or its stream of chunks
    guard.py        who may ask: the Host and Origin headers, the API key, the content type
    work.py         one request's work: the queue for workers, cancelling, server-sent events
    app.py          the Starlette app: routes and error objects
    connections.py  uvicorn's connections with time limits and a cap; shutdown ending every request
    page.html/.js   the page served at ``/`` (no build step, nothing from elsewhere)

See docs/serve.md.
"""

import errno
import importlib.util
import socket
from typing import List, Optional

from ..errors import AddressError
from .limits import Access, Limits, Timeouts

INSTALL = "pip install 'lstmgen[serve]'"
NEEDS = ("starlette", "uvicorn")


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


def serve(model, *, name: str, host: str = "127.0.0.1", port: int = 8000, limits: Optional[Limits] = None,
          timeouts: Optional[Timeouts] = None, access: Optional[Access] = None, log_level: str = "info",
          sock: Optional[socket.socket] = None):
    """Serve ``model`` (an ``api.Model``) until SIGTERM or Ctrl-C (needs the ``serve`` extra), on
    ``sock`` (from ``listen_socket``) or else on a socket bound to ``host:port`` here. Returns
    once every open request has been answered (an error for those cut short)."""
    from .app import create_app
    from .connections import make_server

    sock = sock or listen_socket(host, port)
    limits, timeouts = limits or Limits(), timeouts or Timeouts()
    app = create_app(model, name=name, limits=limits, timeouts=timeouts, access=access or Access())
    server = make_server(app, host=host, port=sock.getsockname()[1], limits=limits, timeouts=timeouts,
                         log_level=log_level)
    server.run(sockets=[sock])
