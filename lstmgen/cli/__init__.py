"""The command line: ``lstmgen train | sample | eval | score | cells | novelty | inspect | plot | corpora | config |
serve | export``.

A thin shell over importable functions, one module per command (``train.py``, ``sample.py``,
...), the options several share in ``options.py``. This package is the only place that imports
Click, prints for the user or exits. Library errors become one line on stderr and an exit code
here, in one place (``LstmgenGroup.invoke``): 2 for usage and configuration mistakes, 1 for
data and checkpoint problems, 130 after Ctrl-C.
"""

import os
import sys

import click

from .._version import __version__
from ..errors import LstmgenError
from ..parallel.launch import launched_rank
from .cells import cells
from .common import UserError
from .config import config_cmd
from .corpora import corpora
from .eval import eval_cmd
from .export import export
from .inspect import inspect_cmd
from .novelty import novelty
from .plot import plot
from .ranks import ARGV
from .sample import sample
from .score import score
from .serve import serve
from .train import train

COMMANDS = (train, sample, eval_cmd, score, cells, novelty, inspect_cmd, plot, corpora, config_cmd, serve, export)


class LstmgenGroup(click.Group):
    def parse_args(self, ctx, args):
        ctx.meta[ARGV] = list(args)  # what the ranks of --procs run again (ranks.py)
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LstmgenError as e:
            if launched_rank() > 0:  # a rank of an MPI job: rank 0 says it (launch.py)
                sys.exit(e.exit_code)
            raise UserError(_name_options(str(e), ctx), e.exit_code) from None
        except BrokenPipeError:
            # the reader went away (``lstmgen sample ... | head``): stop quietly, like other tools
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)
        except PermissionError as e:
            raise UserError(f"permission denied: {e.filename}", 1) from None
        except OSError as e:
            if e.errno is None:
                raise
            where = f"{e.filename}: " if e.filename else ""
            raise UserError(f"{where}{e.strerror}", 1) from None


# config keys that a command also takes as an option: its errors name the option the user can type
_KEY_OPTIONS = {"data.csv_column": "--csv-column", "data.json_field": "--json-field"}


def _name_options(message: str, ctx) -> str:
    """A library message names config keys; name the command's own option instead where it has one."""
    name = ctx.invoked_subcommand
    command = ctx.command.commands.get(name) if name else None
    if command is None:
        return message
    options = {opt for param in command.params for opt in getattr(param, "opts", [])}
    for key, option in _KEY_OPTIONS.items():
        if option in options:
            message = message.replace(key, option)
    return message


@click.group(cls=LstmgenGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lstmgen")
def cli():
    """Train a small LSTM text generator on your own text, then sample from it and score it.

    \b
    Quick start:
      lstmgen train                       # the built-in corpus, configs/default.yaml's model
      lstmgen sample runs/default --prime "The "
      lstmgen eval runs/default
    """
    from ..data import cache as builtin_cache

    if launched_rank() == 0:  # a built-in corpus being built, or its cache rebuilt: one line each
        builtin_cache.on_note = lambda text: click.echo(f"note: {text}", err=True)



for command in COMMANDS:
    cli.add_command(command)


def main():
    cli(prog_name="lstmgen")


if __name__ == "__main__":
    main()
