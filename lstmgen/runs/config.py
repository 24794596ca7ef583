"""Configuration: every default in one place, YAML files, ``--set`` overrides, validation.

The resolved configuration is built in three layers, later layers winning:

    dataclass defaults (defaults.py)  <  a YAML file (--config)  <  --set section.key=value overrides

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
import operator
from pathlib import Path
from typing import Any, Dict, List, Optional, Union, get_type_hints

import yaml

from ..errors import ConfigError
from .defaults import (BUDGET_CHOICES, DURATION_FORMS, FROM_SCRATCH, SECTION_CLASSES, Config,  # noqa: F401
                       duration_seconds, duration_text)


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
    if rules.get("duration"):
        return DURATION_FORMS
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
    if rules.get("duration"):
        try:
            duration_seconds(out)
        except ValueError:
            raise ConfigError(f"{where}: '{key}' is {value!r}; expected {DURATION_FORMS}") from None
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
    name) < ``overrides`` (``KEY=VALUE``). A new run (no ``base``) with a time budget takes
    ``BUDGET_CHOICES`` where neither the file (the shipped default excepted) nor ``overrides`` chose."""
    cfg = copy.deepcopy(base) if base is not None else Config()
    if path is not None:
        path = find_config(path)
        cfg = config_from_dict(_read_yaml(path), str(path), cfg)
    for text in overrides or []:
        key, value = parse_override(text)
        _apply(cfg, f"--set {text}", key, value)
    if base is None:
        chosen = explicit_keys(None if path == shipped_configs().get("default") else path, overrides)
        cfg = budget_choices(cfg, chosen)
    validate(cfg)
    return cfg


def budget_choices(cfg: Config, chosen: List[str], choices: Optional[dict] = None) -> Config:
    """``cfg`` with ``choices`` (default ``BUDGET_CHOICES``) for the keys not in ``chosen`` when it
    has a time budget; else ``cfg`` unchanged."""
    if cfg.train.max_time is None:
        return cfg
    cfg = copy.deepcopy(cfg)
    for key, value in (BUDGET_CHOICES if choices is None else choices).items():
        if key not in chosen:
            section, name = key.split(".")
            setattr(getattr(cfg, section), name, value)
    return cfg


def fine_tune_choices(cfg: Config, chosen: List[str]) -> Config:
    """A fine-tuned run's ``cfg``: the ``FROM_SCRATCH`` keys a time budget chose (not in
    ``chosen``) back at the defaults' values."""
    defaults = Config()
    return budget_choices(cfg, chosen, {key: operator.attrgetter(key)(defaults) for key in FROM_SCRATCH})


INHERITED = ("model", "tokenizer")  # the sections a fine-tuned run takes from its parent


def inherited_differences(cfg: Config, parent: Config) -> List[tuple]:
    """``[(key, value here, the parent's value)]`` of the keys of the sections a fine-tuned run
    takes from its parent (``INHERITED``) where the two configs differ."""
    return [(f"{section}.{f.name}", getattr(getattr(cfg, section), f.name), getattr(getattr(parent, section), f.name))
            for section in INHERITED for f in dataclasses.fields(getattr(cfg, section))
            if getattr(getattr(cfg, section), f.name) != getattr(getattr(parent, section), f.name)]


def inherit(cfg: Config, parent: Config, explicit: List[str], parent_dir, how: str = "--init-from") -> Config:
    """``cfg`` with the parent run's model and tokenizer sections (fine-tuning). A key of those
    sections in ``explicit`` (set on purpose: --set, a --config file, a dict's key) that differs
    from the parent's is a ConfigError naming the parent as ``how`` gave it (``--init-from``,
    ``train.init_from``): the weights fix the architecture and the vocabulary."""
    for key, mine, theirs in inherited_differences(cfg, parent):
        if key in explicit:
            raise ConfigError(f"{key} is {mine!r}, but {how} {parent_dir} has {theirs!r}: a fine-tuned run "
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
    if train_cfg.max_steps is None and train_cfg.max_epochs is None and train_cfg.max_time is None:
        raise ConfigError("train.max_steps, train.max_epochs and train.max_time are all null; set at least one so "
                          "training ends")
    if train_cfg.lr_schedule in ("cosine", "linear") and train_cfg.max_steps is None and train_cfg.max_time is None:
        raise ConfigError(f"train.lr_schedule '{train_cfg.lr_schedule}' needs train.max_steps or train.max_time "
                          "(it decays to train.final_lr_ratio at the end of the budget)")


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
