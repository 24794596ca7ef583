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

import importlib.util
from dataclasses import dataclass
from typing import List

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


def serve(model, *, name: str, host: str = "127.0.0.1", port: int = 8000, limits=None, log_level: str = "info"):
    """Serve ``model`` (an ``api.Model``) until interrupted (needs the ``serve`` extra)."""
    import uvicorn

    from .app import create_app

    app = create_app(model, name=name, limits=limits or Limits())
    uvicorn.run(app, host=host, port=port, log_level=log_level, timeout_graceful_shutdown=5)
