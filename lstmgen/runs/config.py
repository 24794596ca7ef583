"""Configuration: every default in one place, YAML files, ``--set`` overrides, validation.

The resolved configuration is built in three layers, later layers winning:

    dataclass defaults (below)  <  a YAML file (--config)  <  --set section.key=value overrides

A YAML file lists only what it changes, as ``section: {key: value}``. ``--set`` values are
parsed as YAML scalars (``--set train.learning_rate=0.001``, ``--set data.csv_column=text``).
Every mistake is a ``ConfigError`` that names where it came from (the file, or ``--set``), the
key, the value and what was expected; a misspelled key is answered with the nearest valid one.

The names here are the names everywhere: in the YAML files, the README, the checkpoint's
``config.yaml`` and the code (``cfg.model.hidden_size``). ``describe_keys`` lists them with
their defaults, allowed values and help text (``lstmgen config``, docs/configuration.md).

Shipped configs: the repository's ``configs/*.yaml`` are packaged as ``lstmgen/configs`` (a
link to that folder in the source tree, copied into a wheel at build time), so ``--config
tiny`` names ``configs/tiny.yaml`` from anywhere (``shipped_configs``, ``find_config``).
"""

import copy
import dataclasses
import difflib
import importlib.resources
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Union, get_type_hints

import yaml

from ..errors import ConfigError
from ..nn.init import SCHEMES as INIT_SCHEMES


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
        "the previous evaluation); cosine (down to 0 at max_steps); step (multiply by lr_decay every "
        "lr_decay_steps steps)", choices=["constant", "plateau", "cosine", "step"])
    lr_decay: float = _opt(0.5, "factor of the plateau and step schedules", min_excl=0.0, max=1.0)
    warmup_steps: int = _opt(0, "linear learning-rate warm-up steps", min=0)
    grad_clip: float = _opt(5.0, "clip all gradients together to this global L2 norm (0 = off)", min=0.0)
    max_steps: Optional[int] = _opt(5000, "stop after this many optimiser steps (null = no limit)", min=1)
    max_epochs: Optional[float] = _opt(
        None, "stop after this many passes over the training split, may be fractional (null = no limit)",
        min_excl=0.0)
    eval_interval: int = _opt(
        250, "evaluate on the validation split and write a checkpoint every this many steps (and at the end)", min=1)
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


def all_keys() -> List[str]:
    """Every valid ``section.key``, in declaration order."""
    return [f"{s}.{f.name}" for s, cls in SECTION_CLASSES.items() for f in dataclasses.fields(cls)]


def _type_name(typ: Any) -> str:
    """``Optional[int]`` -> ``'int or null'``; ``Union[str, int, None]`` -> ``'str or int or null'``."""
    options = getattr(typ, "__args__", (typ,)) if getattr(typ, "__origin__", None) is Union else (typ,)
    return " or ".join("null" if t is type(None) else t.__name__ for t in options)


def _allowed(rules: Dict[str, Any]) -> str:
    """The rules of one field in words: ``'one of: adam, sgd'``, ``'>= 1'``, ``'>= 0 and < 1'``; '' if any."""
    if "choices" in rules:
        return "one of: " + ", ".join(rules["choices"])
    signs = [("min", ">="), ("min_excl", ">"), ("max", "<="), ("max_excl", "<")]
    return " and ".join(f"{sign} {rules[name]:g}" for name, sign in signs if name in rules)


def describe_keys() -> List[Dict[str, Any]]:
    """Every config key with its default, type, allowed values and meaning, in declaration order.

    One dict per key: ``{"key": "train.batch_size", "default": 32, "type": "int", "allowed": ">= 1",
    "help": "parallel streams per step (N)"}``. ``allowed`` is '' where any value of the type is
    valid. The one source of ``lstmgen config`` and of docs/configuration.md.
    """
    out = []
    for section, cls in SECTION_CLASSES.items():
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):
            out.append({"key": f"{section}.{f.name}", "default": f.default, "type": _type_name(hints[f.name]),
                        "allowed": _allowed(f.metadata), "help": f.metadata["help"]})
    return out


def find_key(name: str) -> List[str]:
    """The keys ``name`` stands for: itself (``train.seq_len``) or a section's (``train``)."""
    if name in SECTION_CLASSES:
        return [k for k in all_keys() if k.startswith(name + ".")]
    if name in all_keys():
        return [name]
    raise _unknown_key("lstmgen config", name, list(SECTION_CLASSES) + all_keys())


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
    if "choices" in rules and isinstance(out, str) and out not in rules["choices"]:
        numbers = " or a number" if int in options or float in options else ""
        raise ConfigError(f"{where}: '{key}' is {out!r}; expected one of: {', '.join(rules['choices'])}{numbers}")
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


def shipped_configs() -> Dict[str, Path]:
    """The configs that come with lstmgen, name -> file, sorted: the package's ``configs``
    folder, or the source tree's ``configs/`` where that link is missing (a checkout without
    symbolic links)."""
    folder = Path(str(importlib.resources.files("lstmgen").joinpath("configs")))
    if not folder.is_dir():
        folder = Path(__file__).resolve().parents[2] / "configs"
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))} if folder.is_dir() else {}


def find_config(name_or_path: Union[str, Path]) -> Path:
    """The config file named by a path, or by a shipped config's name (``tiny``). A path that
    does not exist but reads ``configs/NAME.yaml`` is the shipped NAME, so the documented
    commands work from any folder."""
    path = Path(name_or_path)
    if path.exists():
        return path
    shipped = shipped_configs()
    if str(name_or_path) in shipped:
        return shipped[str(name_or_path)]
    if path.parent.name == "configs" and path.suffix == ".yaml" and path.stem in shipped:
        return shipped[path.stem]
    names = ", ".join(shipped) or "none found"
    raise ConfigError(f"config file '{name_or_path}' does not exist; give a YAML file or a shipped config: {names}")


def load_config(path: Optional[Union[str, Path]] = None, overrides: Optional[List[str]] = None,
                base: Optional[Config] = None) -> Config:
    """``base`` (default: the defaults) < the YAML file at ``path`` (or a shipped config's
    name) < ``overrides`` (``KEY=VALUE``)."""
    cfg = copy.deepcopy(base) if base is not None else Config()
    if path is not None:
        path = find_config(path)
        cfg = config_from_dict(_read_yaml(path), str(path), cfg)
    for text in overrides or []:
        key, value = parse_override(text)
        _apply(cfg, f"--set {text}", key, value)
    validate(cfg)
    return cfg


INHERITED = ("model", "tokenizer")  # the sections a fine-tuned run takes from its parent


def inherited_differences(cfg: Config, parent: Config) -> List[tuple]:
    """``[(key, value here, the parent's value)]`` of the keys of the sections a fine-tuned run
    takes from its parent (``INHERITED``) where the two configs differ."""
    return [(f"{section}.{f.name}", getattr(getattr(cfg, section), f.name), getattr(getattr(parent, section), f.name))
            for section in INHERITED for f in dataclasses.fields(getattr(cfg, section))
            if getattr(getattr(cfg, section), f.name) != getattr(getattr(parent, section), f.name)]


def inherit(cfg: Config, parent: Config, explicit: List[str], parent_dir) -> Config:
    """``cfg`` with the parent run's model and tokenizer sections (fine-tuning). A key of those
    sections in ``explicit`` (set on purpose: --set, a --config file) that differs from the
    parent's is a ConfigError: the weights fix the architecture and the vocabulary."""
    for key, mine, theirs in inherited_differences(cfg, parent):
        if key in explicit:
            raise ConfigError(f"{key} is {mine!r}, but --init-from {parent_dir} has {theirs!r}: a fine-tuned run "
                              f"keeps its parent's {key.split('.')[0]}; drop that setting")
    cfg = copy.deepcopy(cfg)
    for section in INHERITED:
        setattr(cfg, section, copy.deepcopy(getattr(parent, section)))
    return cfg


def explicit_keys(path: Optional[Union[str, Path]], overrides: Optional[List[str]]) -> List[str]:
    """The keys a config file and ``--set`` overrides name (what the user chose on purpose)."""
    keys = [parse_override(text)[0] for text in overrides or []]
    if path is not None:
        data = _read_yaml(find_config(path))
        keys += [f"{section}.{k}" for section, values in data.items() if isinstance(values, dict) for k in values]
    return keys


def validate(cfg: Config) -> None:
    """Checks that involve more than one key."""
    train_cfg = cfg.train
    if train_cfg.max_steps is None and train_cfg.max_epochs is None:
        raise ConfigError("train.max_steps and train.max_epochs are both null; set at least one so training ends")
    if train_cfg.lr_schedule == "cosine" and train_cfg.max_steps is None:
        raise ConfigError("train.lr_schedule 'cosine' needs train.max_steps (it decays to 0 at the last step)")


def read_saved_config(path: Path) -> Config:
    """A run directory's resolved ``config.yaml`` (errors are the caller's to word). A run saved
    before ``model.reset_at_eod`` existed carried its state across <eod>: it keeps doing so; one
    saved before ``train.shards`` computed each step in one call: it keeps doing so."""
    data = _read_yaml(path)
    if isinstance(data.get("model"), dict) and "reset_at_eod" not in data["model"]:
        data["model"] = {**data["model"], "reset_at_eod": False}
    if isinstance(data.get("train"), dict) and "shards" not in data["train"]:  # before train.shards: one call
        data["train"] = {**data["train"], "shards": 1}
    return config_from_dict(data, str(path))


def differences(cfg: Config) -> List[tuple]:
    """``[(key, value)]`` of the keys where ``cfg`` differs from the defaults (``Config()``,
    what ``lstmgen config`` lists), in declaration order."""
    default = Config()
    return [(f"{section}.{f.name}", getattr(getattr(cfg, section), f.name))
            for section in SECTION_CLASSES for f in dataclasses.fields(getattr(cfg, section))
            if getattr(getattr(cfg, section), f.name) != getattr(getattr(default, section), f.name)]


def dump_config(cfg: Config) -> str:
    """The resolved config as YAML, sections in order, keys in declaration order."""
    return yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=False)
