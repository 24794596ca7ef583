"""``lstmgen train``: parse, resolve the run, train with a progress bar, say what next."""

import json
import re
from pathlib import Path

import click

from ..runs.config import shipped_configs
from ..runs.defaults import BUDGET_CHOICES
from ..training.progress import TqdmReporter
from .common import UserError, loss_text, say_unevaluated
from .options import csv_column_option, procs_option, threads_option, threads_value
from .ranks import exit_all, procs as parse_procs, run_ranks


def _setting(key: str, value) -> str:
    """data.corpus=notes.txt, train.max_epochs=null: a config key as --set takes it."""
    plain = isinstance(value, str) and value and not any(c in value for c in " ,\"")
    return f"{key}={value if plain else json.dumps(value, ensure_ascii=False)}"


class _TqdmReporter(TqdmReporter):
    """The training bar (``progress.py``), after what differs from the defaults (or where a
    resumed run stands), the model and the threads."""

    def __init__(self, run_dir: Path):
        super().__init__()
        self.run_dir = run_dir

    def announce(self, info):
        where = self.run_dir / "config.yaml"
        if info["resumed"]:
            val = f"; last validation loss {loss_text(info['last_val_loss'], info['last_val_bits_per_char'])}" \
                if info["last_val_loss"] is not None else ""
            click.echo(f"resuming {self.run_dir} from step {info['step']:,}{val} (config: {where})")
        else:
            changed = ", ".join(_setting(k, v) for k, v in info["config_differences"]) or "none"
            click.echo(f"config (differs from the defaults): {changed}")
            click.echo(f"  the whole config: {where}; the defaults: lstmgen config")
        click.echo(f"model: {info['num_params']:,} parameters, vocabulary of {info['vocab_size']} tokens; "
                   f"{info['train_tokens']:,} training tokens per epoch ({info['windows_per_epoch']} steps), "
                   f"{info['val_tokens']:,} validation tokens")
        if "processes" in info:
            click.echo(f"processes: {info['processes']}")
        if "threads" in info:
            click.echo(f"threads: {info['threads']}")


@click.command()
@click.argument("source", required=False, metavar="[SOURCE]")
@csv_column_option("SOURCE")
@click.option("--json-field", default=None, help="JSON-lines field holding the text when SOURCE is a .jsonl file.")
@click.option("--config", "config_path", metavar="NAME|FILE",
              help=f"A shipped config by name ({', '.join(shipped_configs()) or 'none found'}) "
                   "or a YAML file. Default: default.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one config key, e.g. --set train.max_steps=500. Repeatable; wins over --config. "
                   "'lstmgen config' lists every key with its default, allowed values and meaning.")
@click.option("--out", "run_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Run directory for checkpoints and logs. Default: runs/<SOURCE's name>, else runs/<config name>.")
@click.option("--init-from", "init_from", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Fine-tune: start from this run's weights, model and tokenizer, with a fresh optimiser.")
@threads_option("Threads to compute with (sets train.threads): auto follows the machine's load.")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out from its last checkpoint: same step, optimiser, schedule, RNG and data position. "
                   "With none yet (no such folder, or killed before its first), start it, saying so.")
@procs_option("Train on P processes of this machine, each on N/P of the batch's streams (data parallel, "
              "MPI: pip install 'lstmgen[mpi]'); auto: one per core with MPI installed. See docs/distributed.md.")
@click.option("--time", "max_time", default=None, metavar="DURATION",
              help="Train for this long (sets train.max_time): seconds, or 90s, 10m, 2h; the last step is evaluated "
                   "and checkpointed within it; a new run then has no step limit and a learning rate of "
                   f"{BUDGET_CHOICES['train.learning_rate']} "
                   "unless you set them (docs/time-budget.md); with --resume, the run's total: a 10m run resumed with --time 20m "
                   "trains up to 10 minutes more.")
def train(source, csv_column, json_field, config_path, overrides, run_dir, init_from, threads, resume, procs,
          max_time):
    """Train a model on SOURCE (a text file, folder, glob, CSV or JSON-lines file, or
    builtin:NAME; default: the config's data.corpus). Ctrl-C saves a checkpoint and stops
    (continue later with --resume).

    \b
      lstmgen train notes.txt
      lstmgen train quotes.csv --csv-column text
      lstmgen train chats.jsonl --json-field body --out runs/chats
      lstmgen train notes.txt --procs 2     # two processes, each half the batch (MPI)
    """
    from ..parallel import launch
    from ..parallel.comm import stream_slice
    from ..parallel.share import bcast_config
    from ..parallel.trainer import train as run_training
    from ..runs.resolve import default_run_dir, resolve_run

    count, comm = parse_procs(procs)
    data_options = {"corpus": source, "csv_column": csv_column, "json_field": json_field}
    if threads is not None:
        overrides = (*overrides, f"train.threads={threads_value(threads)}")
    if max_time is not None:  # --time: train.max_time, as --set would set it
        overrides = (*overrides, f"train.max_time={max_time}")
    _refuse_doubles(data_options, overrides)
    rank_extra = []  # the ranks of --procs P run what the user typed, less --procs, plus this
    if run_dir is None:
        run_dir = default_run_dir(config_path, source)
        rank_extra = ["--out", str(run_dir)]
    # only rank 0 reads the config and the run directory; it sends the others the config
    cfg = None
    if comm.rank == 0:
        cfg = resolve_run(config_path, overrides, data=data_options, out=run_dir, init_from=init_from,
                          resume=resume).config
        if not resume:
            _check_format_options(cfg, csv_column, json_field)
    cfg = bcast_config(comm, cfg)
    if comm.size == 1 and count != 1:  # start the ranks, each running what the user typed less --procs
        count = count or launch.auto_procs(cfg.train.batch_size, launch.cores(), launch.mpi_installed())
        stream_slice(cfg.train.batch_size, count, 0)  # a batch the ranks cannot share: refused here
        run_ranks(count, rank_extra)
    result = run_training(cfg, run_dir, resume=resume, reporter=_TqdmReporter(run_dir) if comm.rank == 0 else None,
                          comm=comm)
    if result.interrupted:
        if comm.rank == 0:  # rank 0 speaks for the job
            click.echo(f"Interrupted at step {result.step}; checkpoint saved to {result.checkpoint}. "
                       f"Continue with: lstmgen train --out {run_dir} --resume", err=True)
            say_unevaluated(run_dir)
        exit_all(comm, 130)
    if comm.rank != 0:
        return
    _report_training(result, cfg, run_dir, resume)


def _refuse_doubles(data_options, overrides):
    """SOURCE, --csv-column or --json-field and a --set of the same key: a usage error."""
    for key, value in data_options.items():
        if value is not None and any(o.split("=", 1)[0].strip() == f"data.{key}" for o in overrides):
            option = "SOURCE" if key == "corpus" else f"--{key.replace('_', '-')}"
            raise UserError(f"{option} and --set data.{key}=... both name the {key.replace('_', ' ')}; give one", 2)


def _check_format_options(cfg, csv_column, json_field):
    """A CSV column or JSON field the corpus would ignore is refused (as training refuses it),
    named as the user set it: the option, or the config key when --config or --set set it."""
    from ..data.corpus import check_format_options
    from ..errors import ConfigError

    try:
        check_format_options(cfg.data.corpus, csv_column=cfg.data.csv_column, json_field=cfg.data.json_field)
    except ConfigError as e:
        if csv_column is None and json_field is None:  # set by the config: undo it there or with --set
            raise UserError(re.sub(r"drop (data\.\w+)$", r"set it to null (--set \1=null)", str(e)), 2) from None
        raise


def _report_training(result, cfg, run_dir, resume):
    """The lines after training: early stop, nothing left to do, or the losses and what next."""
    if result.early_stopped:
        click.echo(f"stopped early at step {result.step}: no lower validation loss in train.patience evaluations")
    if resume and result.step == result.first_step and result.time_up:
        click.echo(f"nothing to do: the run in {run_dir} has used its time budget (train.max_time = "
                   f"{cfg.train.max_time}) at step {result.step}; to train on, raise it: lstmgen train --out "
                   f"{run_dir} --resume --time LONGER")
        return
    if resume and result.step == result.first_step:
        train_cfg = cfg.train
        limit = f"train.max_steps = {train_cfg.max_steps}" if train_cfg.max_steps is not None and result.step >= train_cfg.max_steps \
            else f"train.max_epochs = {train_cfg.max_epochs}"
        key, more = ("max_steps", 2 * train_cfg.max_steps) if limit.startswith("train.max_steps") \
            else ("max_epochs", 2 * (train_cfg.max_epochs or 1))
        click.echo(f"nothing to do: the run in {run_dir} has reached {limit} (step {result.step}); to train on, "
                   f"raise it: lstmgen train --out {run_dir} --resume --set train.{key}={more:g}")
        return
    val = f", validation loss {loss_text(result.last_val_loss, result.last_val_bits_per_char)}; " \
          f"best {loss_text(result.best_val_loss, result.best_val_bits_per_char)}" \
        if result.last_val_loss is not None else ""
    click.echo(f"done: step {result.step}{val}; checkpoints in {run_dir / 'checkpoints'}")
    click.echo(f"next: lstmgen sample {run_dir}   |   lstmgen eval {run_dir}")


