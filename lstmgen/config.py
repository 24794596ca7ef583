"""Configuration: every default in one place, YAML files, ``--set`` overrides, validation.

The resolved configuration is built in three layers, later layers winning:

    dataclass defaults (below)  <  a YAML file (--config)  <  --set section.key=value overrides

A YAML file lists only what it changes, as ``section: {key: value}``. ``--set`` values are
parsed as YAML scalars (``--set train.learning_rate=0.001``, ``--set data.csv_column=text``).
Every mistake is a ``ConfigError`` that names where it came from (the file, or ``--set``), the
key, the value and what was expected; a misspelled key is answered with the nearest valid one.

The names here are the names everywhere: in the YAML files, the README, the checkpoint's
``config.yaml`` and the code (``cfg.model.hidden_size``).
"""

import copy
import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union, get_type_hints

import yaml

from .errors import ConfigError
from .nn.init import SCHEMES as INIT_SCHEMES


def _opt(default, help, **rules):
    """A dataclass field with its help text and validation rules (choices, min, max, ...)."""
    return field(default=default, metadata={"help": help, **rules})


@dataclass
class DataConfig:
    corpus: str = _opt("builtin:python-docs", "text file, folder, glob, CSV/TSV file, or builtin:NAME")
    csv_column: Union[str, int, None] = _opt(None, "CSV column holding the text: header name or 0-based index")
    val_fraction: float = _opt(0.1, "share of the corpus held out for validation", min=0.0, max_excl=1.0)
    encoding: str = _opt("utf-8", "text encoding of the corpus files")
    encoding_errors: str = _opt("strict", "bytes invalid in the encoding: strict (an error) or replace (U+FFFD)",
                                choices=["strict", "replace"])
    csv_delimiter: Optional[str] = _opt(None, "CSV field delimiter, one character (null: ',' for .csv, tab for .tsv)")
    json_field: Optional[str] = _opt(None, "JSON-lines (.jsonl) field holding the text")
    template: Optional[str] = _opt(None, "join CSV columns / JSON fields into one document, e.g. '{title}: {body}'")
    token_cache: Optional[str] = _opt(None, "folder for token files: tokenise once, stream from disk (null = in memory)")


@dataclass
class TokenizerConfig:
    level: str = _opt("char", "what one token is: char, word, or bpe (byte-pair subwords)", choices=["char", "word", "bpe"])
    max_vocab: int = _opt(8000, "word: vocabulary size, the two special tokens included", min=3)
    min_freq: int = _opt(1, "word: keep only words seen at least this often in training", min=1)
    lowercase: bool = _opt(False, "word: lowercase the text before splitting it into words")
    vocab_size: int = _opt(2000, "bpe: vocabulary size: 2 specials + 256 bytes + learnt merges (at most)", min=258)


def _why_not_cell(value: str) -> Optional[str]:
    """An explanation for a cell name that cannot work in a left-to-right generator, else None."""
    if "bidirectional" in value.lower() or value.lower().startswith(("bi", "brnn")):
        return ("a bidirectional (non-causal) cell reads the text from both ends, so each prediction "
                "would see the characters it is asked to predict and the model could not generate text "
                "left to right")
    return None


@dataclass
class ModelConfig:
    cell: str = _opt("lstm", "recurrent cell", choices=["lstm", "peephole_lstm", "gru", "gru_cudnn", "rnn"],
                     explain=_why_not_cell)
    embed_dim: int = _opt(64, "size of the token embedding (D of the first layer)", min=1)
    hidden_size: int = _opt(256, "hidden units per layer (H)", min=1)
    num_layers: int = _opt(2, "stacked recurrent layers", min=1, max=8)
    dropout: float = _opt(0.2, "dropout between layers and before the head, training only", min=0.0, max_excl=1.0)
    embed_dropout: float = _opt(0.0, "whole-token dropout: zero entire embedding rows, one mask per window",
                                min=0.0, max_excl=1.0)
    input_dropout: float = _opt(0.0, "locked dropout on the embedding output, one mask per stream and window",
                                min=0.0, max_excl=1.0)
    hidden_dropout: float = _opt(0.0, "locked dropout between layers, one mask per stream and window",
                                 min=0.0, max_excl=1.0)
    output_dropout: float = _opt(0.0, "locked dropout before the head, one mask per stream and window",
                                 min=0.0, max_excl=1.0)
    tie_weights: bool = _opt(False, "the head reuses the embedding (with a projection when embed_dim != hidden_size)")
    init: str = _opt("orthogonal", "initialisation scheme of the weights and biases (docs/initialisation.md)",
                     choices=list(INIT_SCHEMES))


@dataclass
class TrainConfig:
    batch_size: int = _opt(32, "parallel streams per step (N)", min=1)
    seq_len: int = _opt(100, "time steps per window of truncated BPTT (T)", min=1)
    optimizer: str = _opt("adam", "adam, or sgd (with momentum)", choices=["adam", "sgd"])
    learning_rate: float = _opt(2e-3, "initial learning rate", min_excl=0.0)
    momentum: float = _opt(0.9, "momentum of sgd (0 = plain SGD)", min=0.0, max_excl=1.0)
    beta1: float = _opt(0.9, "Adam's first-moment decay", min=0.0, max_excl=1.0)
    beta2: float = _opt(0.999, "Adam's second-moment decay", min=0.0, max_excl=1.0)
    lr_schedule: str = _opt(
        "plateau", "constant; plateau (multiply by lr_decay when val loss rises); cosine (to 0 at max_steps); "
        "step (multiply by lr_decay every lr_decay_steps steps)",
        choices=["constant", "plateau", "cosine", "step"],
    )
    lr_decay: float = _opt(0.5, "factor applied by the plateau and step schedules", min_excl=0.0, max=1.0)
    warmup_steps: int = _opt(0, "linear learning-rate warm-up steps", min=0)
    grad_clip: float = _opt(5.0, "clip gradients to this global L2 norm (0 = off)", min=0.0)
    max_steps: Optional[int] = _opt(5000, "stop after this many optimiser steps (null = no limit)", min=1)
    max_epochs: Optional[float] = _opt(None, "stop after this many passes over the training split", min_excl=0.0)
    eval_interval: int = _opt(250, "evaluate on the validation split and checkpoint every this many steps", min=1)
    log_interval: int = _opt(10, "write a metrics.jsonl line every this many steps", min=1)
    weight_decay: float = _opt(0.0, "decoupled (AdamW-style) weight decay of the weight matrices, per unit of lr",
                               min=0.0)
    seed: int = _opt(1234, "seed of initialisation and dropout; same seed, same numbers", min=0)
    sample_interval: int = _opt(0, "show and store (samples.jsonl) a short sample every this many steps (0 = off)",
                                min=0)
    lr_decay_steps: int = _opt(1000, "the step schedule multiplies the rate by lr_decay every this many steps", min=1)
    patience: Optional[int] = _opt(None, "stop after this many evaluations without a lower val loss (null = never)", min=1)
    keep_every: Optional[int] = _opt(None, "also checkpoint and keep every this many steps (null = keep only best and last)", min=1)
    divergence_threshold: float = _opt(
        3.0, "a training loss above this times the lowest so far is divergence (0 = only NaN/inf)", min=0.0)
    divergence_lr_factor: float = _opt(0.5, "on divergence: roll back and multiply the learning rate by this",
                                       min_excl=0.0, max_excl=1.0)
    max_divergences: int = _opt(3, "give up after this many rollbacks in one train command", min=0)


@dataclass
class Config:
    data: DataConfig = field(default_factory=DataConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> Dict[str, Dict[str, Any]]:
        return dataclasses.asdict(self)


SECTION_CLASSES = {"data": DataConfig, "tokenizer": TokenizerConfig, "model": ModelConfig, "train": TrainConfig}


def all_keys() -> List[str]:
    """Every valid ``section.key``, in declaration order."""
    return [f"{s}.{f.name}" for s, cls in SECTION_CLASSES.items() for f in dataclasses.fields(cls)]


def key_help() -> Dict[str, str]:
    """``section.key`` -> help text, for ``lstmgen train --help-config``."""
    return {
        f"{s}.{f.name}": f.metadata["help"] for s, cls in SECTION_CLASSES.items() for f in dataclasses.fields(cls)
    }


def _unknown_key(where: str, key: str, candidates: List[str]) -> ConfigError:
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else f"; valid keys: {', '.join(candidates)}"
    return ConfigError(f"{where}: unknown key '{key}'{hint}")


def _coerce(where: str, key: str, value: Any, typ: Any, rules: Dict[str, Any]) -> Any:
    """Check one value against its annotated type and rules; return it converted."""
    expected = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}
    optional = getattr(typ, "__origin__", None) is Union
    options = [t for t in getattr(typ, "__args__", (typ,)) if t is not type(None)]
    if value is None:
        if optional and type(None) in typ.__args__:
            return None
        raise ConfigError(f"{where}: '{key}' must not be empty; expected {expected.get(options[0], options[0])}")
    out = None
    for t in options:
        if t is int and isinstance(value, int) and not isinstance(value, bool):
            out = value
        elif t is int and isinstance(value, float) and value.is_integer() and not options.count(str):
            out = int(value)
        elif t is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            out = float(value)
        elif t is float and isinstance(value, str):
            try:  # YAML 1.1 reads "1e-3" as a string
                out = float(value)
            except ValueError:
                pass
        elif t is str and isinstance(value, str):
            out = value
        elif t is bool and isinstance(value, bool):
            out = value
        if out is not None:
            break
    if out is None or (isinstance(out, float) and not math.isfinite(out)):
        what = " or ".join(expected.get(t, str(t)) for t in options) + (" or null" if optional else "")
        raise ConfigError(f"{where}: '{key}' is {value!r}; expected {what}")
    why = rules["explain"](out) if "explain" in rules else None
    if why:
        raise ConfigError(f"{where}: '{key}' is {out!r}: {why}; expected one of: {', '.join(rules['choices'])}")
    if "choices" in rules and out not in rules["choices"]:
        raise ConfigError(f"{where}: '{key}' is {out!r}; expected one of: {', '.join(rules['choices'])}")
    if isinstance(out, (int, float)) and not isinstance(out, bool):
        bounds = [
            ("min", lambda v, b: v >= b, ">="), ("max", lambda v, b: v <= b, "<="),
            ("min_excl", lambda v, b: v > b, ">"), ("max_excl", lambda v, b: v < b, "<"),
        ]
        for name, ok, sign in bounds:
            if name in rules and not ok(out, rules[name]):
                raise ConfigError(f"{where}: '{key}' is {out!r}; expected a value {sign} {rules[name]}")
    return out


def _apply(cfg: Config, where: str, key: str, value: Any) -> None:
    """Set ``section.key`` on ``cfg`` after validating it."""
    if key.count(".") != 1:
        if key in SECTION_CLASSES:
            raise ConfigError(f"{where}: '{key}' is a section; set one of its keys, e.g. '{key}.{_first(key)}'")
        raise _unknown_key(where, key, all_keys())
    section, name = key.split(".")
    cls = SECTION_CLASSES.get(section)
    if cls is None:
        raise _unknown_key(where, key, all_keys())
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if name not in fields:
        raise _unknown_key(where, key, all_keys())
    typ = get_type_hints(cls)[name]
    setattr(getattr(cfg, section), name, _coerce(where, key, value, typ, fields[name].metadata))


def _first(section: str) -> str:
    return dataclasses.fields(SECTION_CLASSES[section])[0].name


def _read_yaml(path: Path) -> Dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"config file '{path}' cannot be read: {e}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{at}: {getattr(e, 'problem', e)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of sections (data, tokenizer, model, train), got {type(data).__name__}")
    return data


def config_from_dict(data: Dict[str, Any], where: str, base: Optional[Config] = None) -> Config:
    """Apply a ``{section: {key: value}}`` mapping on top of ``base`` (or the defaults)."""
    cfg = copy.deepcopy(base) if base is not None else Config()
    for section, values in data.items():
        if not isinstance(section, str) or section not in SECTION_CLASSES:
            raise _unknown_key(where, str(section), list(SECTION_CLASSES))
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: section '{section}' must be a mapping of keys to values, got {values!r}")
        for name, value in values.items():
            _apply(cfg, where, f"{section}.{name}", value)
    return cfg


def parse_override(text: str) -> tuple:
    """``'train.learning_rate=1e-3'`` -> ``('train.learning_rate', 0.001)`` (value as a YAML scalar)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {text}: expected KEY=VALUE, e.g. --set train.max_steps=100")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except (yaml.YAMLError, RecursionError):
        value = raw
    if isinstance(value, (dict, list)):
        value = raw
    return key.strip(), value


def load_config(path: Optional[Union[str, Path]] = None, overrides: Optional[List[str]] = None,
                base: Optional[Config] = None) -> Config:
    """``base`` (default: the defaults) < the YAML file at ``path`` < ``overrides`` (``KEY=VALUE``)."""
    cfg = copy.deepcopy(base) if base is not None else Config()
    if path is not None:
        path = Path(path)
        cfg = config_from_dict(_read_yaml(path), str(path), cfg)
    for text in overrides or []:
        key, value = parse_override(text)
        _apply(cfg, f"--set {text}", key, value)
    validate(cfg)
    return cfg


def validate(cfg: Config) -> None:
    """Checks that involve more than one key."""
    t = cfg.train
    if t.max_steps is None and t.max_epochs is None:
        raise ConfigError("train.max_steps and train.max_epochs are both null; set at least one so training ends")
    if t.lr_schedule == "cosine" and t.max_steps is None:
        raise ConfigError("train.lr_schedule 'cosine' needs train.max_steps (it decays to 0 at the last step)")


def read_saved_config(path: Path) -> Config:
    """A run directory's resolved ``config.yaml`` (errors are the caller's to word)."""
    return config_from_dict(_read_yaml(path), str(path))


def dump_config(cfg: Config) -> str:
    """The resolved config as YAML, sections in order, keys in declaration order."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=False)
