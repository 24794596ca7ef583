"""Load a trained run for evaluation or sampling: config, tokenizer, model and weights.

Everything comes from the checkpoint folder alone; the training data is not needed.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from . import checkpoint as ckpt
from .config import Config
from .errors import CheckpointError
from .model import LanguageModel
from .tokenizers import tokenizer_from_dict
from .tokenizers.base import Tokenizer


@dataclass
class Run:
    path: Path  # the checkpoint folder
    config: Config
    tokenizer: Tokenizer
    model: LanguageModel
    params: dict
    step: int
    note: Optional[str] = None  # worth telling the user (e.g. 'best' asked for, 'last' given)


def saved_tokenizer(saved: ckpt.Checkpoint) -> Tokenizer:
    """The tokenizer a checkpoint holds; a malformed one is a CheckpointError naming its file."""
    try:
        return tokenizer_from_dict(saved.tokenizer_dict)
    except CheckpointError as e:
        raise CheckpointError(f"{saved.path / 'tokenizer.json'}: {e}") from None


def load_run(run_dir: Path, which: str = "best") -> Run:
    """The ``best`` or ``last`` checkpoint of ``run_dir``, checked against its own config."""
    if which not in ckpt.POINTERS:
        raise CheckpointError(f"unknown checkpoint '{which}'; expected one of: {', '.join(ckpt.POINTERS)}")
    note = None
    if which == "best" and ckpt.best_or_last(run_dir) == "last":
        # a run before its first evaluation has no best checkpoint yet: its latest is the one there is
        which, note = "last", (f"'{run_dir}' has no 'best' checkpoint yet (no evaluation has run); "
                               "using 'last'")
    saved = ckpt.load_checkpoint(Path(run_dir), which, with_training_state=False)
    tokenizer = saved_tokenizer(saved)
    model = LanguageModel.from_config(saved.config.model, tokenizer.vocab_size)
    ckpt.check_vocab_size(saved.path, tokenizer.vocab_size, saved.params)
    ckpt.check_arrays(saved.path / "model.npz", saved.params, model.param_shapes())
    params = {k: v.astype(np.float32, copy=False) for k, v in saved.params.items()}
    step = saved.trainer.get("step")
    return Run(saved.path, saved.config, tokenizer, model, params, step if isinstance(step, int) else 0, note)
