"""``lstmgen plot``: the loss curves of one or more runs, as a PNG or a text chart."""

from pathlib import Path

import click

from .common import UserError


@click.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a PNG here (needs matplotlib: pip install 'lstmgen[plot]'). Without it: a text chart.")
@click.option("--x", "x_axis", default="step", show_default=True, type=click.Choice(["step", "tokens"]),
              help="The x axis: optimiser steps or training tokens seen.")
@click.option("--y", "y_axis", default=None, type=click.Choice(["loss", "bits-per-char"]),
              help="The y axis: loss in nats per token, or validation bits per character (comparable across "
                   "tokenizers). Default: loss, or bits-per-char when the runs' tokenizers differ.")
def plot(run_dirs, output, x_axis, y_axis):
    """Training and validation loss (and learning rate) of one or more runs, overlaid."""
    from ..insight.plot import INSTALL_HINT, default_y, read_curves, save_png, text_chart

    runs = [read_curves(d) for d in run_dirs]
    y_axis = y_axis or default_y(runs)
    if output is None:
        click.echo(text_chart(runs, x_axis, y=y_axis))
        return
    try:
        save_png(runs, output, x_axis, y_axis)
    except ImportError:
        click.echo(text_chart(runs, x_axis, y=y_axis))
        raise UserError(f"{INSTALL_HINT}; the text chart above shows the same losses", 1) from None
    click.echo(f"wrote {output}")

