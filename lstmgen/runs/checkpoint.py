"""Save and load run directories: NumPy ``.npz`` for arrays, JSON/YAML for the rest, atomically.

A run directory::

    RUN_DIR/
      config.yaml              the resolved config (a copy for people; checkpoints carry their own)
      tokenizer.json           the vocabulary (likewise)
      metrics.jsonl            one JSON line per log point
      checkpoints/
        last.json              {"format_version": 2, "checkpoint": "step-00006000", "step": 6000}
        best.json              the same for the lowest validation loss so far
        step-00006000/         one self-contained checkpoint:
          model.npz            the weights (names and shapes: see model.py and the README)
          optimizer.npz        optimiser moments (m:KEY, v:KEY for Adam; buf:KEY for SGD)
          state.npz            the recurrent state carried into the next window (layers.L.h, ...)
          trainer.json         format_version, step, epoch, window, RNG state, schedule, losses
          config.yaml          the resolved config
          tokenizer.json       the vocabulary

A checkpoint folder is written under a temporary name and renamed into place; then the
pointer files are replaced (write to a temporary file, fsync, ``os.replace``); only then are
folders that no pointer names removed. A crash at any moment leaves the previous checkpoint
readable. Arrays are read with ``allow_pickle=False``: nothing here can run code.

Format versions: 2 added ``best_train_loss``, ``evals_since_best`` and ``kept`` to
trainer.json. Version 1 checkpoints are still read (``V1_TRAINER_DEFAULTS`` fills in what they
lack); a version newer than ``FORMAT_VERSION`` is refused with a message to upgrade lstmgen.
"""

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Optional

import numpy as np

from .config import Config, dump_config, read_saved_config
from ..errors import CheckpointError, ConfigError

FORMAT_VERSION = 2
# trainer.json entries that format_version 2 added, and what a version 1 checkpoint means by their absence
V1_TRAINER_DEFAULTS = {"best_train_loss": None, "evals_since_best": 0, "kept": False}
POINTERS = ("last", "best")


# ---- atomic writes --------------------------------------------------------------------------
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the new one, never half."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as e:  # name the file meant, not the temporary one
        e.filename = str(path)
        raise
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, text.encode("utf-8"))


def _write_npz(path: Path, arrays: Dict[str, np.ndarray]) -> None:
    with open(path, "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())


def _json(obj) -> str:
    return json.dumps(obj, indent=1, sort_keys=False) + "\n"


# ---- saving ---------------------------------------------------------------------------------
def write_run_files(run_dir: Path, cfg: Config, tokenizer_dict: dict) -> None:
    """The human-facing copies of the config and vocabulary at the top of the run directory."""
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(run_dir / "config.yaml", dump_config(cfg))
    atomic_write_text(run_dir / "tokenizer.json", _json(tokenizer_dict))


def checkpoint_name(step: int) -> str:
    """The folder of step ``step``'s checkpoint under ``checkpoints/``: ``step-00001200``."""
    return f"step-{step:08d}"


def save_checkpoint(run_dir: Path, pointers: Iterable[str], *, step: int, params, optimizer_arrays,
                    state_arrays, trainer: dict, cfg: Config, tokenizer_dict: dict) -> Path:
    """Write checkpoint ``step-<step>`` and point ``pointers`` (e.g. ``["last", "best"]``) at it."""
    ckpt_root = run_dir / "checkpoints"
    name = checkpoint_name(step)
    final = ckpt_root / name
    try:
        ckpt_root.mkdir(parents=True, exist_ok=True)
        _write_folder(ckpt_root, final, params, optimizer_arrays, state_arrays, trainer, cfg, tokenizer_dict)
        for pointer in pointers:
            atomic_write_text(ckpt_root / f"{pointer}.json",
                              _json({"format_version": FORMAT_VERSION, "checkpoint": name, "step": step}))
    except OSError as e:  # disk full, read-only directory, ...: the pointers still name the previous one
        raise CheckpointError(f"cannot write checkpoint {final}: {e.strerror or e}; "
                              "the previous checkpoint is intact") from None
    _prune(ckpt_root)
    return final


def _write_folder(ckpt_root, final, params, optimizer_arrays, state_arrays, trainer, cfg, tokenizer_dict):
    name = final.name
    if not final.exists():
        tmp = Path(tempfile.mkdtemp(dir=ckpt_root, prefix=f".{name}."))
        try:
            _write_npz(tmp / "model.npz", params)
            _write_npz(tmp / "optimizer.npz", optimizer_arrays)
            _write_npz(tmp / "state.npz", state_arrays)
            (tmp / "trainer.json").write_text(_json({"format_version": FORMAT_VERSION, **trainer}), "utf-8")
            (tmp / "config.yaml").write_text(dump_config(cfg), "utf-8")
            (tmp / "tokenizer.json").write_text(_json(tokenizer_dict), "utf-8")
            _fsync_dir(tmp)
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        _fsync_dir(ckpt_root)


def prune(run_dir: Path) -> None:
    """Tidy ``RUN_DIR/checkpoints`` (see ``_prune``); called when a run resumes."""
    if (Path(run_dir) / "checkpoints").is_dir():
        _prune(Path(run_dir) / "checkpoints")


def _prune(ckpt_root: Path) -> None:
    """Remove checkpoint folders that no pointer names, unless written with ``keep`` (and not
    after ``last``: such a folder was renamed into place by a run that crashed before moving
    the pointer), and temporary folders left by a crash."""
    keep, last_step = set(), None
    for pointer in POINTERS:
        try:
            data = json.loads((ckpt_root / f"{pointer}.json").read_text("utf-8"))
            keep.add(data["checkpoint"])
            last_step = data["step"] if pointer == "last" else last_step
        except (OSError, ValueError, KeyError, TypeError):
            pass
    for child in ckpt_root.iterdir():
        if not child.is_dir() or child.name in keep:
            continue
        if not child.name.startswith(".") and isinstance(last_step, int) and _kept_step(child) is not None \
                and _kept_step(child) <= last_step:
            continue
        shutil.rmtree(child, ignore_errors=True)


def _kept_step(folder: Path) -> Optional[int]:
    """The step of a folder written with ``keep`` (``train.keep_every``), else None."""
    try:
        trainer = json.loads((folder / "trainer.json").read_text("utf-8"))
    except (OSError, ValueError):
        return None
    step = trainer.get("step") if isinstance(trainer, dict) and trainer.get("kept") is True else None
    return step if isinstance(step, int) else None


# ---- loading --------------------------------------------------------------------------------
@dataclass
class Checkpoint:
    path: Path  # the step-XXXXXXXX folder
    config: Config
    tokenizer_dict: dict
    params: Dict[str, np.ndarray]
    optimizer_arrays: Dict[str, np.ndarray]
    state_arrays: Dict[str, np.ndarray]
    trainer: dict


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"{path}: file is missing; the checkpoint is incomplete") from None
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{path}: not a readable JSON file ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _check_version(path: Path, data: dict) -> None:
    version = data.get("format_version")
    if not isinstance(version, int):
        raise CheckpointError(f"{path}: no valid format_version; this is not an lstmgen checkpoint")
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format_version {version} is newer than this lstmgen understands ({FORMAT_VERSION}); "
            "upgrade lstmgen to read it"
        )
    if version < 1:
        raise CheckpointError(f"{path}: format_version {version} was never written by lstmgen (1 to {FORMAT_VERSION} are)")


def _upgrade_trainer(trainer: dict) -> dict:
    """trainer.json as the current format has it: version 1 lacks the entries version 2 added."""
    if trainer["format_version"] == 1:
        trainer = {**V1_TRAINER_DEFAULTS, **trainer}
    return trainer


def read_npz(path: Path) -> Dict[str, np.ndarray]:
    """Every array of an ``.npz``; object arrays (pickles) and damaged files are refused."""
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except FileNotFoundError:
        raise CheckpointError(f"{path}: file is missing; the checkpoint is incomplete") from None
    if magic != b"PK\x03\x04":  # every .npz is a zip archive
        raise CheckpointError(f"{path}: damaged or not an .npz file (no zip header)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:
        raise CheckpointError(f"{path}: refused: it holds object arrays, which only pickle can read ({e})") from None
    except Exception as e:  # zipfile.BadZipFile, EOFError, OSError on truncated files
        raise CheckpointError(f"{path}: damaged or truncated .npz file ({type(e).__name__}: {e})") from None
    for k, a in arrays.items():
        if a.dtype.kind not in "fiu":
            raise CheckpointError(f"{path}: array '{k}' has dtype {a.dtype}; expected numbers")
    return arrays


def find_checkpoint(run_dir: Path, which: str = "last") -> Path:
    """The folder that ``checkpoints/<which>.json`` points to; for a step number (``which`` all
    digits), the folder kept at that step (``train.keep_every``)."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"run directory '{run_dir}' does not exist; train one with: lstmgen train --out {run_dir}")
    if is_step(which):
        find_checkpoint(run_dir, "last")  # a run that is not one, or not finished, fails as everywhere
        folder = run_dir / "checkpoints" / checkpoint_name(int(which))
        if not folder.is_dir():
            kept = sorted(int(p.name[5:]) for p in (run_dir / "checkpoints").glob("step-*") if p.name[5:].isdigit())
            raise CheckpointError(f"'{run_dir}' holds no checkpoint of step {int(which)}; it holds steps "
                                  f"{', '.join(map(str, kept)) or 'none'} (or use best, last)")
        return folder
    pointer = run_dir / "checkpoints" / f"{which}.json"
    if not pointer.exists():
        raise CheckpointError(f"'{run_dir}' holds no '{which}' checkpoint ({pointer} is missing); is it a run directory?")
    data = read_json(pointer)
    _check_version(pointer, data)
    name = data.get("checkpoint")
    if not isinstance(name, str) or "/" in name or "\\" in name or name.startswith("."):
        raise CheckpointError(f"{pointer}: 'checkpoint' should name a folder in checkpoints/, got {name!r}")
    folder = pointer.parent / name
    if not folder.is_dir():
        raise CheckpointError(f"{pointer}: points to '{name}', which does not exist")
    return folder


def is_step(which) -> bool:
    """Whether ``which`` names a checkpoint by its step number (ASCII digits) rather than a pointer."""
    return str(which).isascii() and str(which).isdigit()


def read_checkpoint(run_dir: Path, which: str = "last", *, with_training_state: bool = True) -> Checkpoint:
    """Read a whole checkpoint; every problem is a ``CheckpointError`` naming the file."""
    folder = find_checkpoint(run_dir, which)
    trainer = read_json(folder / "trainer.json")
    _check_version(folder / "trainer.json", trainer)
    trainer = _upgrade_trainer(trainer)
    try:
        cfg = read_saved_config(folder / "config.yaml")
    except ConfigError as e:
        raise CheckpointError(f"saved config is not valid: {e}") from None
    tokenizer_dict = read_json(folder / "tokenizer.json")
    params = read_npz(folder / "model.npz")
    optimizer_arrays = read_npz(folder / "optimizer.npz") if with_training_state else {}
    state_arrays = read_npz(folder / "state.npz") if with_training_state else {}
    return Checkpoint(folder, cfg, tokenizer_dict, params, optimizer_arrays, state_arrays, trainer)


def check_arrays(path: Path, arrays: Dict[str, np.ndarray], shapes: Dict[str, tuple], dtype=None) -> None:
    """Same keys, shapes (and dtype, if given) as expected, else a ``CheckpointError`` naming ``path``."""
    missing = sorted(set(shapes) - set(arrays))
    extra = sorted(set(arrays) - set(shapes))
    if missing or extra:
        raise CheckpointError(f"{path}: arrays do not match the model: missing {missing}, unexpected {extra}")
    for k, shape in shapes.items():
        if tuple(arrays[k].shape) != tuple(shape):
            raise CheckpointError(f"{path}: array '{k}' has shape {arrays[k].shape}; the config needs {tuple(shape)}")
        if dtype is not None and arrays[k].dtype != dtype:
            raise CheckpointError(f"{path}: array '{k}' has dtype {arrays[k].dtype}; expected {np.dtype(dtype)}")
        if arrays[k].dtype.kind != "f":
            raise CheckpointError(f"{path}: array '{k}' has dtype {arrays[k].dtype}; expected floating point")
        if not np.isfinite(arrays[k]).all():
            raise CheckpointError(f"{path}: array '{k}' holds NaN or infinite values")


_NUMBER, _OPTIONAL = (int, float), (int, float, type(None))
TRAINER_TYPES = {  # what a resumed run reads from trainer.json, and the JSON types it must have
    "step": int, "epoch": int, "window": int, "elapsed_s": _NUMBER, "best_val_loss": _OPTIONAL,
    "last_val_loss": _OPTIONAL, "rng": dict, "optimizer": dict, "lr_schedule": dict, "log_accumulator": dict,
    "best_train_loss": _OPTIONAL, "evals_since_best": int,
    "lr_schedule.scale": _NUMBER, "lr_schedule.last_val_loss": _OPTIONAL,
    "log_accumulator.loss_sum": _NUMBER, "log_accumulator.loss_count": int, "log_accumulator.tokens": int,
    "log_accumulator.seconds": _NUMBER,
}


def check_trainer(path: Path, trainer: dict) -> None:
    """Every entry of ``TRAINER_TYPES`` present with its type, else a ``CheckpointError``
    naming ``path`` and the entry."""
    for key, types in TRAINER_TYPES.items():
        outer, _, inner = key.partition(".")
        value = trainer.get(outer) if not inner else (trainer.get(outer) or {}).get(inner, KeyError)
        if value is KeyError or (value is None and not inner and key not in trainer):
            raise CheckpointError(f"{path}: entry '{key}' is missing")
        if isinstance(value, bool) or not isinstance(value, types) or (
                isinstance(value, float) and not np.isfinite(value)) or (isinstance(value, int) and value < 0):
            raise CheckpointError(f"{path}: entry '{key}' is {value!r}, which is not what lstmgen writes there")


def check_vocab_size(folder: Path, vocab_size: int, params: Dict[str, np.ndarray]) -> None:
    """The tokenizer and the weights must agree on the vocabulary size."""
    embed = params.get("embed.W")
    if embed is not None and embed.ndim == 2 and embed.shape[0] != vocab_size:
        raise CheckpointError(f"{folder / 'tokenizer.json'}: lists {vocab_size} tokens, but "
                              f"{folder / 'model.npz'} holds weights for {embed.shape[0]}; the two do not belong together")


def has_checkpoint(run_dir: Path, which: str = "last") -> bool:
    """Whether ``run_dir`` has a ``which`` pointer at all (broken or not: reading it tells)."""
    return (Path(run_dir) / "checkpoints" / f"{which}.json").exists()


def best_or_last(run_dir: Path) -> str:
    """``best``, or ``last`` for a run stopped before its first evaluation (no best pointer yet)."""
    return "best" if has_checkpoint(run_dir, "best") or not has_checkpoint(run_dir, "last") else "last"


def metrics_path(run_dir: Path) -> Path:
    return Path(run_dir) / "metrics.jsonl"


def truncate_metrics(run_dir: Path, step: int) -> None:
    """Drop metrics lines after ``step`` (written after the checkpoint a run resumes from)."""
    truncate_jsonl(metrics_path(run_dir), step)


def truncate_jsonl(path: Path, step: int) -> None:
    """Keep the lines of a JSON-lines log whose ``step`` is at most ``step``; drop broken lines."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text("utf-8").splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            continue
    atomic_write_text(path, "".join(l + "\n" for l in kept))


def optional_pointer(run_dir: Path, which: str) -> Optional[Path]:
    try:
        return find_checkpoint(run_dir, which)
    except CheckpointError:
        return None
