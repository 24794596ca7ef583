"""``lstmgen novelty``: the share of sampled n-grams that are not in the training text."""

import json

import click

from .common import say_checkpoint
from .options import RUN_DIR, checkpoint_option, json_option


@click.command()
@RUN_DIR
@click.option("--n", "ns", multiple=True, type=click.IntRange(min=1),
              help="n-gram length in tokens (characters for a char model). Repeatable. Default: 5, 10, 20, 50.")
@click.option("--num-samples", default=10, show_default=True, type=click.IntRange(min=1),
              help="Samples to generate.")
@click.option("--length", default=500, show_default=True, type=click.IntRange(min=1), help="Tokens per sample.")
@click.option("--temperature", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="Sampling temperature (as in sample).")
@click.option("--top-k", default=0, show_default=True, type=click.IntRange(min=0), help="As in sample.")
@click.option("--top-p", default=1.0, show_default=True, type=click.FloatRange(min=0, max=1, min_open=True),
              help="As in sample.")
@click.option("--seed", type=int, default=None, help="Random seed of the samples.")
@checkpoint_option()
@json_option()
def novelty(run_dir, ns, num_samples, length, temperature, top_k, top_p, seed, which, as_json):
    """Generation or memorisation? The share of sampled n-grams that are not in the training text."""
    from ..evaluation.novelty import DEFAULT_NS, novelty_run

    ns = sorted(set(ns)) or list(DEFAULT_NS)
    say_checkpoint(run_dir, which)
    result = novelty_run(run_dir, ns=ns, num_samples=num_samples, length=length, temperature=temperature,
                         top_k=top_k, top_p=top_p, seed=seed, which=which)
    if as_json:
        click.echo(json.dumps(result))
        return
    click.echo(f"{num_samples} samples of {length} tokens from {run_dir} ({result['checkpoint']}) "
               f"against the training split of {result['corpus']}")
    click.echo(f"{'n':>4}  {'n-grams':>9}  {'novel':>9}  {'fraction novel':>14}")
    for n, r in result["novelty"].items():
        fraction = "-" if r["fraction_novel"] is None else f"{r['fraction_novel']:.3f}"
        click.echo(f"{n:>4}  {r['ngrams']:>9,}  {r['novel']:>9,}  {fraction:>14}")

