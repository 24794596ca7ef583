"""Every config key in one place: its section, default, allowed values and meaning.

One dataclass per section (``data``, ``tokenizer``, ``model``, ``train``), one field per key,
each with its help text and the rules ``config.py`` enforces (``choices``, ``min``, ``max``,
...). ``config.describe_keys`` reads them for ``lstmgen config`` and docs/configuration.md.
"""

import dataclasses
from dataclasses import dataclass, field
import math
from typing import Any, Dict, Optional, Union

from ..nn.init import SCHEMES as INIT_SCHEMES


# train.eval_tokens: 10 windows of the default batch (32 x 100); evaluation's share of a default
# run's time 1.4%, where the whole 175,000-token split of the default corpus took 9.7%
# (docs/time-budget.md, benchmarks/RESULTS.md)
EVAL_TOKENS = 32_768

DURATION_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}
DURATION_FORMS = "seconds (a number > 0) or a number with s, m or h, e.g. 90s, 10m, 2h"


def duration_seconds(value: Union[float, str, None]) -> Optional[float]:
    """``train.max_time`` in seconds: ``600`` -> 600.0, ``'90s'`` -> 90.0, ``'10m'`` -> 600.0,
    ``'2h'`` -> 7200.0, None -> None; a ``ValueError`` for anything else."""
    if value is None:
        return None
    text = str(value).strip().lower()
    number, unit = (text[:-1], text[-1]) if text[-1:] in DURATION_UNITS else (text, "s")
    try:
        seconds = float(number) * DURATION_UNITS[unit]
    except ValueError:
        raise ValueError(f"{value!r} is not a duration") from None
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{value!r} is not a positive duration")
    return seconds


def duration_text(value: Union[float, str]) -> str:
    """A ``train.max_time`` as the user wrote it: ``'10m'``, or ``600`` -> ``'600s'``."""
    return value.strip() if isinstance(value, str) else f"{value:g}s"


def _opt(default, help, **rules):
    """A dataclass field with its help text and validation rules (choices, min, max, ...)."""
    return field(default=default, metadata={"help": help, **rules})


def _fraction(default, help):
    """A field for a share or a rate in [0, 1): dropout, a split, a decay."""
    return _opt(default, help, min=0.0, max_excl=1.0)


@dataclass
class DataConfig:
    corpus: str = _opt(
        "builtin:python-docstrings", "a text file, a folder (every file in it, recursively, sorted), a glob, a CSV/TSV "
        "or JSON-lines file, or builtin:NAME")
    csv_column: Union[str, int, None] = _opt(
        None, "the CSV column holding the text: a header name or a 0-based index (the first row is always the header)")
    val_fraction: float = _fraction(0.1, "share of the corpus held out for validation")
    encoding: str = _opt("utf-8", "text encoding of the corpus files")
    encoding_errors: str = _opt(
        "strict", "bytes not valid in the encoding: strict (an error naming the file and byte offset) or replace "
        "(read as U+FFFD)", choices=["strict", "replace"])
    csv_delimiter: Optional[str] = _opt(
        None, "the CSV field delimiter, one character (null: ',' for .csv, tab for .tsv)")
    json_field: Optional[str] = _opt(None, "in a JSON-lines file (.jsonl, .ndjson), the field holding the text")
    template: Optional[str] = _opt(
        None, "join several CSV columns or JSON fields into one document, e.g. '{title}: {body}' (names or 0-based "
        "column indices; {{ and }} for braces); replaces csv_column and json_field")
    token_cache: Optional[str] = _opt(
        None, "a folder: tokenise the corpus once into token files there and stream training windows from disk "
        "(null = in memory)")


@dataclass
class TokenizerConfig:
    level: str = _opt("char", "what one token is: char (a Unicode code point), word, or bpe (byte-pair subwords)",
                      choices=["char", "word", "bpe"])
    max_vocab: int = _opt(8000, "word: vocabulary size, <unk> and <eod> included; rarer words become <unk>", min=3)
    min_freq: int = _opt(1, "word: keep only words seen at least this often in the training split", min=1)
    lowercase: bool = _opt(False, "word: lowercase the text before splitting it into words")
    vocab_size: int = _opt(2000, "bpe: vocabulary size, at most: <unk>, <eod>, the 256 bytes, then learnt merges",
                           min=258)


def _why_not_cell(value: str) -> Optional[str]:
    """An explanation for a cell name that cannot work in a left-to-right generator, else None."""
    if "bidirectional" in value.lower() or value.lower().startswith(("bi", "brnn")):
        return ("a bidirectional (non-causal) cell reads the text from both ends, so each prediction "
                "would see the characters it is asked to predict and the model could not generate text "
                "left to right")
    return None


@dataclass
class ModelConfig:
    cell: str = _opt("lstm", "the recurrent cell of every layer (a bidirectional cell is refused: it would see the "
                     "text it must predict)", choices=["lstm", "peephole_lstm", "gru", "gru_cudnn", "rnn"],
                     explain=_why_not_cell)
    embed_dim: int = _opt(64, "size of the token embedding (E, the input size of the first layer)", min=1)
    hidden_size: int = _opt(256, "hidden units per layer (H)", min=1)
    num_layers: int = _opt(2, "stacked recurrent layers", min=1, max=8)
    dropout: float = _fraction(
        0.2, "standard dropout (a fresh mask for every element, time step and window) on the input of every layer "
        "above the first and on the last layer's output; training only")
    embed_dropout: float = _fraction(
        0.0, "embedding (whole-token) dropout: each vocabulary entry is dropped for the whole window, its embedding "
        "row zero wherever it occurs; training only")
    input_dropout: float = _fraction(
        0.0, "variational (locked) dropout on the embedding output, one mask per stream and window; training only")
    hidden_dropout: float = _fraction(
        0.0, "variational (locked) dropout on the input of every layer above the first, one mask per stream and "
        "window; combines with model.dropout; training only")
    output_dropout: float = _fraction(
        0.0, "variational (locked) dropout on the last layer's output before the head, one mask per stream and "
        "window; training only")
    tie_weights: bool = _opt(
        False, "the softmax head reuses the embedding matrix, through a learned projection head.proj when "
        "embed_dim != hidden_size")
    init: str = _opt(
        "orthogonal", "initialisation scheme of the weights and biases: orthogonal (orthogonal recurrent weights, "
        "Xavier input weights, PyTorch's biases), pytorch, forget_bias, chrono, xavier or uniform "
        "(docs/initialisation.md)", choices=list(INIT_SCHEMES))
    reset_at_eod: bool = _opt(True, "a stream reads each <eod> from a zero state, so every document starts as "
                                    "sampling starts one (false: the state carries from one document into the next)")


# What a time budget (train.max_time) changes in a new run, where the user chose nothing else,
# measured by benchmarks/race.py (docs/time-budget.md): at 5 minutes a rate of 0.004 reached a
# held-out loss 0.03-0.05 nats/char lower than 0.002 on both corpora, while cosine to a tenth
# and no dropout did not help. A fine-tuned run keeps the default rate (FROM_SCRATCH).
BUDGET_CHOICES = {
    "train.max_steps": None,  # the time ends the run, not the 5,000 steps of the default
    "train.learning_rate": 0.004,
}
FROM_SCRATCH = ("train.learning_rate",)  # budget choices measured on runs from random weights


@dataclass
class TrainConfig:
    batch_size: int = _opt(32, "parallel streams per step (N)", min=1)
    seq_len: int = _opt(100, "time steps per window of truncated BPTT (T)", min=1)
    optimizer: str = _opt("adam", "adam, or sgd (with momentum)", choices=["adam", "sgd"])
    learning_rate: float = _opt(2e-3, "initial learning rate", min_excl=0.0)
    momentum: float = _fraction(0.9, "momentum of sgd (0 = plain SGD)")
    beta1: float = _fraction(0.9, "Adam's first-moment decay")
    beta2: float = _fraction(0.999, "Adam's second-moment decay")
    lr_schedule: str = _opt(
        "plateau", "constant; plateau (multiply by lr_decay whenever the validation loss comes out higher than at "
        "the previous evaluation); cosine or linear (down to final_lr_ratio x learning_rate at the end of the "
        "budget: max_steps, or max_time when set, whichever ends first); step (multiply by lr_decay every "
        "lr_decay_steps steps)", choices=["constant", "plateau", "cosine", "linear", "step"])
    lr_decay: float = _opt(0.5, "factor of the plateau and step schedules", min_excl=0.0, max=1.0)
    warmup_steps: int = _opt(0, "linear learning-rate warm-up steps", min=0)
    warmup_fraction: float = _fraction(
        0.0, "linear learning-rate warm-up over this share of the budget (steps of max_steps, or time of max_time "
        "when set); applies with warmup_steps")
    final_lr_ratio: float = _opt(
        0.0, "cosine and linear: the learning rate at the end of the budget, as a share of learning_rate",
        min=0.0, max=1.0)
    grad_clip: float = _opt(5.0, "clip all gradients together to this global L2 norm (0 = off)", min=0.0)
    max_steps: Optional[int] = _opt(5000, "stop after this many optimiser steps (null = no limit)", min=1)
    max_time: Union[float, str, None] = _opt(
        None, "stop when this much wall-clock time has passed since training started, evaluations and checkpoints "
        "included: seconds, or 90s, 10m, 2h (null = no limit); the last step is evaluated and checkpointed within "
        "it; with max_steps or max_epochs, whichever ends first; --resume continues with the time left; a new run "
        f"with it has no max_steps and a learning_rate of {BUDGET_CHOICES['train.learning_rate']} unless set "
        "(docs/time-budget.md)",
        duration=True)
    max_epochs: Optional[float] = _opt(
        None, "stop after this many passes over the training split, may be fractional (null = no limit)",
        min_excl=0.0)
    eval_interval: int = _opt(
        250, "evaluate on the validation split and write a checkpoint every this many steps (and at the end)", min=1)
    eval_tokens: Optional[int] = _opt(
        EVAL_TOKENS, "evaluate on at most this many validation tokens: the first stretch of each of batch_size "
        "evenly spaced columns of the split, the same at every evaluation (null = the whole split)", min=1)
    log_interval: int = _opt(10, "write a metrics.jsonl line every this many steps", min=1)
    weight_decay: float = _opt(
        0.0, "decoupled (AdamW-style, also with sgd) weight decay: before each update every weight matrix is "
        "multiplied by 1 - learning_rate * weight_decay; biases and peepholes do not decay", min=0.0)
    seed: int = _opt(1234, "seed of the initialisation and of dropout: the same config and seed give the same numbers",
                     min=0)
    sample_interval: int = _opt(
        500, "every this many steps, print a short sample (160 tokens from <eod>, temperature 1) and append it to "
        "samples.jsonl; training is unchanged (0 = off)", min=0)
    lr_decay_steps: int = _opt(1000, "the step schedule multiplies the rate by lr_decay every this many steps", min=1)
    patience: Optional[int] = _opt(
        4, "early stopping: stop after this many evaluations in a row without a lower validation loss "
        "(null = never; no effect without a validation split)", min=1)
    keep_every: Optional[int] = _opt(
        None, "also write a checkpoint every this many steps and keep it (null = keep only best and last)", min=1)
    divergence_threshold: float = _opt(
        3.0, "a step whose training loss is above this many times the lowest so far has diverged "
        "(0 = only NaN or infinity counts)", min=0.0)
    divergence_lr_factor: float = _opt(
        0.5, "after a divergence, roll back to the last checkpoint and multiply train.learning_rate by this",
        min_excl=0.0, max_excl=1.0)
    max_divergences: int = _opt(3, "give up (exit code 1) after this many rollbacks in one train command", min=0)
    init_from: Optional[str] = _opt(
        None, "fine-tune: start from this run directory's best checkpoint (its weights, model and tokenizer) "
        "with a fresh optimiser and schedule (null = a new model)")
    threads: Union[int, str] = _opt(
        "auto", "threads to compute with: auto (the cores free at start, then the faster of 1 and all as the "
        "machine's load changes) or a number; never changes the results", choices=["auto"], min=1)
    shards: int = _opt(
        2, "data parallelism over threads: each step cuts the batch's streams into this many shards, computed "
        "side by side by up to train.threads threads (in turn by fewer) and summed in a fixed order, so the "
        "numbers never depend on the threads; more shards can use more cores (1 = the whole batch in one call)",
        min=1)


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> Dict[str, Dict[str, Any]]:
        return dataclasses.asdict(self)


SECTION_CLASSES = {"data": DataConfig, "tokenizer": TokenizerConfig, "model": ModelConfig, "train": TrainConfig}
