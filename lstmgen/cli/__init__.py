"""The command line: ``lstmgen train | sample | eval | score | cells | novelty | inspect | plot | corpora | config |
serve``.

A thin shell over importable functions. This is the only module that imports Click, prints
for the user or exits. Library errors become one line on stderr and an exit code in one place
(``LstmgenGroup.invoke``): 2 for usage and configuration mistakes, 1 for data and checkpoint
problems, 130 after Ctrl-C.
"""

import contextlib
import json
import os
import re
import signal
import sys
from pathlib import Path

import click
import numpy as np

from .. import __version__
from ..runs.config import shipped_configs
from ..errors import LstmgenError
from ..insight.html_pages import PAGE_CHARS
from ..parallel.launch import launched_rank
from ..training.progress import TqdmReporter
from ..serve import Limits


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


# ---- train --------------------------------------------------------------------------------------
def _loss_text(nats: float, bits_per_char) -> str:
    """1.2228 nats/token (1.780 bits/char): a loss with its unit, and the tokenizer-free figure."""
    return f"{nats:.4f} nats/token" + (f" = {bits_per_char:.3f} bits/char" if bits_per_char is not None else "")


def _threads_value(text: str):
    """--threads N|auto -> N or 'auto', or a usage error."""
    if text == "auto" or (text.isdigit() and int(text) >= 1):
        return text
    raise UserError(f"--threads is {text!r}; expected auto or a number of threads >= 1", 2)


@contextlib.contextmanager
def _threads_for(text, shards: int = 1):
    """Eval and sampling: ``--threads`` threads, or (auto) as many as cores are free now; with
    ``shards`` (eval: the run's train.shards), as a training step uses them (training/threads.py)."""
    from ..training.threads import resolve, thread_budget

    with thread_budget(resolve(_threads_value(text or "auto"))[0], shards):
        yield


def _run_shards(run_dir) -> int:
    """The run's train.shards, how eval cuts its columns; 1 where the config cannot be read
    (the command that loads the run then says why)."""
    from ..errors import ConfigError
    from ..runs.config import read_saved_config

    try:
        return read_saved_config(Path(run_dir) / "config.yaml").train.shards
    except (ConfigError, OSError):
        return 1


def _say_checkpoint(run_dir, which: str) -> None:
    """A note on stderr when the checkpoint a command reads needs one (``loading.checkpoint_note``):
    no best yet, or a newer last checkpoint that best leaves out."""
    from ..runs.loading import checkpoint_note

    note = checkpoint_note(run_dir, which)[1]
    if note:
        click.echo(f"note: {note}", err=True)


THREADS_OPTION = click.option("--threads", default=None, metavar="N|auto",
                              help="Threads to compute with; default auto: the cores free at start.")


def _run_name(source: str) -> str:
    """runs/<name> for ``lstmgen train SOURCE``: notes.txt -> notes, builtin:kjv -> kjv."""
    name = source.rsplit(":", 1)[-1] if source.startswith("builtin:") else Path(source.rstrip("/\\")).stem
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") or "corpus"


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
            val = f"; last validation loss {_loss_text(info['last_val_loss'], info['last_val_bits_per_char'])}" \
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


@cli.command()
@click.argument("source", required=False, metavar="[SOURCE]")
@click.option("--csv-column", default=None, help="CSV column (name or 0-based index) when SOURCE is a CSV file.")
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
@click.option("--threads", default=None, metavar="N|auto",
              help="Threads to compute with (sets train.threads): auto follows the machine's load.")
@click.option("--resume", is_flag=True,
              help="Continue the run in --out from its last checkpoint: same step, optimiser, schedule, RNG and data position. "
                   "With none yet (no such folder, or killed before its first), start it, saying so.")
@click.option("--procs", default="1", show_default=True, metavar="P|auto",
              help="Train on P processes of this machine, each on N/P of the batch's streams (data parallel, "
                   "MPI: pip install 'lstmgen[mpi]'); auto: one per core with MPI installed. See docs/distributed.md.")
def train(source, csv_column, json_field, config_path, overrides, run_dir, init_from, threads, resume, procs):
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
    from ..parallel.comm import bcast_config, stream_slice
    from ..training.trainer import train as run_training

    count, comm = _procs(procs)
    # what the ranks of --procs P run: this command, less --procs
    rank_args = ["train", *([source] if source is not None else []), *[a for o in overrides for a in ("--set", o)]]
    for option, value in (("--csv-column", csv_column), ("--json-field", json_field), ("--config", config_path),
                          ("--init-from", init_from), ("--threads", threads)):
        rank_args += [option, str(value)] if value is not None else []
    rank_args += ["--resume"] if resume else []
    data_options = {"corpus": source, "csv_column": csv_column, "json_field": json_field}
    if threads is not None:
        overrides = (*overrides, f"train.threads={_threads_value(threads)}")
    for key, value in data_options.items():
        if value is not None and any(o.split("=", 1)[0].strip() == f"data.{key}" for o in overrides):
            option = "SOURCE" if key == "corpus" else f"--{key.replace('_', '-')}"
            raise UserError(f"{option} and --set data.{key}=... both name the {key.replace('_', ' ')}; give one", 2)
    if run_dir is None:
        run_dir = Path("runs") / (_run_name(source) if source else Path(config_path).stem if config_path else "default")
    # only rank 0 reads the config and the run directory; it sends the others the config
    cfg = _train_config(config_path, overrides, run_dir, resume, data_options, init_from) if comm.rank == 0 else None
    if cfg is not None and not resume:
        _check_format_options(cfg, csv_column, json_field)
    cfg = bcast_config(comm, cfg)
    if comm.size == 1 and count != 1:  # start the ranks, each running this command without --procs
        count = count or launch.auto_procs(cfg.train.batch_size, launch.cores(), launch.mpi_installed())
        stream_slice(cfg.train.batch_size, count, 0)  # a batch the ranks cannot share: refused here
        _run_ranks(count, [*rank_args, "--out", str(run_dir)])
    result = run_training(cfg, run_dir, resume=resume, reporter=_TqdmReporter(run_dir) if comm.rank == 0 else None,
                          comm=comm)
    if result.interrupted:
        if comm.rank == 0:  # rank 0 speaks for the job
            click.echo(f"Interrupted at step {result.step}; checkpoint saved to {result.checkpoint}. "
                       f"Continue with: lstmgen train --out {run_dir} --resume", err=True)
            _say_unevaluated(run_dir)
        _exit(comm, 130)
    if comm.rank != 0:
        return
    _report_training(result, cfg, run_dir, resume)


def _train_config(config_path, overrides, run_dir, resume, data_options, init_from):
    """The config ``train`` runs: the run's own (--resume without --config) or --config's (default:
    the shipped default), then --set, SOURCE and its options, and a fine-tuned parent's model."""
    from ..runs.checkpoint import best_or_last, has_checkpoint, load_checkpoint
    from ..runs.config import explicit_keys, inherit, load_config

    if init_from is not None and resume:
        raise UserError("--init-from starts a new run from another one; --resume continues this one: give one", 2)
    resuming = resume and has_checkpoint(run_dir)  # nothing to resume: a new run, configured as one (train() says so)
    if resuming and config_path is None:
        # continue with the run's own config; --set may still change training-only keys
        base = load_checkpoint(run_dir, "last", with_training_state=False).config
        cfg = load_config(None, list(overrides), base=base)
    else:
        path = config_path if config_path is not None else ("default" if "default" in shipped_configs() else None)
        cfg = load_config(path, list(overrides))
    for key, value in data_options.items():
        if value is not None:
            setattr(cfg.data, key, value)
    init_from = init_from or (None if resuming else cfg.train.init_from)
    if init_from is not None:
        # fine-tuning: the parent's model and tokenizer, whatever the default config says
        parent = load_checkpoint(init_from, best_or_last(init_from), with_training_state=False)
        cfg = inherit(cfg, parent.config, explicit_keys(config_path, overrides), init_from)
        cfg.train.init_from = str(init_from)
    return cfg


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


def _say_unevaluated(run_dir) -> None:
    """After Ctrl-C between two evaluations: the commands that read 'best' leave this checkpoint out."""
    from ..runs.loading import unevaluated_last

    newer = unevaluated_last(run_dir)
    if newer is not None:
        click.echo(f"note: step {newer['last_step']:,} is not evaluated: sample, eval, score and serve read the "
                   f"best checkpoint (step {newer['best_step']:,}); --checkpoint last reads this one", err=True)


def _report_training(result, cfg, run_dir, resume):
    """The lines after training: early stop, nothing left to do, or the losses and what next."""
    if result.early_stopped:
        click.echo(f"stopped early at step {result.step}: no lower validation loss in train.patience evaluations")
    if resume and result.step == result.first_step:
        train_cfg = cfg.train
        limit = f"train.max_steps = {train_cfg.max_steps}" if train_cfg.max_steps is not None and result.step >= train_cfg.max_steps \
            else f"train.max_epochs = {train_cfg.max_epochs}"
        key, more = ("max_steps", 2 * train_cfg.max_steps) if limit.startswith("train.max_steps") \
            else ("max_epochs", 2 * (train_cfg.max_epochs or 1))
        click.echo(f"nothing to do: the run in {run_dir} has reached {limit} (step {result.step}); to train on, "
                   f"raise it: lstmgen train --out {run_dir} --resume --set train.{key}={more:g}")
        return
    val = f", validation loss {_loss_text(result.last_val_loss, result.last_val_bits_per_char)}; " \
          f"best {_loss_text(result.best_val_loss, result.best_val_bits_per_char)}" \
        if result.last_val_loss is not None else ""
    click.echo(f"done: step {result.step}{val}; checkpoints in {run_dir / 'checkpoints'}")
    click.echo(f"next: lstmgen sample {run_dir}   |   lstmgen eval {run_dir}")


def _procs(text: str):
    """``--procs`` as a count (None: auto), and this process's communicator: MPI's world when
    mpiexec started it (then --procs, if given, must be that many)."""
    from ..parallel.comm import world
    from ..parallel.launch import parse_procs

    count = parse_procs(text)
    comm = world()
    if comm.size > 1 and count not in (1, comm.size):
        raise UserError(f"--procs {text} does not match the {comm.size} processes mpiexec started; "
                        "drop --procs when you start lstmgen with mpiexec yourself", 2)
    return count, comm


def _run_ranks(count: int, args):
    """Run ``lstmgen ARGS`` on ``count`` processes through mpiexec (launch.py) and exit as it does."""
    from ..parallel import launch

    if count > 1:
        sys.exit(launch.run(launch.command(launch.find_mpiexec(), count, args, launch.cores()), count, launch.cores()))


def _exit(comm, code: int):
    """Exit with ``code``; the ranks of an MPI job leave together (an exit status other than 0
    would otherwise make each rank call MPI_Abort, which kills the others and says so)."""
    if comm.size > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        comm.finish()
        os._exit(code)
    sys.exit(code)


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
@THREADS_OPTION
def sample(run_dir, prime, length, temperature, top_k, top_p, seed, num_samples, which, repetition_penalty,
           no_repeat_ngram_size, beam_width, length_penalty, stops, stop_at_eod, max_chars, show_probs, fmt,
           interactive, reset_state, threads):
    """Generate text from a trained run; the continuation streams as it is generated."""
    from ..api import load
    from ..generation.sampling import Settings, StopRules

    if any(not s for s in stops):
        raise UserError("--stop needs a non-empty TEXT", 2)
    if beam_width > 1 and num_samples > beam_width:
        raise UserError(f"--num-samples {num_samples} is more than --beam-width {beam_width}; "
                        "beam search returns at most one text per beam", 2)
    if interactive and (beam_width > 1 or num_samples > 1 or fmt != "text"):
        raise UserError("--interactive samples one text at a time: drop --beam-width, --num-samples and --format", 2)
    _say_checkpoint(run_dir, which)
    model = load(run_dir, which)
    unknown = model.tokenizer.count_unknown(prime)
    if unknown:
        click.echo(f"note: {unknown} character(s) of --prime are not in the vocabulary and read as <unk>", err=True)
    options = dict(length=length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed,
                   num_samples=num_samples, repetition_penalty=repetition_penalty,
                   no_repeat_ngram_size=no_repeat_ngram_size, beam_width=beam_width, length_penalty=length_penalty,
                   stop=stops, stop_at_eod=stop_at_eod, max_chars=max_chars)
    try:
        with _threads_for(threads):
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


class _CtrlC:
    """Ctrl-C (SIGINT) in the interactive session. At the prompt it raises KeyboardInterrupt (the
    session ends, exit 130); during a continuation it only sets ``pressed``, which the loop reads
    before every piece it writes, so a Ctrl-C at any moment of a continuation (mid-write, as it
    ends) ends that continuation and nothing else. Installed for the session whatever the process
    inherited: started with SIGINT ignored (a shell's background job, a launcher), Python installs
    no handler of its own and Ctrl-C would never reach the session."""

    def __init__(self):
        self.streaming = False  # True from the line read to the prompt shown again
        self.pressed = False  # Ctrl-C came during this continuation

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if not self.streaming:
            raise KeyboardInterrupt
        self.pressed = True

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)


def _interactive(run, settings, rules, length, rng, carry):
    from ..generation.interactive import Session

    session = Session(run.model, run.params, run.tokenizer, settings=settings, rules=rules, length=length,
                      rng=rng, carry=carry)
    click.echo("interactive: type a line to prime the model; ':help' lists the commands; Ctrl-D leaves.")
    out = sys.stdout
    with _CtrlC() as ctrl_c:
        while True:
            ctrl_c.streaming = False
            try:
                line = input("> ")
            except EOFError:
                out.write("\n")
                return
            ctrl_c.streaming, ctrl_c.pressed = True, False  # no signal check between these and input()
            if line.startswith(":"):
                click.echo(session.command(line))
                continue
            pieces = session.respond(line)
            for piece in pieces:
                if ctrl_c.pressed:
                    break
                out.write(piece)
                out.flush()
            pieces.close()
            out.write(" [interrupted]\n" if ctrl_c.pressed else "\n")  # Ctrl-C ends this continuation only
            out.flush()


# ---- config -------------------------------------------------------------------------------------
@cli.command("config")
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of {key, default, type, allowed, help}.")
def config_cmd(key, as_json):
    """List the config keys: default, type, allowed values and meaning.

    KEY shows one key (train.seq_len) or one section (train). Set keys in a YAML file
    (lstmgen train --config FILE) or with lstmgen train --set KEY=VALUE.
    """
    from ..runs.config import describe_keys, find_key

    rows = describe_keys() if key is None else [r for r in describe_keys() if r["key"] in find_key(key)]
    if as_json:
        click.echo(json.dumps(rows))
        return
    for r in rows:
        default = json.dumps(r["default"]) if r["default"] is None or isinstance(r["default"], bool) else r["default"]
        allowed = f"; {r['allowed']}" if r["allowed"] else ""
        click.echo(f"{r['key']} = {default}   ({r['type']}{allowed})")
        click.echo(f"    {r['help']}")


# ---- eval ---------------------------------------------------------------------------------------
@cli.command("eval")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("--corpus", default=None, metavar="SOURCE",
              help="Text file, folder, glob, CSV file or builtin:NAME to score. Default: the run's validation split.")
@click.option("--csv-column", default=None, help="CSV column (name or 0-based index) when --corpus is a CSV file.")
@click.option("--checkpoint", "which", default="best", show_default=True, type=click.Choice(["best", "last"]),
              help="Which checkpoint of the run to use.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Streams read side by side, each from a zero state. Default: the run's train.batch_size; "
                   "1 reads the text in one stream, as score does (same total).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of a table.")
@THREADS_OPTION
@click.option("--procs", default="1", show_default=True, metavar="P|auto",
              help="Score on P processes of this machine, each a share of the streams (MPI: "
                   "pip install 'lstmgen[mpi]'); auto: one per core with MPI installed. See docs/distributed.md.")
def eval_cmd(run_dir, corpus, csv_column, which, batch_size, as_json, threads, procs):
    """Score text: loss (nats per token), perplexity, bits per character and per byte.

    Every token is scored, from a start <eod> to each document's closing <eod>, as score
    reads it; with N streams the text is cut into N columns (see docs/generation.md).
    """
    from ..parallel import launch
    from ..evaluation.evaluate import evaluate_run

    count, comm = _procs(procs)
    if comm.size == 1 and count != 1:  # start the ranks, each running this command without --procs
        args = [str(run_dir), "--checkpoint", which] + (["--corpus", corpus] if corpus is not None else [])
        args += (["--csv-column", csv_column] if csv_column is not None else []) + (["--json"] if as_json else [])
        args += (["--threads", str(threads)] if threads is not None else [])
        args += (["--batch-size", str(batch_size)] if batch_size is not None else [])
        _run_ranks(count or launch.auto_procs(None, launch.cores(), launch.mpi_installed()), ["eval", *args])
    if comm.rank == 0:
        _say_checkpoint(run_dir, which)
    with _threads_for(threads, _run_shards(run_dir)):
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


# ---- corpora ------------------------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per corpus instead of a table.")
def corpora(as_json):
    """List the built-in corpora (data.corpus: builtin:NAME) with their sizes."""
    from ..data.corpus import list_corpora

    from ..data.cache import ENV_VAR, cache_dir

    for entry in list_corpora():
        if as_json:
            click.echo(json.dumps(entry))
        elif "error" in entry:
            click.echo(f"{entry['name']:<26} not available: {entry['error']}")
        else:
            cached = "cached" if entry["cached"] else "not cached"
            click.echo(f"{entry['name']:<26} {entry['bytes'] / 1e6:6.2f} MB {entry['documents']:>8,} documents  "
                       f"{cached:<10}  {entry['description']}")
    if not as_json:
        click.echo(f"cache: {cache_dir()} (moved by {ENV_VAR}; delete the folder to clear it)")


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
@click.option("--html", is_flag=True,
              help="Write a page instead (-o FILE): the text coloured by surprisal, hover for what the model expected.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --html: the page to write.")
@click.option("--max-chars", default=None, type=click.IntRange(min=1), metavar="N",
              help=f"Score only the first N characters of the text. Default: all; with --html {PAGE_CHARS:,} "
                   "(a page of the whole of a long text is slow to write and to open).")
@THREADS_OPTION
def score(run_dir, text_or_file, top, csv_column, which, as_json, html, output, max_chars, threads):
    """Score a text (or the file it names) token by token: log-probability, surprisal, bits per char."""
    from dataclasses import asdict

    from ..api import load
    from ..evaluation.score import cut_documents, read_text_or_file

    _say_checkpoint(run_dir, which)
    if html or output is not None:
        _surprise_page(run_dir, text_or_file, which, csv_column, html, output, as_json, max_chars or PAGE_CHARS)
        return
    model = load(run_dir, which)
    docs, total = cut_documents(read_text_or_file(text_or_file, model.config.data.encoding, csv_column), max_chars)
    if max_chars is not None and total > max_chars:
        click.echo(f"note: scoring the first {max_chars:,} of {total:,} characters (--max-chars)", err=True)
    with _threads_for(threads):
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


# ---- cells --------------------------------------------------------------------------------------
@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.argument("text_or_file")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the page (.html) here; with --saturation, the gate picture (.png, needs matplotlib).")
@click.option("--layer", type=int, default=None,
              help="Rank only this layer's units (0 = the lowest) and open the page on it. Default: all layers.")
@click.option("--cell", "cells", type=int, multiple=True, metavar="K",
              help="A unit to show and report (of --layer, default the last layer). Repeatable.")
@click.option("--top", default=5, show_default=True, type=click.IntRange(min=1), metavar="N",
              help="Units listed per feature.")
@click.option("--checkpoint", "which", default="best", show_default=True, type=click.Choice(["best", "last"]),
              help="Which checkpoint of the run to use.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the ranking, the chosen units' correlations and the gate saturation as one JSON object.")
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

    _say_checkpoint(run_dir, which)
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
    from ..evaluation.novelty import DEFAULT_NS, novelty_run

    ns = sorted(set(ns)) or list(DEFAULT_NS)
    _say_checkpoint(run_dir, which)
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
    from ..runs.inspect import inspect_run

    info = inspect_run(run_dir, which)
    if as_json:
        info.pop("config_yaml")
        click.echo(json.dumps(info, ensure_ascii=False))
        return
    click.echo(f"run:            {info['run_dir']} ({info['checkpoint']}, step {info['step']:,}, "
               f"epoch {info['epoch']}, {info['elapsed_s'] or 0:.1f} s of training)")
    loss = lambda k: "-" if info[f"{k}_val_loss"] is None else _loss_text(  # noqa: E731
        info[f"{k}_val_loss"], info[f"{k}_val_bits_per_char"])
    click.echo(f"validation:     last {loss('last')}, best {loss('best')} "
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
    from ..api import load
    from ..serve import INSTALL, listen_socket, missing, serve as run_server

    absent = missing()
    if absent:
        raise UserError(f"lstmgen serve needs {' and '.join(absent)}: {INSTALL}", 1)
    sock = listen_socket(host, port)  # a port in use: one line, before anything else is said
    port = sock.getsockname()[1]  # --port 0: the free port the system chose
    _say_checkpoint(run_dir, which)
    model = load(run_dir, which)
    name = model_name or Path(run_dir).resolve().name
    click.echo(f"serving {run_dir} ({model.run.path.name}, step {model.step:,}) as model '{name}' "
               f"at http://{host}:{port}/ (Ctrl-C stops)", err=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"note: --host {host} lets other machines reach this server, which has no authentication",
                   err=True)
    run_server(model, name=name, host=host, port=port, limits=Limits(**limits), sock=sock)


# ---- export -------------------------------------------------------------------------------------
@cli.command()
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="The file to write: model.onnx, or model.safetensors (its config goes to model.json beside it).")
@click.option("--format", "fmt", default=None, type=click.Choice(["onnx", "torch"]),
              help="onnx: ONNX's LSTM/GRU/RNN operators, for onnxruntime; torch: torch.nn weights in safetensors. "
                   "Default: from the output's suffix (.safetensors: torch, else onnx).")
@click.option("--checkpoint", "which", default="best", show_default=True, metavar="best|last|STEP",
              help="Which checkpoint of the run to export: best, last, or the step of a kept one.")
def export(run_dir, output, fmt, which):
    """Export a run for other tools: ONNX (onnxruntime) or PyTorch (safetensors). See docs/export.md."""
    from ..export import export as export_run

    if which not in ("best", "last") and not (which.isascii() and which.isdigit()):
        raise UserError(f"--checkpoint {which!r}: expected best, last or a step number", 2)
    done = export_run(run_dir, output, fmt=fmt, which=which)
    if done.note:
        click.echo(f"note: {done.note}", err=True)
    size = lambda n: f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"  # noqa: E731
    sizes = ", ".join(f"{p} ({size(p.stat().st_size)})" for p in done.files)
    click.echo(f"wrote {sizes} from {done.checkpoint.name} (step {done.step:,}, {done.format})")


def main():
    cli(prog_name="lstmgen")


if __name__ == "__main__":
    main()
