"""What rank 0 sends the other ranks of a data-parallel job: the resolved config, a loaded
checkpoint, a run's model. Rank 0 alone reads files; the others build their objects from what
it sends (``comm.bcast_json`` and ``comm.bcast_array``), so the comm layer itself knows nothing
of configs, checkpoints or models."""

from pathlib import Path
from typing import Dict, Optional

import numpy as np
import yaml

from ..nn.model import LanguageModel
from ..runs.checkpoint import Checkpoint
from ..runs.config import config_from_dict, dump_config

Arrays = Dict[str, np.ndarray]


def bcast_arrays(comm, arrays: Optional[Arrays]) -> Arrays:
    """Rank 0's dict of arrays on every rank (keys in rank 0's order)."""
    keys = comm.bcast_json(list(arrays) if comm.rank == 0 else None)
    return {k: comm.bcast_array(arrays[k] if comm.rank == 0 else None) for k in keys}


def bcast_config(comm, cfg):
    """Rank 0's resolved config on every rank (sent as its YAML text)."""
    if comm.size == 1:
        return cfg
    text = comm.bcast_json(dump_config(cfg) if comm.rank == 0 else None)
    return config_from_dict(yaml.safe_load(text), "the config sent by rank 0")


def bcast_checkpoint(comm, saved):
    """Rank 0's loaded ``checkpoint.Checkpoint`` on every rank (the others read no files)."""
    if comm.size == 1:
        return saved
    lead = comm.rank == 0
    config = bcast_config(comm, saved.config if lead else None)
    head = comm.bcast_json({"path": str(saved.path), "tokenizer": saved.tokenizer_dict, "trainer": saved.trainer}
                           if lead else None)
    arrays = [bcast_arrays(comm, getattr(saved, name) if lead else None)
              for name in ("params", "optimizer_arrays", "state_arrays")]
    return Checkpoint(Path(head["path"]), config, head["tokenizer"], *arrays, head["trainer"])


def bcast_model(comm, run):
    """Rank 0's loaded run (``loading.Run``) as ``(model, params)`` on every rank."""
    lead = comm.rank == 0
    config = bcast_config(comm, run.config if lead else None)
    vocab_size = comm.bcast_json(run.tokenizer.vocab_size if lead else None)
    params = bcast_arrays(comm, run.params if lead else None)
    return (run.model if lead else LanguageModel.from_config(config.model, vocab_size)), params
