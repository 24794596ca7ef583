"""``lstmgen serve``: a run over HTTP, an OpenAI-compatible completions API and a page to try it."""

from pathlib import Path

import click

from ..serve.limits import Access, Limits, Timeouts
from .common import UserError, say_checkpoint
from .options import RUN_DIR, checkpoint_option


LIMIT_HELP = {  # serve.Limits field -> help; each is an option --max-tokens ... with the field's default
    "max_tokens": "Most tokens one choice may ask for (max_tokens).",
    "max_prompt_chars": "Most characters in one prompt.",
    "max_choices": "Most choices (n x prompts) in one request.",
    "max_body_bytes": "Largest request body.",
    "workers": "Generations running at once (threads).",
    "queue": "Requests that may wait for a worker; past that the server answers 503.",
    "max_connections": "Open connections; past that a new one gets a 503 and is closed.",
}
TIMEOUT_HELP = {  # serve.Timeouts field -> help; each is an option --write-timeout ... in seconds
    "write_timeout": "Seconds a reply may wait for its client to read; then the connection closes, the work stops.",
    "request_timeout": "Seconds a request may take, waiting included; then an error object (or event).",
    "header_timeout": "Seconds a client has to send a request's headers.",
    "body_timeout": "Seconds a client has to send a request's body.",
    "keep_alive_timeout": "Seconds an idle connection stays open between requests.",
}


def _limit_options(command):
    for name, help in reversed(TIMEOUT_HELP.items()):
        command = click.option(f"--{name.replace('_', '-')}", default=getattr(Timeouts, name), show_default=True,
                               type=click.FloatRange(min=0, min_open=True), help=help)(command)
    for name, help in reversed(LIMIT_HELP.items()):
        command = click.option(f"--{name.replace('_', '-')}", default=getattr(Limits, name), show_default=True,
                               type=click.IntRange(min=0 if name == "queue" else 1), help=help)(command)
    return command


@click.command()
@RUN_DIR
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 lets other machines reach the server.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@checkpoint_option("serve")
@click.option("--model-name", default=None, help="The model id clients send. Default: the run directory's name.")
@click.option("--api-key", envvar="LSTMGEN_API_KEY", show_envvar=True, default=None,
              help="Require 'Authorization: Bearer KEY' on every /v1/ request. Safer as LSTMGEN_API_KEY: a command "
                   "line is visible to every user of the machine.")
@click.option("--allowed-host", "allowed_hosts", multiple=True, metavar="NAME",
              help="A name clients may reach the server by (Host header), besides localhost and its addresses; "
                   "repeat for more; '*' for any (behind a proxy that checks it).")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="ORIGIN",
              help="A web origin (https://app.example) whose pages may call the server; repeat for more. "
                   "Default: none (CORS off).")
@_limit_options
def serve(run_dir, host, port, which, model_name, api_key, allowed_hosts, cors_origins, **options):
    """Serve a run over HTTP: an OpenAI-compatible completions API, and a page to try it at /."""
    from ..api import load
    from ..serve import INSTALL, listen_socket, missing, serve as run_server

    absent = missing()
    if absent:
        raise UserError(f"lstmgen serve needs {' and '.join(absent)}: {INSTALL}", 1)
    if api_key is not None and not api_key.strip():
        raise UserError("--api-key (or LSTMGEN_API_KEY) is empty: give a key, or leave it out", 2)
    sock = listen_socket(host, port)  # a port in use: one line, before anything else is said
    port = sock.getsockname()[1]  # --port 0: the free port the system chose
    say_checkpoint(run_dir, which)
    model = load(run_dir, which)
    name = model_name or Path(run_dir).resolve().name
    click.echo(f"serving {run_dir} ({model.run.path.name}, step {model.step:,}) as model '{name}' "
               f"at http://{host}:{port}/ (Ctrl-C stops)", err=True)
    if host not in ("127.0.0.1", "localhost", "::1") and api_key is None:
        click.echo(f"warning: --host {host} lets other machines reach this server and there is no --api-key: "
                   "anyone who reaches it can use it (docs/serve.md: put a proxy in front)", err=True)
    limits = Limits(**{k: v for k, v in options.items() if k in LIMIT_HELP})
    timeouts = Timeouts(**{k: v for k, v in options.items() if k in TIMEOUT_HELP})
    access = Access(api_key=api_key, allowed_hosts=allowed_hosts, cors_origins=cors_origins)
    run_server(model, name=name, host=host, port=port, limits=limits, timeouts=timeouts, access=access, sock=sock)
