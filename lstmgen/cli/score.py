"""``lstmgen score``: a text token by token, as a table, JSON, or a page coloured by surprisal."""

import json
from pathlib import Path

import click

from ..insight.html_pages import PAGE_CHARS
from .common import UserError, say_checkpoint
from .options import RUN_DIR, checkpoint_option, csv_column_option, json_option, threads_for, threads_option


@click.command()
@RUN_DIR
@click.argument("text_or_file")
@click.option("--top", default=0, show_default=True, type=click.IntRange(min=0), metavar="K",
              help="Also list the K tokens the model found most likely at each position.")
@csv_column_option("the file")
@checkpoint_option()
@json_option()
@click.option("--html", is_flag=True,
              help="Write a page instead (-o FILE): the text coloured by surprisal, hover for what the model expected.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --html: the page to write.")
@click.option("--max-chars", default=None, type=click.IntRange(min=1), metavar="N",
              help=f"Score only the first N characters of the text. Default: all; with --html {PAGE_CHARS:,} "
                   "(a page of the whole of a long text is slow to write and to open).")
@threads_option()
def score(run_dir, text_or_file, top, csv_column, which, as_json, html, output, max_chars, threads):
    """Score a text (or the file it names) token by token: log-probability, surprisal, bits per char."""
    from dataclasses import asdict

    from ..api import load
    from ..evaluation.score import cut_documents, read_text_or_file

    say_checkpoint(run_dir, which)
    if html or output is not None:
        _surprise_page(run_dir, text_or_file, which, csv_column, html, output, as_json, max_chars or PAGE_CHARS)
        return
    model = load(run_dir, which)
    docs, total = cut_documents(read_text_or_file(text_or_file, model.config.data.encoding, csv_column), max_chars)
    if max_chars is not None and total > max_chars:
        click.echo(f"note: scoring the first {max_chars:,} of {total:,} characters (--max-chars)", err=True)
    with threads_for(threads):
        scores = asdict(model.score(docs, top=top))
    result = {"run_dir": str(run_dir), "checkpoint": model.run.path.name, **scores}
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    click.echo(f"{'pos':>5}  {'token':>8}  {'logprob':>9}  {'bits':>7}" + ("  expected instead" if top else ""))
    for i, row in enumerate(result["tokens"]):
        line = f"{i:>5}  {json.dumps(row['token'], ensure_ascii=False):>8}  {row['logprob']:>9.4f}  " \
               f"{row['surprisal_bits']:>7.3f}"
        if top:
            line += "  " + "  ".join(f"{json.dumps(t['token'], ensure_ascii=False)} {t['prob']:.3f}"
                                     for t in row["top"])
        click.echo(line)
    click.echo(f"tokens: {result['num_tokens']:,} ({result['characters']:,} characters)   "
               f"total: {result['total_bits']:.2f} bits   bits per char: {result['bits_per_char']:.4f}   "
               f"loss: {result['loss']:.4f} nats/token")
    if result["unknown_characters"]:
        click.echo(f"unknown characters: {result['unknown_characters']:,} (scored as <unk>)")


def _surprise_page(run_dir, text_or_file, which, csv_column, html, output, as_json, max_chars):
    from ..insight.cells_view import write_surprise_page

    if not html or output is None:
        raise UserError("--html and -o FILE go together: score --html -o surprise.html", 2)
    if as_json:
        raise UserError("--html writes a page; drop --json", 2)
    page = write_surprise_page(run_dir, text_or_file, output, which=which, csv_column=csv_column, max_chars=max_chars)
    if page["truncated"]:
        click.echo(f"note: {page['note']}", err=True)
    click.echo(f"wrote {output}: {page['summary'].split('. ')[0]}")

