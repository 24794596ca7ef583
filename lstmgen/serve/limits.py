"""What one request may ask of ``lstmgen serve``, how many run at once, how long it waits for
a client, and who may call it."""

from dataclasses import dataclass
from typing import Optional, Tuple


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, and how many run at once (``lstmgen serve`` options)."""

    max_tokens: int = 1024  # tokens generated per choice
    max_prompt_chars: int = 4096  # characters per prompt
    max_choices: int = 16  # n x number of prompts
    max_body_bytes: int = 256 * 1024  # request body
    workers: int = 1  # generations running at once (threads): more helps only with cores to spare (RESULTS.md)
    queue: int = 32  # requests waiting for a worker; past that: 503
    max_connections: int = 128  # open connections; past that a new one gets a 503 and is closed


@dataclass(frozen=True)
class Timeouts:
    """How long the server waits for a client and for a request, in seconds (``lstmgen serve``
    options ``--write-timeout`` ...). Each ends the connection or the request; docs/serve.md."""

    write_timeout: float = 10.0  # a reply the client does not read for this long: connection closed, work cancelled
    request_timeout: float = 300.0  # a request's whole life, queue included; then an error object (or event)
    header_timeout: float = 10.0  # to send a request's headers, from connecting or from the previous reply
    body_timeout: float = 30.0  # to send a request's body, from its headers
    keep_alive_timeout: float = 5.0  # an idle connection between requests is closed after this (uvicorn's)


@dataclass(frozen=True)
class Access:
    """Who may use the server: the names a Host header may give, the web pages (origins) that
    may call it from a browser, and the key a client must send (docs/serve.md, threat model)."""

    api_key: Optional[str] = None  # None: no key; else every /v1/ request needs "Authorization: Bearer KEY"
    allowed_hosts: Tuple[str, ...] = ()  # Host names besides localhost, 127.0.0.1, ::1 and the address connected to
    cors_origins: Tuple[str, ...] = ()  # origins (https://app.example) whose pages may call it; none: CORS off
