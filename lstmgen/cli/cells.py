"""``lstmgen cells``: the units that track the text's structure, as a table, JSON, a page or the
gates' saturation."""

import json
from pathlib import Path

import click

from ..insight.html_pages import PAGE_CHARS
from .common import UserError, say_checkpoint
from .options import RUN_DIR, checkpoint_option, json_option


@click.command()
@RUN_DIR
@click.argument("text_or_file")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the page (.html) here; with --saturation, the gate picture (.png, needs matplotlib).")
@click.option("--layer", type=int, default=None,
              help="Rank only this layer's units (0 = the lowest) and open the page on it. Default: all layers.")
@click.option("--cell", "cells", type=int, multiple=True, metavar="K",
              help="A unit to show and report (of --layer, default the last layer). Repeatable.")
@click.option("--top", default=5, show_default=True, type=click.IntRange(min=1), metavar="N",
              help="Units listed per feature.")
@checkpoint_option()
@json_option("Print the ranking, the chosen units' correlations and the gate saturation as one JSON object.")
@click.option("--saturation", is_flag=True,
              help="Gate saturation instead of the page: a picture with -o FILE.png, else a table.")
@click.option("--max-chars", default=PAGE_CHARS, show_default=True, type=click.IntRange(min=1), metavar="N",
              help="Read at most this many characters of the text (the page holds them all: about 9 MB "
                   "per 10,000 characters for 2 x 256 units).")
def cells(run_dir, text_or_file, output, layer, cells, top, which, as_json, saturation, max_chars):
    """See inside the model: the text coloured by one unit, and the units that track its structure.

    \b
    Runs the text through the model (as score does) and finds the units whose activation
    (tanh(c) for LSTMs, h for GRUs and RNNs) follows simple features of the text: position
    in the line, inside quotes, bracket depth, inside a word, indentation, distance to the end
    of the sentence. Without -o or --json it prints that ranking.
    """
    from ..insight.cells_view import analyse, ranking_table, to_json, write_cells_page
    from ..insight.gate_saturation import save_png, text_table
    from ..insight.plot import INSTALL_HINT

    say_checkpoint(run_dir, which)
    analysis = analyse(run_dir, text_or_file, which=which, layer=layer, cells=cells, top=top, max_chars=max_chars)
    if analysis.reading.truncated:
        click.echo(f"note: {analysis.reading.cut_note()}", err=True)
    if saturation and not analysis.saturation:
        raise UserError(f"--saturation: a {analysis.cell} cell has no gates", 2)
    if as_json:
        click.echo(json.dumps(to_json(analysis)))
    elif saturation and output is None:
        click.echo(text_table(analysis.saturation))
    elif not saturation:
        click.echo(ranking_table(analysis))
    if output is None:
        return
    if not saturation:
        write_cells_page(analysis, output)
    else:
        try:
            save_png(analysis.saturation, output, title=f"{run_dir}: {analysis.cell}, gate saturation")
        except ImportError:
            click.echo(text_table(analysis.saturation))
            raise UserError(f"{INSTALL_HINT}; the table above shows the same figures", 1) from None
    click.echo(f"wrote {output}", err=as_json)

