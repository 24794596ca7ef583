"""The options several commands share, written once: ``--checkpoint``, ``--threads``,
``--csv-column``, ``--json``, ``--procs``, and RUN_DIR. Each is a decorator:
``@checkpoint_option()`` above a command."""

import contextlib
from pathlib import Path

import click

from .common import UserError

RUN_DIR = click.argument("run_dir", type=click.Path(path_type=Path))


def checkpoint_option(verb: str = "use", default: str = "best"):
    """``--checkpoint best|last``: which checkpoint of the run the command reads."""
    return click.option("--checkpoint", "which", default=default, show_default=True,
                        type=click.Choice(["best", "last"]), help=f"Which checkpoint of the run to {verb}.")


def json_option(help: str = "Print one JSON object instead of a table."):
    return click.option("--json", "as_json", is_flag=True, help=help)


def csv_column_option(where: str):
    """``--csv-column COL``, for the CSV file ``where`` names."""
    return click.option("--csv-column", default=None,
                        help=f"CSV column (name or 0-based index) when {where} is a CSV file.")


def threads_option(help: str = "Threads to compute with; default auto: the cores free at start."):
    return click.option("--threads", default=None, metavar="N|auto", help=help)


def procs_option(what: str):
    """``--procs P|auto``: ``what`` (Train, Score) on P processes through MPI."""
    return click.option("--procs", default="1", show_default=True, metavar="P|auto", help=what)


def threads_value(text: str):
    """--threads N|auto -> N or 'auto', or a usage error."""
    if text == "auto" or (text.isdigit() and int(text) >= 1):
        return text
    raise UserError(f"--threads is {text!r}; expected auto or a number of threads >= 1", 2)


@contextlib.contextmanager
def threads_for(text, shards: int = 1):
    """Eval and sampling: ``--threads`` threads, or (auto) as many as cores are free now; with
    ``shards`` (eval: the run's train.shards), as a training step uses them (training/threads.py)."""
    from ..training.threads import resolve, thread_budget

    with thread_budget(resolve(threads_value(text or "auto"))[0], shards):
        yield


def run_shards(run_dir) -> int:
    """The run's train.shards, how eval cuts its columns; 1 where the config cannot be read
    (the command that loads the run then says why)."""
    from ..errors import ConfigError
    from ..runs.config import read_saved_config

    try:
        return read_saved_config(Path(run_dir) / "config.yaml").train.shards
    except (ConfigError, OSError):
        return 1