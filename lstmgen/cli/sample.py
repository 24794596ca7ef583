"""``lstmgen sample``: generate text from a run; ``--interactive`` hands over to ``interactive.py``."""

import json
import sys

import click

from .common import UserError, say_checkpoint
from .interactive import run_session
from .options import RUN_DIR, checkpoint_option, threads_for, threads_option


@click.command()
@RUN_DIR
@click.option("--prime", default="", help="Text the model reads first; the output starts with it.")
@click.option("--length", default=500, show_default=True, type=click.IntRange(min=0),
              help="Tokens to generate after the prime.")
@click.option("--temperature", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="Divide the logits by this: lower is safer, higher is wilder; 0 picks the most likely token.")
@click.option("--top-k", default=0, show_default=True, type=click.IntRange(min=0),
              help="Draw only from the K most likely tokens (0 = no limit).")
@click.option("--top-p", default=1.0, show_default=True, type=click.FloatRange(min=0, max=1, min_open=True),
              help="Draw only from the most likely tokens that together have probability P (1 = no limit).")
@click.option("--seed", type=int, default=None, help="Random seed; the same seed gives the same text. Default: fresh.")
@click.option("--num-samples", default=1, show_default=True, type=click.IntRange(min=1),
              help="Generate this many samples at once (batched).")
@checkpoint_option()
@click.option("--repetition-penalty", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="Above 1, tokens already in the prime or the sample become less likely (1 = off).")
@click.option("--no-repeat-ngram-size", default=0, show_default=True, type=click.IntRange(min=0),
              help="Never repeat a run of this many tokens (0 = off).")
@click.option("--beam-width", default=1, show_default=True, type=click.IntRange(min=1),
              help="Above 1: beam search for the most likely text instead of sampling "
                   "(ignores temperature, top-k, top-p).")
@click.option("--length-penalty", default=1.0, show_default=True, type=float,
              help="Beam search ranks by summed log-probability / length ** this (0 favours short texts).")
@click.option("--stop", "stops", multiple=True, metavar="TEXT",
              help="End the sample after the first occurrence of TEXT (kept). Repeatable.")
@click.option("--stop-at-eod", is_flag=True, help="End the sample when the model ends the document.")
@click.option("--max-chars", default=None, type=click.IntRange(min=1),
              help="End the sample after this many characters (besides --length tokens).")
@click.option("--show-probs", default=0, show_default=True, type=click.IntRange(min=0), metavar="K",
              help="First list the K most likely next tokens after the prime, with probabilities.")
@click.option("--format", "fmt", default="text", show_default=True, type=click.Choice(["text", "json"]),
              help="json: one JSON object per sample with text, tokens and per-token log-probabilities.")
@click.option("--interactive", is_flag=True,
              help="A prompt loop: each line primes the model and the continuation streams back; "
                   "':help' lists the commands; Ctrl-D leaves.")
@click.option("--reset-state", is_flag=True,
              help="With --interactive: start every line as a new document instead of carrying the state.")
@threads_option()
def sample(run_dir, prime, length, temperature, top_k, top_p, seed, num_samples, which, repetition_penalty,
           no_repeat_ngram_size, beam_width, length_penalty, stops, stop_at_eod, max_chars, show_probs, fmt,
           interactive, reset_state, threads):
    """Generate text from a trained run; the continuation streams as it is generated."""
    from ..api import SampleOptions, load

    options = dict(length=length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                   num_samples=num_samples, repetition_penalty=repetition_penalty,
                   no_repeat_ngram_size=no_repeat_ngram_size, beam_width=beam_width, length_penalty=length_penalty,
                   stop=stops, stop_at_eod=stop_at_eod, max_chars=max_chars)
    SampleOptions.of(options, name=lambda option: "--" + option.replace("_", "-"))  # errors name the options
    if interactive and (beam_width > 1 or num_samples > 1 or fmt != "text"):
        raise UserError("--interactive samples one text at a time: drop --beam-width, --num-samples and --format", 2)
    say_checkpoint(run_dir, which)
    model = load(run_dir, which)
    unknown = model.tokenizer.count_unknown(prime)
    if unknown:
        click.echo(f"note: {unknown} character(s) of --prime are not in the vocabulary and read as <unk>", err=True)
    try:
        with threads_for(threads):
            if interactive:
                run_session(model.session(carry=not reset_state, **options))
            else:
                _sample_once(model, prime, options, show_probs, fmt)
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        sys.exit(130)


def _sample_once(model, prime, options, show_probs, fmt):
    """What ``sample`` prints without --interactive, from the Python API (api.py)."""
    out = sys.stdout
    top = model.next_token_probs(prime, k=show_probs) if show_probs else []
    if top and fmt == "text":
        click.echo("most likely next tokens after the prime:")
        for text, p in top:
            click.echo(f"  {json.dumps(text, ensure_ascii=False):>8}  {p:.4f}")
        click.echo("")
    if fmt == "text" and options["num_samples"] == 1 and options["beam_width"] == 1:
        out.write(prime)  # the continuation streams after it
        for piece in model.stream(prime, **options):
            out.write(piece)
            out.flush()
        out.write("\n")
        out.flush()
        return
    samples = model.samples(prime, **options)
    for i, s in enumerate(samples):
        if fmt == "json":
            record = {"prime": prime, "text": s.text, "tokens": s.tokens,
                      "logprobs": [round(lp, 6) for lp in s.logprobs], "stopped_by": s.stopped_by}
            if s.score is not None:
                record["score"] = s.score
            if top:
                record["top"] = [{"token": t, "prob": p} for t, p in top]
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        elif len(samples) == 1:
            out.write(f"{prime}{s.text}\n")
        else:
            out.write(f"----- sample {i + 1} -----\n{prime}{s.text}\n")
    out.flush()


