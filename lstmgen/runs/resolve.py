"""What a training run is, from what the user gave: one function for ``lstmgen train`` and
``lstmgen.train`` alike.

The config is built in layers, later ones winning:

    the base        a shipped config's name or a YAML file, a {section: {key: value}} dict, a
                    Config, or nothing (the shipped ``default``); when resuming a run without
                    a file, the run's own config instead of the defaults
    overrides       KEY=VALUE texts (``--set``)
    data            SOURCE and its options (``data.corpus``, ``data.csv_column``, ``data.json_field``)
    the parent      fine-tuning (``--init-from`` or ``train.init_from``): the parent run's
                    ``model`` and ``tokenizer`` sections, which its weights fix

and the run directory defaults to ``runs/<the corpus's name>`` when a corpus was given, else
``runs/<the config file's name>``, else ``runs/default``.
"""

import copy
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence

from ..errors import ConfigError
from .checkpoint import best_or_last, has_checkpoint, read_checkpoint
from .config import (Config, budget_choices, config_from_dict, differences, explicit_keys, fine_tune_choices, inherit,
                     load_config, parse_override, shipped_configs)


@dataclass
class ResolvedRun:
    """A training run ready to start: its config and its run directory."""

    config: Config
    run_dir: Path
    resuming: bool  # the run directory has a checkpoint that ``resume`` continues


def run_name(source: str) -> str:
    """The name of ``runs/<name>`` for a corpus: notes.txt -> notes, builtin:kjv -> kjv."""
    name = source.rsplit(":", 1)[-1] if source.startswith("builtin:") else Path(source.rstrip("/\\")).stem
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") or "corpus"


def default_run_dir(config=None, corpus: Optional[str] = None) -> Path:
    """``runs/<corpus name>``, else ``runs/<config file name>``, else ``runs/default``."""
    if corpus:
        return Path("runs") / run_name(corpus)
    return Path("runs") / (Path(config).stem if isinstance(config, (str, Path)) else "default")


def resolve_run(config=None, overrides: Sequence[str] = (), *, data: Optional[Mapping] = None, out=None,
                init_from=None, resume: bool = False) -> ResolvedRun:
    """The config and run directory of a training run (the layers above); errors are
    ``ConfigError`` (a bad key or value, a conflict) or ``CheckpointError`` (an unreadable parent
    or run). ``init_from`` (``--init-from``) wins over the config's ``train.init_from``; with
    ``resume`` it is refused, while ``train.init_from`` only takes effect when there is nothing
    to resume yet (a restart loop's first attempt)."""
    data = {k: v for k, v in (data or {}).items() if v is not None}
    run_dir = Path(out) if out is not None else default_run_dir(config, data.get("corpus"))
    if init_from is not None and resume:
        raise ConfigError("--init-from starts a new run from another one; --resume continues this one: give one")
    resuming = resume and has_checkpoint(run_dir)  # nothing to resume: a new run, configured as one
    cfg = _base_config(config, list(overrides), run_dir if resuming else None)
    for key, value in data.items():
        setattr(cfg.data, key, value)
    parent_dir, how = (init_from, "--init-from") if init_from is not None else \
        (None if resuming else cfg.train.init_from, "train.init_from")
    if parent_dir is not None:
        parent = read_checkpoint(Path(parent_dir), best_or_last(parent_dir), with_training_state=False)
        explicit = _explicit(config, overrides)
        cfg = fine_tune_choices(inherit(cfg, parent.config, explicit, parent_dir, how), explicit)
        cfg.train.init_from = str(parent_dir)
    return ResolvedRun(cfg, run_dir, resuming)


def _base_config(config, overrides, resumed_dir) -> Config:
    """``config`` with ``overrides``, validated; on the run's own config when resuming ``resumed_dir``
    without a config file."""
    if isinstance(config, (str, Path)):
        return load_config(config, overrides)
    base = read_checkpoint(resumed_dir, "last", with_training_state=False).config if resumed_dir else None
    if config is None:
        default = "default" if base is None and "default" in shipped_configs() else None
        return load_config(default, overrides, base=base)
    if isinstance(config, Mapping):
        cfg = load_config(None, overrides, base=config_from_dict(dict(config), "config", base))
        # a new run with a time budget: the budget's choices where the dict chose nothing (as a file)
        return cfg if base is not None else budget_choices(cfg, _explicit(config, overrides))
    if isinstance(config, Config):
        return load_config(None, overrides, base=copy.deepcopy(config))
    raise ConfigError(f"config must be a dict, a YAML file's path or a Config, got {type(config).__name__}")


def _explicit(config, overrides) -> list:
    """The keys set on purpose: a config file's or dict's keys, a Config's differences from the
    defaults, and the overrides'."""
    if isinstance(config, Mapping):
        keys = [f"{s}.{k}" for s, values in config.items() if isinstance(values, Mapping) for k in values]
    elif isinstance(config, Config):
        keys = [key for key, _ in differences(config)]
    else:
        return explicit_keys(config, list(overrides))
    return keys + [parse_override(text)[0] for text in overrides]
