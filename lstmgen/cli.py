"""The command line: ``lstmgen train | sample | eval | score | novelty | inspect | plot | corpora | serve``.

A thin shell over importable functions. This is the only module that imports Click, prints
for the user or exits. Library errors become one line on stderr and an exit code in one place
(``LstmgenGroup.invoke``): 2 for usage and configuration mistakes, 1 for data and checkpoint
problems, 130 after Ctrl-C.
"""

import json
import os
import sys
from pathlib import Path

import click
import numpy as np

from . import __version__
from .errors import LstmgenError
from .serve import Limits

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


class UserError(click.ClickException):
    """A user's mistake: printed as 'Error: ...' on stderr, no traceback."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


class LstmgenGroup(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LstmgenError as e:
            raise UserError(str(e), e.exit_code) from None
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


# ---- train --------------------------------------------------------------------------------------
class _TqdmReporter:
    """Shows training as a tqdm bar: step, train loss, validation loss, tokens/s."""

    def __init__(self):
        self.bar = None
        self.postfix = {}
        self.rate = None
        self.reading = None  # (stage, bar) while a corpus is tokenised into the token cache

    def progress(self, stage, done, total):
        from tqdm import tqdm

        if self.reading is None or self.reading[0] != stage:
            if self.reading is not None:
                self.reading[1].close()
            bar = tqdm(total=total, desc=stage, unit="B", unit_scale=True, dynamic_ncols=True, file=sys.stderr)
            self.reading = (stage, bar)
        self.reading[1].update(done - self.reading[1].n)
        if done >= total:
            self.reading[1].close()

    def start(self, info):
        from tqdm import tqdm

        click.echo(f"resolved config:\n{info['config']}")
        click.echo(f"model: {info['num_params']:,} parameters, vocabulary of {info['vocab_size']} tokens; "
                   f"{info['train_tokens']:,} training tokens per epoch ({info['windows_per_epoch']} steps), "
                   f"{info['val_tokens']:,} validation tokens")
        total = info["total_steps"] if info["total_steps"] < 10**15 else None
        self.bar = tqdm(total=total, initial=info["step"], unit="step", dynamic_ncols=True, file=sys.stderr)

    def update(self, step, stats):
        self.postfix["loss"] = f"{stats['loss']:.3f}"
        if "val_loss" in stats:
            self.postfix["val"] = f"{stats['val_loss']:.3f}"
        # smoothed over about the last 20 steps, so the figure does not flicker
        self.rate = stats["tokens_per_s"] if self.rate is None else 0.95 * self.rate + 0.05 * stats["tokens_per_s"]
        self.postfix["tok/s"] = f"{self.rate:,.0f}"
        self.bar.set_postfix(self.postfix, refresh=False)
        self.bar.update(step - self.bar.n)

    def message(self, text):
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            click.echo(text, err=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


@cli.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="YAML config file (see configs/). Default: configs/default.yaml.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one config key, e.g. --set train.max_steps=500. Repeatable; wins over --config.")
@click.option("--out", "run_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory for checkpoints and logs. Default: runs/<config file name>.")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out from its last checkpoint: same step, optimiser, schedule, RNG and data position.")
def train(config_path, overrides, run_dir, resume):
    """Train a model; Ctrl-C saves a checkpoint and stops (continue later with --resume)."""
    from .checkpoint import load_checkpoint
    from .config import load_config
    from .train import train as run_training

    if run_dir is None:
        run_dir = Path("runs") / (config_path.stem if config_path else "default")
    if resume and config_path is None:
        # continue with the run's own config; --set may still change training-only keys
        base = load_checkpoint(run_dir, "last", with_training_state=False).config
        cfg = load_config(None, list(overrides), base=base)
    else:
        path = config_path if config_path is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
        cfg = load_config(path, list(overrides))
    result = run_training(cfg, run_dir, resume=resume, reporter=_TqdmReporter())
    if result.interrupted:
        click.echo(f"Interrupted at step {result.step}; checkpoint saved to {result.checkpoint}. "
                   f"Continue with: lstmgen train --out {run_dir} --resume", err=True)
        sys.exit(130)
    if result.early_stopped:
        click.echo(f"stopped early at step {result.step}: no lower validation loss in train.patience evaluations")
    val = f", validation loss {result.last_val_loss:.4f} (best {result.best_val_loss:.4f})" \
        if result.last_val_loss is not None else ""
    click.echo(f"done: step {result.step}{val}; checkpoints in {run_dir / 'checkpoints'}")
    click.echo(f"next: lstmgen sample {run_dir}   |   lstmgen eval {run_dir}")


# ---- sample -------------------------------------------------------------------------------------
@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
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
@click.option("--checkpoint", "which", default="best", show_default=True, type=click.Choice(["best", "last"]),
              help="Which checkpoint of the run to use.")
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
def sample(run_dir, prime, length, temperature, top_k, top_p, seed, num_samples, which, repetition_penalty,
           no_repeat_ngram_size, beam_width, length_penalty, stops, stop_at_eod, max_chars, show_probs, fmt,
           interactive, reset_state):
    """Generate text from a trained run; the continuation streams as it is generated."""
    from .api import load
    from .sample import Settings, StopRules

    if any(not s for s in stops):
        raise UserError("--stop needs a non-empty TEXT", 2)
    if beam_width > 1 and num_samples > beam_width:
        raise UserError(f"--num-samples {num_samples} is more than --beam-width {beam_width}; "
                        "beam search returns at most one text per beam", 2)
    if interactive and (beam_width > 1 or num_samples > 1 or fmt != "text"):
        raise UserError("--interactive samples one text at a time: drop --beam-width, --num-samples and --format", 2)
    model = load(run_dir, which)
    unknown = model.tokenizer.count_unknown(prime)
    if unknown:
        click.echo(f"note: {unknown} character(s) of --prime are not in the vocabulary and read as <unk>", err=True)
    options = dict(length=length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                   num_samples=num_samples, repetition_penalty=repetition_penalty,
                   no_repeat_ngram_size=no_repeat_ngram_size, beam_width=beam_width, length_penalty=length_penalty,
                   stop=stops, stop_at_eod=stop_at_eod, max_chars=max_chars)
    try:
        if interactive:
            settings = Settings(temperature, top_k, top_p, repetition_penalty, no_repeat_ngram_size)
            rules = StopRules(list(stops), stop_at_eod, max_chars)
            _interactive(model.run, settings, rules, length, np.random.default_rng(seed), carry=not reset_state)
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


def _interactive(run, settings, rules, length, rng, carry):
    from .interactive import Session

    session = Session(run.model, run.params, run.tokenizer, settings=settings, rules=rules, length=length,
                      rng=rng, carry=carry)
    click.echo("interactive: type a line to prime the model; ':help' lists the commands; Ctrl-D leaves.")
    out = sys.stdout
    while True:
        try:
            line = input("> ")
        except EOFError:
            out.write("\n")
            return
        if line.startswith(":"):
            click.echo(session.command(line))
            continue
        try:
            for piece in session.respond(line):
                out.write(piece)
                out.flush()
        except KeyboardInterrupt:  # Ctrl-C ends this continuation, not the session
            out.write(" [interrupted]")
        out.write("\n")
        out.flush()


# ---- eval ---------------------------------------------------------------------------------------
@cli.command("eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--corpus", default=None, metavar="SOURCE",
              help="Text file, folder, glob, CSV file or builtin:NAME to score. Default: the run's validation split.")
@click.option("--csv-column", default=None, help="CSV column (name or 0-based index) when --corpus is a CSV file.")
@click.option("--checkpoint", "which", default="best", show_default=True, type=click.Choice(["best", "last"]),
              help="Which checkpoint of the run to use.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def eval_cmd(run_dir, corpus, csv_column, which, as_json):
    """Score text: loss (nats per token), perplexity, bits per character and per byte."""
    from .evaluate import evaluate_run

    result = evaluate_run(run_dir, corpus, which=which, csv_column=csv_column)  # digits: an index
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


# ---- corpora ------------------------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per corpus instead of a table.")
def corpora(as_json):
    """List the built-in corpora (data.corpus: builtin:NAME) with their sizes."""
    from .corpus import list_corpora

    for entry in list_corpora():
        if as_json:
            click.echo(json.dumps(entry))
        elif "error" in entry:
            click.echo(f"{entry['name']:<26} not available: {entry['error']}")
        else:
            click.echo(f"{entry['name']:<26} {entry['bytes'] / 1e6:6.2f} MB {entry['documents']:>8,} documents  "
                       f"{entry['description']}")


# ---- score --------------------------------------------------------------------------------------
@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("text_or_file")
@click.option("--top", default=0, show_default=True, type=click.IntRange(min=0), metavar="K",
              help="Also list the K tokens the model found most likely at each position.")
@click.option("--csv-column", default=None, help="CSV column (name or 0-based index) when the file is a CSV file.")
@click.option("--checkpoint", "which", default="best", show_default=True, type=click.Choice(["best", "last"]),
              help="Which checkpoint of the run to use.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def score(run_dir, text_or_file, top, csv_column, which, as_json):
    """Score a text (or the file it names) token by token: log-probability, surprisal, bits per char."""
    from dataclasses import asdict

    from .api import load
    from .score import read_text_or_file

    looks_like_a_path = " " not in text_or_file and (Path(text_or_file).suffix or "/" in text_or_file)
    if looks_like_a_path and not Path(text_or_file).is_file():
        click.echo(f"note: there is no file '{text_or_file}'; scoring the text itself", err=True)
    model = load(run_dir, which)
    docs = read_text_or_file(text_or_file, model.config.data.encoding, csv_column)
    result = {"run_dir": str(run_dir), "checkpoint": model.run.path.name, **asdict(model.score(docs, top=top))}
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


# ---- novelty ------------------------------------------------------------------------------------
@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
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
@click.option("--checkpoint", "which", default="best", show_default=True, type=click.Choice(["best", "last"]),
              help="Which checkpoint of the run to use.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
def novelty(run_dir, ns, num_samples, length, temperature, top_k, top_p, seed, which, as_json):
    """Generation or memorisation? The share of sampled n-grams that are not in the training text."""
    from .novelty import DEFAULT_NS, novelty_run

    ns = sorted(set(ns)) or list(DEFAULT_NS)
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


# ---- inspect ------------------------------------------------------------------------------------
def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024


@cli.command("inspect")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--checkpoint", "which", default="last", show_default=True, type=click.Choice(["best", "last"]),
              help="Which checkpoint of the run to describe.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a report.")
def inspect_cmd(run_dir, which, as_json):
    """Describe a run: config, parameters per layer, tokenizer, steps, losses, disk size."""
    from .inspect_run import inspect_run

    info = inspect_run(run_dir, which)
    if as_json:
        info.pop("config_yaml")
        click.echo(json.dumps(info, ensure_ascii=False))
        return
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    click.echo(f"run:            {info['run_dir']} ({info['checkpoint']}, step {info['step']:,}, "
               f"epoch {info['epoch']}, {info['elapsed_s'] or 0:.1f} s of training)")
    click.echo(f"validation:     last {fmt(info['last_val_loss'])}, best {fmt(info['best_val_loss'])} "
               f"(best checkpoint: {info['best_checkpoint']})")
    t = info["tokenizer"]
    click.echo(f"tokenizer:      {t['level']}, {t['vocab_size']} tokens: {' '.join(t['specials'])} "
               f"{json.dumps(''.join(t['first_tokens']), ensure_ascii=False)}"
               + (" ..." if t["vocab_size"] > 2 + len(t["first_tokens"]) else ""))
    click.echo(f"parameters:     {info['num_params']:,} ({info['dtype']})")
    for group, count in info["params_per_layer"].items():
        shapes = ", ".join(f"{k} {tuple(v)}" for k, v in info["param_shapes"].items() if k.rsplit(".", 1)[0] == group)
        click.echo(f"  {group:<12} {count:>12,}   {shapes}")
    click.echo(f"disk:           {_bytes(info['disk_bytes'])} in all; "
               + ", ".join(f"{k} {_bytes(v)}" for k, v in info["checkpoint_bytes"].items()))
    click.echo("config:")
    for line in info["config_yaml"].splitlines():
        click.echo(f"  {line}")


# ---- plot ---------------------------------------------------------------------------------------
@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a PNG here (needs matplotlib: pip install 'lstmgen[plot]'). Without it: a text chart.")
@click.option("--x", "x_axis", default="step", show_default=True, type=click.Choice(["step", "tokens"]),
              help="The x axis: optimiser steps or training tokens seen.")
def plot(run_dirs, output, x_axis):
    """Training and validation loss (and learning rate) of one or more runs, overlaid."""
    from .plot import INSTALL_HINT, read_curves, save_png, text_chart

    runs = [read_curves(d) for d in run_dirs]
    if output is None:
        click.echo(text_chart(runs, x_axis))
        return
    try:
        save_png(runs, output, x_axis)
    except ImportError:
        click.echo(text_chart(runs, x_axis))
        raise UserError(f"{INSTALL_HINT}; the text chart above shows the same losses", 1) from None
    click.echo(f"wrote {output}")


# ---- serve --------------------------------------------------------------------------------------
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


@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 lets other machines reach the server.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--checkpoint", "which", default="best", show_default=True, type=click.Choice(["best", "last"]),
              help="Which checkpoint of the run to serve.")
@click.option("--model-name", default=None, help="The model id clients send. Default: the run directory's name.")
@_limit_options
def serve(run_dir, host, port, which, model_name, **limits):
    """Serve a run over HTTP: an OpenAI-compatible completions API, and a page to try it at /."""
    from .api import load
    from .serve import INSTALL, missing, serve as run_server

    absent = missing()
    if absent:
        raise UserError(f"lstmgen serve needs {' and '.join(absent)}: {INSTALL}", 1)
    model = load(run_dir, which)
    name = model_name or Path(run_dir).resolve().name
    click.echo(f"serving {run_dir} ({model.run.path.name}, step {model.step:,}) as model '{name}' "
               f"at http://{host}:{port}/ (Ctrl-C stops)", err=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"note: --host {host} lets other machines reach this server, which has no authentication",
                   err=True)
    run_server(model, name=name, host=host, port=port, limits=Limits(**limits))


def main():
    cli(prog_name="lstmgen")


if __name__ == "__main__":
    main()
