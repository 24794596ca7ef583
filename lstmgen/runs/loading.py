"""Load a trained run for evaluation or sampling: config, tokenizer, model and weights.

Everything comes from the checkpoint folder alone; the training data is not needed.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from . import checkpoint as ckpt
from .config import Config
from ..errors import CheckpointError
from ..nn.model import LanguageModel
from ..tokenizers import tokenizer_from_dict
from ..tokenizers.base import Tokenizer


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


def unevaluated_last(run_dir) -> Optional[dict]:
    """``{"best_step", "best_bits_per_char", "best_loss", "last_step"}`` when the run's ``last``
    checkpoint is newer than its ``best`` and was never evaluated (a run stopped by Ctrl-C, or
    killed, between two evaluations); else None. Reads only the pointers and two trainer.json
    files; anything unreadable is None (loading the checkpoint then says what is wrong)."""
    try:
        best, last = (ckpt.find_checkpoint(Path(run_dir), which) for which in ("best", "last"))
        best_trainer, last_trainer = (ckpt.read_json(folder / "trainer.json") for folder in (best, last))
    except CheckpointError:
        return None
    best_step, last_step, val_step = best_trainer.get("step"), last_trainer.get("step"), last_trainer.get("val_step")
    if not all(isinstance(s, int) for s in (best_step, last_step, val_step)) or last_step <= best_step \
            or val_step == last_step or best_trainer.get("best_val_loss") is None:
        return None  # val_step is absent from checkpoints written before it existed: nothing known
    return {"best_step": best_step, "best_bits_per_char": best_trainer.get("best_val_bits_per_char"),
            "best_loss": best_trainer["best_val_loss"], "last_step": last_step}


def checkpoint_note(run_dir, which: str = "best") -> Tuple[str, Optional[str]]:
    """The checkpoint ``read_run(run_dir, which)`` reads, and a note worth telling the user about
    it: ``best`` asked for and ``last`` given (no evaluation yet), or a newer ``last`` that
    ``best`` leaves out."""
    if which == "best" and ckpt.best_or_last(run_dir) == "last":
        # a run before its first evaluation has no best checkpoint yet: its latest is the one there is
        return "last", f"'{run_dir}' has no 'best' checkpoint yet (no evaluation has run); using 'last'"
    newer = unevaluated_last(run_dir) if which == "best" else None
    if newer is None:
        return which, None
    bits = newer["best_bits_per_char"]
    val = f"{bits:.3f} bits/char" if isinstance(bits, (int, float)) else f"{newer['best_loss']:.4f} nats/token"
    return which, (f"using best (step {newer['best_step']:,}, validation {val}); the last checkpoint, "
                   f"step {newer['last_step']:,}, is newer and was not evaluated: --checkpoint last reads it")


def read_run(run_dir: Path, which: str = "best") -> Run:
    """The ``best`` or ``last`` checkpoint of ``run_dir``, or the one kept at step ``which`` (digits),
    checked against its own config; its ``note`` is ``checkpoint_note``'s."""
    if which not in ckpt.POINTERS and not ckpt.is_step(which):
        raise CheckpointError(f"unknown checkpoint '{which}'; expected one of: {', '.join(ckpt.POINTERS)}, or a step")
    which, note = checkpoint_note(run_dir, which)
    saved = ckpt.read_checkpoint(Path(run_dir), which, with_training_state=False)
    tokenizer = saved_tokenizer(saved)
    model = LanguageModel.from_config(saved.config.model, tokenizer.vocab_size)
    ckpt.check_vocab_size(saved.path, tokenizer.vocab_size, saved.params)
    ckpt.check_arrays(saved.path / "model.npz", saved.params, model.param_shapes())
    params = {k: v.astype(np.float32, copy=False) for k, v in saved.params.items()}
    step = saved.trainer.get("step")
    return Run(saved.path, saved.config, tokenizer, model, params, step if isinstance(step, int) else 0, note)
