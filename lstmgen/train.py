"""The training loop: truncated BPTT over N parallel streams, evaluation, checkpoints, resume.

``train(cfg, run_dir)`` reads the corpus, builds (or, with ``resume=True``, reloads) the
tokenizer, model, optimiser and schedule, then loops. Everything a resumed run needs to
continue exactly as if it had never stopped is in the checkpoint: weights, optimiser moments,
step, epoch, window, the carried recurrent state, the dropout RNG and the schedule.

Progress goes to a ``Reporter`` (the CLI's is a tqdm bar); this module never prints.
"""

import json
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from . import checkpoint as ckpt
from . import token_cache
from .config import Config, dump_config
from .corpus import load_configured_corpus
from .data import Batches, eval_windows
from .errors import CheckpointError, ConfigError
from .guard import Diverged, guard
from .model import LanguageModel
from .optim import LRSchedule, clip_grad_norm, decay_weights, make_optimizer
from .tokenizers import build_tokenizer, tokenizer_from_dict, tokenizer_settings
from .training_samples import training_sample, truncate_samples, write_sample

# Keys a resumed run must keep: they fix the architecture, the vocabulary or the token stream.
FROZEN_ON_RESUME = ("data.*", "tokenizer.*", "model.*", "train.batch_size", "train.seq_len",
                    "train.optimizer", "train.seed")


class Reporter:
    """What the loop tells the outside world; the default tells nobody."""

    def start(self, info: dict) -> None:
        """Once, before the first step: step, total_steps, num_params, tokens, ..."""

    def update(self, step: int, stats: dict) -> None:
        """After every step: loss, tokens_per_s, learning_rate, and val_loss after an eval."""

    def message(self, text: str) -> None:
        """Something worth a line of its own (a lowered learning rate, a resumed run)."""

    def close(self) -> None:
        """Once, at the end."""

    def progress(self, stage: str, done: int, total: int) -> None:
        """While a corpus is read into the token cache: ``done`` of ``total`` bytes of ``stage``."""


@dataclass
class TrainResult:
    run_dir: Path
    step: int
    epoch: int
    last_val_loss: Optional[float]
    best_val_loss: Optional[float]
    checkpoint: Path
    interrupted: bool
    early_stopped: bool = False


def _flatten(cfg: Config) -> dict:
    return {f"{s}.{k}": v for s, d in cfg.to_dict().items() for k, v in d.items()}


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


def evaluate_ids(model: LanguageModel, params, ids: np.ndarray, batch_size: int, seq_len: int):
    """Summed NLL (nats) over every target of ``ids`` (every id after the first), and the
    targets scored (``len(ids) - 1``), read as ``eval_windows`` cuts them."""
    total, count, state = 0.0, 0, None
    for x, y in eval_windows(ids, batch_size, seq_len):
        if state is None:
            state = model.init_state(x.shape[1])
        elif x.shape[1] < len(next(iter(state.values()))):  # the tail continues the last column
            state = {k: v[-x.shape[1]:] for k, v in state.items()}
        nll, state = model.nll(params, x, y, state)
        total += nll
        count += y.size
    return total, count


class _StopFlag:
    """Ctrl-C sets the flag; the loop finishes its step, saves and returns. A second Ctrl-C
    interrupts at once (the last checkpoint is still there)."""

    def __init__(self):
        self.set = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.set:
            raise KeyboardInterrupt
        self.set = True

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


@guard  # the run-directory lock, and rollback on divergence
def train(cfg: Config, run_dir, *, resume: bool = False, reporter: Optional[Reporter] = None) -> TrainResult:
    run_dir = Path(run_dir)
    reporter = reporter or Reporter()
    t = cfg.train
    saved = None
    if resume:
        saved = ckpt.load_checkpoint(run_dir, "last")
        changes = check_resume_config(saved.config, cfg)
    elif ckpt.has_checkpoint(run_dir):
        raise ConfigError(
            f"'{run_dir}' already holds a training run; continue it with --resume, or choose another --out"
        )

    # data: documents -> tokenizer -> ids -> N parallel streams
    tokenizer = None
    if saved is not None:
        try:
            tokenizer = tokenizer_from_dict(saved.tokenizer_dict)
        except CheckpointError as e:
            raise CheckpointError(f"{saved.path / 'tokenizer.json'}: {e}") from None
    if cfg.data.token_cache is not None:  # ids in token files on disk, windows read as needed
        tokenizer, batches, val_ids = token_cache.prepare(cfg, t.batch_size, t.seq_len, tokenizer,
                                                          reporter.progress)
    else:
        corpus = load_configured_corpus(cfg.data)
        if tokenizer is None:
            tokenizer = build_tokenizer(cfg.tokenizer.level, corpus.train, **tokenizer_settings(cfg.tokenizer))
        batches = Batches(tokenizer.encode_documents(corpus.train), t.batch_size, t.seq_len)
        val_ids = tokenizer.encode_documents(corpus.val) if corpus.val else np.zeros(0, np.int32)

    # model, optimiser, schedule, RNG: fresh, or exactly as they were saved
    seeds = np.random.SeedSequence(t.seed).spawn(2)
    init_rng, dropout_rng = np.random.default_rng(seeds[0]), np.random.default_rng(seeds[1])
    model = LanguageModel.from_config(cfg.model, tokenizer.vocab_size)
    params = model.init_params(init_rng)
    optimizer = make_optimizer(t, params)
    schedule = LRSchedule(t.lr_schedule, t.learning_rate, t.lr_decay, t.warmup_steps, t.max_steps,
                          t.lr_decay_steps)
    state = model.init_state(t.batch_size)
    step, epoch, window, elapsed = 0, 0, 0, 0.0
    best_val = last_val = None
    best_train, evals_since_best = None, 0  # for divergence detection and early stopping
    acc = {"loss_sum": 0.0, "loss_count": 0, "tokens": 0, "seconds": 0.0}
    if saved is not None:
        ckpt.check_vocab_size(saved.path, tokenizer.vocab_size, saved.params)
        ckpt.check_trainer(saved.path / "trainer.json", saved.trainer)
        ckpt.check_arrays(saved.path / "model.npz", saved.params, model.param_shapes(), np.float32)
        ckpt.check_arrays(saved.path / "state.npz", saved.state_arrays,
                          {k: v.shape for k, v in state.items()}, np.float32)
        ckpt.check_arrays(saved.path / "optimizer.npz", saved.optimizer_arrays,
                          {k: v.shape for k, v in optimizer.state_arrays().items()}, np.float32)
        tr = saved.trainer
        try:
            params = saved.params
            optimizer.load(saved.optimizer_arrays, tr["optimizer"])
            schedule.load(tr["lr_schedule"])
            dropout_rng.bit_generator.state = tr["rng"]
            state = saved.state_arrays
            step, epoch, window, elapsed = tr["step"], tr["epoch"], tr["window"], tr["elapsed_s"]
            best_val, last_val, acc = tr["best_val_loss"], tr["last_val_loss"], tr["log_accumulator"]
            best_train, evals_since_best = tr.get("best_train_loss"), tr.get("evals_since_best", 0)
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{saved.path / 'trainer.json'}: missing or malformed entry ({e})") from None
        if window >= batches.num_windows:
            raise CheckpointError(f"{saved.path / 'trainer.json'}: data position {window} is past the end of the "
                                  f"training data ({batches.num_windows} windows); has the corpus changed?")
        # training-only keys may change on resume; the schedule follows the new config
        schedule.base_lr, schedule.lr_decay, schedule.warmup_steps, schedule.max_steps = (
            t.learning_rate, t.lr_decay, t.warmup_steps, t.max_steps)
        schedule.lr_decay_steps = t.lr_decay_steps
        ckpt.prune(run_dir)  # a folder renamed into place just before a crash, never pointed to
        ckpt.truncate_metrics(run_dir, step)
        truncate_samples(run_dir, step)
        ckpt.write_run_files(run_dir, cfg, tokenizer.to_dict())
        for key, old, new in changes:
            reporter.message(f"resume: {key} changed from {old!r} to {new!r}")
    else:
        ckpt.write_run_files(run_dir, cfg, tokenizer.to_dict())

    total_steps = t.max_steps if t.max_steps is not None else 10**18
    if t.max_epochs is not None:
        total_steps = min(total_steps, int(np.ceil(t.max_epochs * batches.num_windows)))

    def save(pointers, keep=False):
        trainer = {
            "step": step, "epoch": epoch, "window": window, "elapsed_s": elapsed,
            "best_val_loss": best_val, "last_val_loss": last_val, "rng": dropout_rng.bit_generator.state,
            "optimizer": optimizer.state_dict(), "lr_schedule": schedule.state_dict(), "log_accumulator": acc,
            "best_train_loss": best_train, "evals_since_best": evals_since_best, "kept": keep,
        }
        return ckpt.save_checkpoint(run_dir, pointers, step=step, params=params,
                                    optimizer_arrays=optimizer.state_arrays(), state_arrays=state,
                                    trainer=trainer, cfg=cfg, tokenizer_dict=tokenizer.to_dict())

    def log(record):
        with open(ckpt.metrics_path(run_dir), "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    reporter.start({"step": step, "total_steps": total_steps, "num_params": model.num_params(),
                    "vocab_size": tokenizer.vocab_size, "train_tokens": batches.num_windows * batches.tokens_per_window,
                    "val_tokens": int(len(val_ids)), "windows_per_epoch": batches.num_windows,
                    "config": dump_config(cfg), "resumed": resume})
    last_path = None
    interrupted = early_stopped = False
    if saved is None:  # step 0: something to resume from, and to roll back to
        last_path = save(["last"])
    with _StopFlag() as stop:
        while step < total_steps and not stop.set and not early_stopped:
            t0 = time.perf_counter()
            # a new epoch starts every stream from its beginning with a zero state
            if window == 0:
                state = model.init_state(t.batch_size)
            x, y = batches.window(window)

            # forward and backward over one window, clip, update
            lr = schedule.lr(step)
            loss, grads, state = model.loss_and_grads(params, x, y, state, dropout_rng)
            grad_norm = clip_grad_norm(grads, t.grad_clip)
            # divergence: a NaN, infinite or exploding loss never reaches the weights; guard() rolls back
            if not (np.isfinite(loss) and np.isfinite(grad_norm)):
                raise Diverged(step + 1, f"training loss {loss:.4g}, gradient norm {grad_norm:.4g}")
            if t.divergence_threshold > 0 and best_train is not None and loss > t.divergence_threshold * best_train:
                raise Diverged(step + 1, f"training loss {loss:.4g} is above train.divergence_threshold "
                                         f"{t.divergence_threshold:g} x the lowest so far ({best_train:.4g})")
            best_train = loss if best_train is None else min(best_train, loss)
            decay_weights(params, lr, t.weight_decay)  # decoupled: never part of the gradient
            optimizer.step(params, grads, lr)
            step, window = step + 1, window + 1
            if window == batches.num_windows:
                epoch, window = epoch + 1, 0

            # bookkeeping: running averages for the log, and the progress bar
            seconds = time.perf_counter() - t0
            elapsed += seconds
            acc["loss_sum"] += loss
            acc["loss_count"] += 1
            acc["tokens"] += x.size
            acc["seconds"] += seconds
            stats = {"loss": loss, "learning_rate": lr, "tokens_per_s": x.size / max(seconds, 1e-9)}

            # evaluate and checkpoint: every eval_interval steps and at the very end
            evaluated = step % t.eval_interval == 0 or step == total_steps
            if evaluated:
                pointers = ["last"]
                if len(val_ids) > 1:
                    nll, n = evaluate_ids(model, params, val_ids, t.batch_size, t.seq_len)
                    last_val = nll / n
                    if not np.isfinite(last_val):
                        raise Diverged(step, f"validation loss {last_val}")
                    stats["val_loss"] = last_val
                    if schedule.on_eval(last_val):
                        reporter.message(f"step {step}: validation loss rose; learning rate now "
                                         f"{schedule.lr(step):.3g}")
                if best_val is None or (last_val is not None and last_val < best_val):
                    best_val = last_val
                    pointers.append("best")
                    evals_since_best = 0
                elif last_val is not None:
                    evals_since_best += 1
                # early stopping: train.patience evaluations in a row without a lower validation loss
                if t.patience is not None and evals_since_best >= t.patience:
                    early_stopped = True
                    reporter.message(f"step {step}: no lower validation loss in {t.patience} evaluations "
                                     f"(best {best_val:.4f}); stopping early")
            if evaluated or step % t.log_interval == 0:
                log({"step": step, "epoch": round(epoch + window / batches.num_windows, 4),
                     "train_loss": acc["loss_sum"] / max(1, acc["loss_count"]),
                     "val_loss": stats.get("val_loss"), "learning_rate": lr,
                     "tokens_per_s": acc["tokens"] / max(acc["seconds"], 1e-9), "elapsed_s": round(elapsed, 3)})
                acc = {"loss_sum": 0.0, "loss_count": 0, "tokens": 0, "seconds": 0.0}
            keep = t.keep_every is not None and step % t.keep_every == 0
            if evaluated or keep:
                last_path = save(pointers if evaluated else ["last"], keep=keep)
            # a short sample now and then, so users watch the model learn
            if t.sample_interval and step % t.sample_interval == 0:
                text = training_sample(model, params, tokenizer, t.seed, step)
                write_sample(run_dir, step, text)
                reporter.message(f"sample at step {step}: {json.dumps(text, ensure_ascii=False)}")
            reporter.update(step, stats)
        if stop.set:
            interrupted = True
            last_path = save(["last"])
    reporter.close()
    if last_path is None:  # nothing to do (resumed a finished run)
        last_path = ckpt.find_checkpoint(run_dir, "last")
    return TrainResult(run_dir, step, epoch, last_val, best_val, last_path, interrupted, early_stopped)
