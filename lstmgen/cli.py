"""The command line: ``lstmgen train | sample | eval | corpora``.

A thin shell over importable functions. This is the only module that imports Click, prints
for the user or exits. Library errors become one line on stderr and an exit code in one place
(``LstmgenGroup.invoke``): 2 for usage and configuration mistakes, 1 for data and checkpoint
problems, 130 after Ctrl-C.
"""

import json
import sys
from pathlib import Path

import click
import numpy as np

from . import __version__
from .errors import LstmgenError

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
        self.postfix["tok/s"] = f"{stats['tokens_per_s']:,.0f}"
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
def sample(run_dir, prime, length, temperature, top_k, top_p, seed, num_samples, which):
    """Generate text from a trained run; the continuation streams as it is generated."""
    from .loading import load_run
    from .sample import generate

    run = load_run(run_dir, which)
    unknown = run.tokenizer.count_unknown(prime)
    if unknown:
        click.echo(f"note: {unknown} character(s) of --prime are not in the vocabulary and read as <unk>", err=True)
    steps = generate(run.model, run.params, run.tokenizer, prime=prime, length=length, temperature=temperature,
                     top_k=top_k, top_p=top_p, num_samples=num_samples, rng=np.random.default_rng(seed))
    out = sys.stdout
    try:
        if num_samples == 1:
            out.write(prime)
            decoder = run.tokenizer.stream_decoder(prime)
            for ids in steps:
                out.write(decoder.feed(int(ids[0])))
                out.flush()
            out.write("\n")
        else:
            columns = np.stack(list(steps), axis=1) if length else np.zeros((num_samples, 0), np.int32)
            for i, row in enumerate(columns):
                decoder = run.tokenizer.stream_decoder(prime)  # continues the prime (a word after a word: a space)
                out.write(f"----- sample {i + 1} -----\n{prime}{''.join(decoder.feed(int(t)) for t in row)}\n")
        out.flush()
    except KeyboardInterrupt:
        out.write("\n")
        sys.exit(130)


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

    column = int(csv_column) if csv_column is not None and csv_column.isdigit() else csv_column
    result = evaluate_run(run_dir, corpus, which=which, csv_column=column)
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


def main():
    cli(prog_name="lstmgen")


if __name__ == "__main__":
    main()
