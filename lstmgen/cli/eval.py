"""``lstmgen eval``: score a corpus (default: the run's validation split), on one process or P."""

import json

import click

from .common import say_checkpoint
from .options import (RUN_DIR, checkpoint_option, csv_column_option, json_option, procs_option, run_shards,
                      threads_for, threads_option)
from .ranks import procs as parse_procs, run_ranks


@click.command("eval")
@RUN_DIR
@click.option("--corpus", default=None, metavar="SOURCE",
              help="Text file, folder, glob, CSV file or builtin:NAME to score. Default: the run's validation split.")
@csv_column_option("--corpus")
@checkpoint_option()
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Streams read side by side, each from a zero state. Default: the run's train.batch_size; "
                   "1 reads the text in one stream, as score does (same total).")
@json_option()
@threads_option()
@procs_option("Score on P processes of this machine, each a share of the streams (MPI: "
              "pip install 'lstmgen[mpi]'); auto: one per core with MPI installed. See docs/distributed.md.")
def eval_cmd(run_dir, corpus, csv_column, which, batch_size, as_json, threads, procs):
    """Score text: loss (nats per token), perplexity, bits per character and per byte.

    Every token is scored, from a start <eod> to each document's closing <eod>, as score
    reads it; with N streams the text is cut into N columns (see docs/generation.md).
    """
    from ..parallel import launch
    from ..parallel.evaluate import evaluate_run

    count, comm = parse_procs(procs)
    if comm.size == 1 and count != 1:  # start the ranks, each running what the user typed less --procs
        run_ranks(count or launch.auto_procs(None, launch.cores(), launch.mpi_installed()))
    if comm.rank == 0:
        say_checkpoint(run_dir, which)
    with threads_for(threads, run_shards(run_dir)):
        result = evaluate_run(run_dir, corpus, which=which, csv_column=csv_column,  # digits: an index
                              batch_size=batch_size, comm=comm)
    if result is None:  # a rank other than 0: rank 0 reports
        return
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"run:            {result['run_dir']} ({result['checkpoint']})")
    click.echo(f"corpus:         {result['corpus']}")
    click.echo(f"tokens:         {result['tokens']:,} ({result['characters']:,} characters)")
    if result["unknown_characters"]:
        click.echo(f"unknown chars:  {result['unknown_characters']:,} (scored as <unk>)")
    click.echo(f"loss:           {result['loss']:.4f} nats/token")
    unit = {"char": "character", "word": "word", "bpe": "subword token"}.get(result["tokenizer"], "token")
    click.echo(f"perplexity:     {result['perplexity']:.3f} (per {unit})")
    click.echo(f"bits per char:  {result['bits_per_char']:.4f}")
    click.echo(f"bits per byte:  {result['bits_per_byte']:.4f} ({result['bytes']:,} bytes)")

