"""What a run directory holds: config, parameters per layer, tokenizer, steps, losses, size.

Reads only the checkpoints' small files and the weights' shapes; nothing is trained or sampled.
(Named ``inspect_run`` so that it never shadows the standard library's ``inspect``.)
"""

from pathlib import Path

import numpy as np

from . import checkpoint as ckpt
from .config import dump_config
from .loading import read_run


def _size(path: Path) -> int:
    """Bytes of the files under ``path`` (or of the file)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def inspect_run(run_dir, which: str = "last") -> dict:
    run_dir = Path(run_dir)
    run = read_run(run_dir, which)
    trainer = ckpt.read_checkpoint(run_dir, which, with_training_state=False).trainer
    layers = {}  # "embed", "layers.0", ..., "head" -> parameter count
    for name, arr in run.params.items():
        group = name.rsplit(".", 1)[0]
        layers[group] = layers.get(group, 0) + int(arr.size)
    best = ckpt.optional_pointer(run_dir, "best")
    tok = run.tokenizer
    tokens = [t for t in tok.vocab[2:]]
    return {
        "run_dir": str(run_dir),
        "checkpoint": run.path.name,
        "step": run.step,
        "epoch": trainer.get("epoch"),
        "elapsed_s": trainer.get("elapsed_s"),
        "best_checkpoint": best.name if best is not None else None,
        "best_val_loss": trainer.get("best_val_loss"),
        "last_val_loss": trainer.get("last_val_loss"),
        "best_val_bits_per_char": trainer.get("best_val_bits_per_char"),  # absent in checkpoints written before it was saved
        "last_val_bits_per_char": trainer.get("last_val_bits_per_char"),
        "num_params": int(sum(layers.values())),
        "params_per_layer": layers,
        "param_shapes": {k: list(v.shape) for k, v in run.params.items()},
        "tokenizer": {"level": tok.level, "vocab_size": tok.vocab_size,
                      "specials": tok.vocab[:2], "first_tokens": tokens[:40]},
        "disk_bytes": _size(run_dir),
        "checkpoint_bytes": {p.name: _size(p) for p in sorted((run_dir / "checkpoints").glob("step-*"))},
        "config": run.config.to_dict(),
        "config_yaml": dump_config(run.config),
        "dtype": str(np.dtype(next(iter(run.params.values())).dtype)),
    }
