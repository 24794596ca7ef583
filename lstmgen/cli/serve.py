"""``lstmgen serve``: a run over HTTP, an OpenAI-compatible completions API and a page to try it."""

from pathlib import Path

import click

from ..serve.limits import Limits
from .common import UserError, say_checkpoint
from .options import RUN_DIR, checkpoint_option


LIMIT_HELP = {  # serve.Limits field -> help; each is an option --max-tokens ... with the field's default
    "max_tokens": "Most tokens one choice may ask for (max_tokens).",
    "max_prompt_chars": "Most characters in one prompt.",
    "max_choices": "Most choices (n x prompts) in one request.",
    "max_body_bytes": "Largest request body.",
    "workers": "Generations running at once (threads).",
    "queue": "Requests that may wait for a worker; past that the server answers 503.",
}


def _limit_options(command):
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
@_limit_options
def serve(run_dir, host, port, which, model_name, **limits):
    """Serve a run over HTTP: an OpenAI-compatible completions API, and a page to try it at /."""
    from ..api import load
    from ..serve import INSTALL, listen_socket, missing, serve as run_server

    absent = missing()
    if absent:
        raise UserError(f"lstmgen serve needs {' and '.join(absent)}: {INSTALL}", 1)
    sock = listen_socket(host, port)  # a port in use: one line, before anything else is said
    port = sock.getsockname()[1]  # --port 0: the free port the system chose
    say_checkpoint(run_dir, which)
    model = load(run_dir, which)
    name = model_name or Path(run_dir).resolve().name
    click.echo(f"serving {run_dir} ({model.run.path.name}, step {model.step:,}) as model '{name}' "
               f"at http://{host}:{port}/ (Ctrl-C stops)", err=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"note: --host {host} lets other machines reach this server, which has no authentication",
                   err=True)
    run_server(model, name=name, host=host, port=port, limits=Limits(**limits), sock=sock)
