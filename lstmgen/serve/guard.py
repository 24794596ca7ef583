"""Who may ask: the checks every request passes before it reaches a route (docs/serve.md).

    Host    must name this server: localhost, 127.0.0.1 or [::1] with this server's port (or
            none), the address the client connected to, or a name given with --allowed-host
            (any port). A page on another site then cannot reach the server under a name it
            controls (DNS rebinding), and no reply is built from a name a client made up.
    Origin  a browser request from another site's page (an Origin that is neither this server
            nor a --cors-origin) is refused, 403, before anything runs.
    key     with --api-key, every /v1/ request needs "Authorization: Bearer KEY", else 401.
    POST    the body must be application/json, else 415: a form or text/plain POST (which any
            page may send anywhere without asking the server first) never starts work.

``HostGuard`` (Host, Origin) sits outside Starlette's CORS middleware, when there is one, and
``RequestGuard`` (key, content type) inside it, so that an allowed page's preflight needs no key
and sees the CORS headers on a 401. Each refusal is an OpenAI-style error object. Plain ASGI.
"""

import hmac
import json
from typing import Optional, Tuple
from urllib.parse import urlsplit

from .limits import Access
from .request import RequestError

LOOPBACK = ("localhost", "127.0.0.1", "::1")


def split_host(value: str) -> Optional[Tuple[str, Optional[int]]]:
    """``(name, port or None)`` of a Host header (``name``, ``name:port``, ``[::1]:port``),
    lowercased; None when it is not one."""
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, port = value[1:].partition("]")
        if not bracket or (port and not port.startswith(":")):
            return None
        port = port[1:]
    else:
        name, _, port = value.partition(":")
    if not name or (port and not (port.isascii() and port.isdigit())):
        return None
    return name, int(port) if port else None


def host_allowed(value: str, server, access: Access) -> bool:
    """Whether a Host header names this server (``server``: the ASGI scope's local address)."""
    parsed = split_host(value)
    if parsed is None:
        return False
    name, port = parsed
    if "*" in access.allowed_hosts or name in (h.lower() for h in access.allowed_hosts):
        return True
    address, local_port = server or ("", None)
    return name in (*LOOPBACK, str(address).lower()) and port in (None, local_port)


async def refuse(send, error: RequestError, headers=()) -> None:
    """Answer with ``error``'s object (ASCII JSON: safe whatever text it quotes)."""
    body = json.dumps(error.body()).encode("ascii")
    await send({"type": "http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def _header(scope, name: bytes) -> Optional[str]:
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class HostGuard:
    """The Host and Origin checks."""

    def __init__(self, app, access: Access):
        self.app, self.access = app, access
        self.origins = {o.rstrip("/").lower() for o in access.cors_origins}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = _header(scope, b"host") or ""
        if not host_allowed(host, scope.get("server"), self.access):
            return await refuse(send, RequestError(
                f"the Host header {host!r} does not name this server; a name given with --allowed-host would",
                code="host_not_allowed"))
        origin = _header(scope, b"origin")
        if origin is not None and not self.origin_allowed(origin, host):
            return await refuse(send, RequestError(
                f"requests from pages of {origin!r} are not allowed: only this server's own page and the origins "
                "given with --cors-origin", code="origin_not_allowed", status=403))
        await self.app(scope, receive, send)

    def origin_allowed(self, origin: str, host: str) -> bool:
        origin = origin.strip().rstrip("/").lower()
        if "*" in self.origins or origin in self.origins:
            return True
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        return parts.scheme in ("http", "https") and parts.netloc == host.strip().lower()  # this server's own page


class RequestGuard:
    """The API key (on /v1/) and the content type of a POST."""

    def __init__(self, app, access: Access):
        self.app = app
        self.key = access.api_key.encode("utf-8") if access.api_key else None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] == "OPTIONS":
            return await self.app(scope, receive, send)
        if self.key is not None and scope["path"].startswith("/v1/"):
            scheme, _, given = (_header(scope, b"authorization") or "").strip().partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode("utf-8"), self.key):
                message = ("this server needs an API key: send the header 'Authorization: Bearer KEY'" if not given
                           else "the API key sent is not this server's")
                return await refuse(send, RequestError(message, code="invalid_api_key", status=401),
                                    [(b"www-authenticate", b"Bearer")])
        if scope["method"] == "POST":
            kind = (_header(scope, b"content-type") or "").partition(";")[0].strip().lower()
            if kind != "application/json":
                return await refuse(send, RequestError(
                    f"the request body must be JSON sent with 'Content-Type: application/json', not {kind or 'none'!r}",
                    code="unsupported_media_type", status=415))
        await self.app(scope, receive, send)
