"""What a resumed or a fine-tuned run checks before it starts: the config keys a resume may not
change, the checkpoint's fit to the run the config builds, the parent of a fine-tuned run."""

from pathlib import Path
from typing import Dict

import numpy as np

from .checkpoint import (Checkpoint, best_or_last, check_arrays, check_trainer, check_vocab_size,
                         read_checkpoint)
from .config import Config, inherited_differences
from ..errors import ConfigError

# Keys a resumed run must keep: they fix the architecture, the vocabulary or the token stream.
FROZEN_ON_RESUME = ("data.*", "tokenizer.*", "model.*", "train.batch_size", "train.seq_len",
                    "train.optimizer", "train.seed")


def _flatten(cfg: Config) -> dict:
    return {f"{s}.{k}": v for s, d in cfg.to_dict().items() for k, v in d.items()}


def read_parent(parent_dir, cfg: Config) -> Checkpoint:
    """The run a fine-tuned run starts from (``train.init_from``): its best checkpoint (its last
    before any evaluation), whose model and tokenizer sections ``cfg`` must have (``config.inherit``)."""
    parent = read_checkpoint(Path(parent_dir), best_or_last(parent_dir), with_training_state=False)
    for key, mine, theirs in inherited_differences(cfg, parent.config)[:1]:
        raise ConfigError(f"{key} is {mine!r}, but train.init_from {parent_dir} has {theirs!r}: a fine-tuned run "
                          f"keeps its parent's {key.split('.')[0]}")
    return parent


def check_resume_config(saved: Config, new: Config) -> list:
    """Refuse changes to frozen keys; return ``[(key, old, new)]`` of the allowed changes."""
    old_flat, new_flat = _flatten(saved), _flatten(new)
    changes = [(k, old_flat[k], new_flat[k]) for k in old_flat if old_flat[k] != new_flat[k]]
    for key, old, value in changes:
        frozen = any(key == f or (f.endswith(".*") and key.startswith(f[:-1])) for f in FROZEN_ON_RESUME)
        if frozen:
            raise ConfigError(
                f"cannot resume with {key} changed from {old!r} to {value!r}: it fixes the model, vocabulary "
                "or data stream of the run; train into a new --out directory instead"
            )
    return changes


def check_resumable(saved: Checkpoint, vocab_size: int, param_shapes: Dict[str, tuple],
                    state_shapes: Dict[str, tuple], optimizer_shapes: Dict[str, tuple]) -> None:
    """A loaded checkpoint fits the tokenizer, model, state and optimiser a run builds from its
    config, and its trainer.json holds what a resumed run reads; else a ``CheckpointError``."""
    check_vocab_size(saved.path, vocab_size, saved.params)
    check_trainer(saved.path / "trainer.json", saved.trainer)
    check_arrays(saved.path / "model.npz", saved.params, param_shapes, np.float32)
    check_arrays(saved.path / "state.npz", saved.state_arrays, state_shapes, np.float32)
    check_arrays(saved.path / "optimizer.npz", saved.optimizer_arrays, optimizer_shapes, np.float32)
