"""The training loop: truncated BPTT over N parallel streams, evaluation, checkpoints, resume.

``train(cfg, run_dir)`` builds a ``Trainer`` and runs it. The trainer reads the corpus, builds
(or, with ``resume=True``, reloads) the tokenizer, model, optimiser and schedule, then loops.
Everything a resumed run needs to continue exactly as if it had never stopped is in the
checkpoint: weights, optimiser moments, step, epoch, window, the carried recurrent state, the
dropout RNG and the schedule.

How the ``Trainer`` is laid out (each piece a short method; ``run`` is the loop):

    restore or start   __init__, _open_run, _load_data, _build, _restore
    one step           train_step: get_batch -> forward_backward -> reduce -> clip -> update
    evaluate           evaluate (the validation loss), judge_eval (best, schedule, patience)
    checkpoint         save, _trainer_state (what trainer.json holds)
    log                log (metrics.jsonl), sample (samples.jsonl)
    stop rules         should_stop, interrupted, check_divergence, patience in judge_eval

The hooks for data-parallel training (a subclass, passed as ``train(..., trainer_class=)``):

- ``get_batch()`` gives this process's (x, y) window of the step; ``zero_state()`` the zero
  recurrent state for the streams it holds.
- ``forward_backward(x, y)`` returns ``(loss, grads, count)``: the mean loss over ``count``
  targets and its gradients, and carries the recurrent state.
- ``reduce(loss, grads, count)`` runs between backward and clipping. In one process it returns
  its arguments; across processes it all-reduces them (the count-weighted mean of the losses
  and gradients, the summed count), so that every process clips, decays and updates the same
  weights the same way.
- ``evaluate()`` gives the mean validation loss in nats per token.

Progress goes to a ``Reporter`` (the CLI's is a tqdm bar); this module never prints.
"""

import json
import math
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..runs import checkpoint as ckpt
from . import threads
from ..data import token_cache
from ..runs.config import Config, differences, dump_config
from ..data.corpus import check_format_options, load_configured_corpus
from ..data.batches import Batches
from ..errors import CheckpointError, ConfigError
from ..evaluation.evaluate import evaluate_ids
from .guard import Diverged, guard
from ..runs.loading import saved_tokenizer
from ..nn.model import LanguageModel
from ..nn.shards import Shards
from .optim import LRSchedule, clip_grad_norm, decay_weights, make_optimizer
from ..evaluation.score import text_size
from ..tokenizers import build_tokenizer, tokenizer_settings
from .samples import training_sample, truncate_samples, write_sample


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
    last_val_bits_per_char: Optional[float] = None  # the validation losses in bits per character
    best_val_bits_per_char: Optional[float] = None
    first_step: int = 0  # the step this call started from (a resumed run: its checkpoint's)


class _StopFlag:
    """Ctrl-C (or SIGTERM) sets the flag; the loop finishes its step, saves and returns. A
    second one interrupts at once (the last checkpoint is still there)."""

    def __init__(self):
        self.set = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def _handle(self, signum, frame):
        if self.set:
            raise KeyboardInterrupt
        self.set = True

    def __exit__(self, *exc):
        for s, handler in (self._previous or {}).items():
            signal.signal(s, handler)


def _new_accumulator() -> dict:
    """Running sums between two log lines."""
    return {"loss_sum": 0.0, "loss_count": 0, "tokens": 0, "seconds": 0.0}


class Trainer:
    """One training run in ``run_dir``: built ready to loop (fresh, or restored), then ``run()``."""

    # ---- restore or start ---------------------------------------------------------------------
    def __init__(self, cfg: Config, run_dir, *, resume: bool = False, reporter: Optional[Reporter] = None):
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.reporter = reporter or Reporter()
        saved, changes = self._open_run(resume)
        self.resumed = saved is not None
        self.val_chars = None  # characters of the validation text, where its documents are read
        self.tokenizer, self.batches, self.val_ids = self._load_data(saved)
        if len(self.val_ids):  # read as eval and score read a text: from a start <eod>
            self.val_ids = np.concatenate([[self.tokenizer.eod_id], self.val_ids]).astype(np.int32)
        self._build()
        if saved is not None:
            self._restore(saved, changes)
        self.prepare_run_dir()
        train_cfg = cfg.train
        self.total_steps = train_cfg.max_steps if train_cfg.max_steps is not None else 10**18
        if train_cfg.max_epochs is not None:
            self.total_steps = min(self.total_steps, int(np.ceil(train_cfg.max_epochs * self.batches.num_windows)))
        self.last_path = None  # the checkpoint written last
        self.early_stopped = False
        # threads: as many as cores are free now, then the faster of 1 and all (``threads.Governor``)
        self.threads, self.adaptive_threads, self.threads_why = threads.resolve(train_cfg.threads)

    def _open_run(self, resume: bool):
        """The checkpoint to resume from (None for a new run) and the config changes it allows;
        a fine-tuned run (``train.init_from``) also opens its parent's checkpoint."""
        self.parent = None
        if resume:
            saved = ckpt.load_checkpoint(self.run_dir, "last")
            return saved, ckpt.check_resume_config(saved.config, self.cfg)
        if ckpt.has_checkpoint(self.run_dir):
            raise ConfigError(
                f"'{self.run_dir}' already holds a training run; continue it with --resume, or choose another --out"
            )
        if self.cfg.train.init_from is not None:
            self.parent = ckpt.load_parent(self.cfg.train.init_from, self.cfg)
        return None, []

    def _load_data(self, saved):
        """documents -> tokenizer -> ids -> N parallel streams; a resumed run keeps its tokenizer."""
        cfg, train_cfg = self.cfg, self.cfg.train
        if saved is None:  # a new run: a CSV column or JSON field its corpus would ignore is refused
            check_format_options(cfg.data.corpus, csv_column=cfg.data.csv_column, json_field=cfg.data.json_field)
        source = saved or self.parent  # a resumed run, or a fine-tuned one, keeps its tokenizer
        tokenizer = saved_tokenizer(source) if source is not None else None
        if cfg.data.token_cache is not None:  # ids in token files on disk, windows read as needed
            return token_cache.prepare(cfg, train_cfg.batch_size, train_cfg.seq_len, tokenizer, self.reporter.progress)
        corpus = load_configured_corpus(cfg.data)
        if corpus.records > 1:
            skipped = f"; {corpus.skipped:,} skipped: no text in them (an empty or missing field, a blank file)" \
                if corpus.skipped else ""
            self.reporter.message(f"corpus: {corpus.records - corpus.skipped:,} documents of {corpus.records:,} read "
                                  f"({len(corpus.train):,} training, {len(corpus.val):,} validation){skipped}")
        if tokenizer is None:
            tokenizer = build_tokenizer(cfg.tokenizer.level, corpus.train, **tokenizer_settings(cfg.tokenizer))
        batches = Batches(tokenizer.encode_documents(corpus.train), train_cfg.batch_size, train_cfg.seq_len)
        val_ids = tokenizer.encode_documents(corpus.val) if corpus.val else np.zeros(0, np.int32)
        self.val_chars = text_size(corpus.val)[0] if corpus.val else None
        return tokenizer, batches, val_ids

    def _build(self) -> None:
        """Model, optimiser, schedule and RNGs as a new run starts them."""
        train_cfg = self.cfg.train
        seeds = np.random.SeedSequence(train_cfg.seed).spawn(2)
        init_rng, self.dropout_rng = np.random.default_rng(seeds[0]), np.random.default_rng(seeds[1])
        self.model = LanguageModel.from_config(self.cfg.model, self.tokenizer.vocab_size)
        self.shards = Shards(self.model, train_cfg.shards)  # the batch cut for the worker threads (nn/shards.py)
        self.params = self.model.init_params(init_rng)
        if self.parent is not None:  # fine-tuning: the parent's weights, a fresh optimiser and schedule
            ckpt.check_arrays(self.parent.path / "model.npz", self.parent.params, self.model.param_shapes())
            self.params = {k: v.astype(np.float32) for k, v in self.parent.params.items()}
        self.optimizer = make_optimizer(train_cfg, self.params)
        self.schedule = LRSchedule(train_cfg.lr_schedule, train_cfg.learning_rate, train_cfg.lr_decay,
                                   train_cfg.warmup_steps, train_cfg.max_steps, train_cfg.lr_decay_steps)
        self.state = self.zero_state()
        self.step, self.epoch, self.window, self.elapsed = 0, 0, 0, 0.0
        self.best_val = self.last_val = None
        self.val_step = None  # the step last_val was measured at: a checkpoint after it is not evaluated
        self.best_train, self.evals_since_best = None, 0  # for divergence detection and early stopping
        self.acc = _new_accumulator()
        self.val_chars_per_token = None  # measured at the first ``bits_per_char``

    def _restore(self, saved: ckpt.Checkpoint, changes: list) -> None:
        """Everything as it was saved; the training-only keys as the new config has them."""
        shapes = lambda arrays: {k: v.shape for k, v in arrays.items()}  # noqa: E731
        ckpt.check_resumable(saved, self.tokenizer.vocab_size, self.model.param_shapes(),
                             shapes(self.model.init_state(self.cfg.train.batch_size)),  # every stream's
                             shapes(self.optimizer.state_arrays()))
        tr = saved.trainer
        try:
            self.params = saved.params
            self.optimizer.load(saved.optimizer_arrays, tr["optimizer"])
            self.schedule.load(tr["lr_schedule"])
            self.dropout_rng.bit_generator.state = tr["rng"]
            self.state = saved.state_arrays
            self.step, self.epoch, self.window, self.elapsed = tr["step"], tr["epoch"], tr["window"], tr["elapsed_s"]
            self.best_val, self.last_val, self.acc = tr["best_val_loss"], tr["last_val_loss"], tr["log_accumulator"]
            self.best_train, self.evals_since_best = tr["best_train_loss"], tr["evals_since_best"]
            self.val_step = tr.get("val_step")  # absent before lstmgen wrote it: unknown
        except (KeyError, TypeError, ValueError) as e:
            raise CheckpointError(f"{saved.path / 'trainer.json'}: missing or malformed entry ({e})") from None
        if self.window >= self.batches.num_windows:
            raise CheckpointError(f"{saved.path / 'trainer.json'}: data position {self.window} is past the end of "
                                  f"the training data ({self.batches.num_windows} windows); has the corpus changed?")
        # training-only keys may change on resume; the schedule follows the new config
        train_cfg, s = self.cfg.train, self.schedule
        s.base_lr, s.lr_decay = train_cfg.learning_rate, train_cfg.lr_decay
        s.warmup_steps, s.max_steps = train_cfg.warmup_steps, train_cfg.max_steps
        s.lr_decay_steps = train_cfg.lr_decay_steps
        for key, old, new in changes:
            self.reporter.message(f"resume: {key} changed from {old!r} to {new!r}")

    def prepare_run_dir(self) -> None:
        """Drop what a stopped run wrote after the checkpoint this one starts from (a new run:
        after none, as when it was killed before its first); then write the human-facing
        copies of the config and vocabulary."""
        ckpt.prune(self.run_dir)  # a folder renamed into place just before a crash, never pointed to
        ckpt.truncate_metrics(self.run_dir, self.step)
        truncate_samples(self.run_dir, self.step)
        ckpt.write_run_files(self.run_dir, self.cfg, self.tokenizer.to_dict())

    # ---- one step -----------------------------------------------------------------------------
    def zero_state(self):
        """The recurrent state every stream starts an epoch with."""
        return self.model.init_state(self.cfg.train.batch_size)

    def get_batch(self):
        """Inputs and targets of this step's window, (T, N) each."""
        return self.batches.window(self.window)

    def forward_backward(self, x, y):
        """Mean loss over the window's targets, its gradients, and how many targets; carries the state."""
        loss, grads, self.state = self.shards.loss_and_grads(self.params, x, y, self.state, self.dropout_rng)
        return loss, grads, y.size

    def reduce(self, loss: float, grads: dict, count: int):
        """Combine what every process computed; one process has nothing to combine."""
        return loss, grads, count

    def train_step(self) -> dict:
        """One update over the next window; returns the step's figures for the reporter."""
        train_cfg = self.cfg.train
        t0 = time.perf_counter()
        # a new epoch starts every stream from its beginning with a zero state
        if self.window == 0:
            self.state = self.zero_state()
        x, y = self.get_batch()
        # forward and backward over one window, combine across processes, clip, update
        lr = self.schedule.lr(self.step)
        loss, grads, count = self.reduce(*self.forward_backward(x, y))
        grad_norm = clip_grad_norm(grads, train_cfg.grad_clip)
        self.check_divergence(loss, grad_norm)
        decay_weights(self.params, lr, train_cfg.weight_decay)  # decoupled: never part of the gradient
        self.optimizer.step(self.params, grads, lr)
        self.step, self.window = self.step + 1, self.window + 1
        if self.window == self.batches.num_windows:
            self.epoch, self.window = self.epoch + 1, 0
        # bookkeeping: running sums for the log
        seconds = time.perf_counter() - t0
        self.elapsed += seconds
        self.acc["loss_sum"] += loss
        self.acc["loss_count"] += 1
        self.acc["tokens"] += count
        self.acc["seconds"] += seconds
        return {"loss": loss, "learning_rate": lr, "tokens_per_s": count / max(seconds, 1e-9), "seconds": seconds}

    # ---- evaluate -----------------------------------------------------------------------------
    def evaluate(self) -> Optional[float]:
        """Mean validation loss (nats per token), or None when there is no validation text."""
        if len(self.val_ids) <= 1:
            return None
        train_cfg = self.cfg.train
        nll, n = evaluate_ids(self.model, self.params, self.val_ids, train_cfg.batch_size, train_cfg.seq_len,
                              shards=train_cfg.shards)
        return nll / n

    def bits_per_char(self, val_loss: Optional[float]) -> Optional[float]:
        """A validation loss (nats per token) in bits per character of the scored text: the
        same on every tokenizer, so runs with different tokenizers compare."""
        if val_loss is None:
            return None
        if self.val_chars_per_token is None:  # every target is scored (``data.eval_windows``)
            chars = self.val_chars  # the original text's, as ``eval`` counts them (``score.text_size``)
            if chars is None:  # the token cache: the characters the target tokens stand for
                chars = int(self.tokenizer.char_lengths()[self.val_ids[1:]].sum())
            self.val_chars_per_token = chars / max(1, len(self.val_ids) - 1)
        return val_loss / math.log(2) / max(self.val_chars_per_token, 1e-12)

    def judge_eval(self, stats: dict) -> list:
        """Evaluate, then follow the validation loss: schedule, best checkpoint, patience.
        Returns the pointers the checkpoint after it gets (``last``, and ``best`` when lower)."""
        pointers = ["last"]
        val = self.evaluate()
        if val is not None:
            self.last_val, self.val_step = val, self.step
            if not np.isfinite(val):
                raise Diverged(self.step, f"validation loss {val}")
            stats["val_loss"], stats["val_bits_per_char"] = val, self.bits_per_char(val)
            if self.schedule.on_eval(val):
                self.reporter.message(f"step {self.step}: validation loss rose; learning rate now "
                                      f"{self.schedule.lr(self.step):.3g}")
        if self.best_val is None or (self.last_val is not None and self.last_val < self.best_val):
            self.best_val = self.last_val
            pointers.append("best")
            self.evals_since_best = 0
        elif self.last_val is not None:
            self.evals_since_best += 1
        # early stopping: train.patience evaluations in a row without a lower validation loss
        patience = self.cfg.train.patience
        if patience is not None and self.evals_since_best >= patience:
            self.early_stopped = True
            self.reporter.message(f"step {self.step}: no lower validation loss in {patience} evaluations "
                                  f"(best {self.best_val:.4f}); stopping early")
        return pointers

    # ---- checkpoint ---------------------------------------------------------------------------
    def _trainer_state(self, keep: bool) -> dict:
        """trainer.json: what a resumed run reads back in ``_restore``, besides the arrays."""
        return {
            "step": self.step, "epoch": self.epoch, "window": self.window, "elapsed_s": self.elapsed,
            "best_val_loss": self.best_val, "last_val_loss": self.last_val,
            "rng": self.dropout_rng.bit_generator.state, "optimizer": self.optimizer.state_dict(),
            "lr_schedule": self.schedule.state_dict(), "log_accumulator": self.acc,
            "best_train_loss": self.best_train, "evals_since_best": self.evals_since_best, "kept": keep,
            "best_val_bits_per_char": self.bits_per_char(self.best_val),
            "last_val_bits_per_char": self.bits_per_char(self.last_val), "val_step": self.val_step,
        }

    def save(self, pointers: list, keep: bool = False) -> Path:
        """Checkpoint the run as it is now and point ``pointers`` at it."""
        self.last_path = ckpt.save_checkpoint(
            self.run_dir, pointers, step=self.step, params=self.params,
            optimizer_arrays=self.optimizer.state_arrays(), state_arrays=self.state,
            trainer=self._trainer_state(keep), cfg=self.cfg, tokenizer_dict=self.tokenizer.to_dict())
        return self.last_path

    # ---- log ----------------------------------------------------------------------------------
    def log(self, stats: dict) -> None:
        """One line of metrics.jsonl: averages since the last line, then start new sums."""
        acc = self.acc
        record = {"step": self.step, "epoch": round(self.epoch + self.window / self.batches.num_windows, 4),
                  "train_loss": acc["loss_sum"] / max(1, acc["loss_count"]),
                  "val_loss": stats.get("val_loss"), "val_bits_per_char": stats.get("val_bits_per_char"),
                  "learning_rate": stats["learning_rate"],
                  "tokens_per_s": acc["tokens"] / max(acc["seconds"], 1e-9), "elapsed_s": round(self.elapsed, 3)}
        with open(ckpt.metrics_path(self.run_dir), "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        self.acc = _new_accumulator()

    def sample(self) -> None:
        """A short sample, shown and appended to samples.jsonl."""
        text = training_sample(self.model, self.params, self.tokenizer, self.cfg.train.seed, self.step)
        write_sample(self.run_dir, self.step, text)
        self.reporter.message(f"sample at step {self.step}: {json.dumps(text, ensure_ascii=False)}")

    def _start_info(self) -> dict:
        b = self.batches
        return {"step": self.step, "total_steps": self.total_steps, "num_params": self.model.num_params(),
                "vocab_size": self.tokenizer.vocab_size, "train_tokens": b.num_windows * b.tokens_per_window,
                "val_tokens": int(len(self.val_ids)), "windows_per_epoch": b.num_windows,
                "config": dump_config(self.cfg), "config_differences": differences(self.cfg),
                "resumed": self.resumed, "last_val_loss": self.last_val,
                "last_val_bits_per_char": self.bits_per_char(self.last_val),
                "threads": f"{self.threads} ({self.threads_why}" + ("; adapts to load)" if self.adaptive_threads else ")")}

    def _notes(self) -> None:
        """What the user should know before the first step: a parent run, flattering <unk>s."""
        if self.parent is not None:
            self.reporter.message(f"fine-tuning from {self.cfg.train.init_from} ({self.parent.path.name}): its "
                                  "weights, model and tokenizer; a fresh optimiser and schedule")
        unknown = int(np.count_nonzero(self.val_ids == self.tokenizer.unk_id))
        if unknown:  # <unk> stands for many rare tokens at once, and is easy to predict
            self.reporter.message(f"note: {unknown:,} of {len(self.val_ids):,} validation tokens are <unk> (text "
                                  "outside the vocabulary); they make the validation loss look lower than it is")

    # ---- stop rules ---------------------------------------------------------------------------
    def should_stop(self) -> bool:
        """The last step is done, Ctrl-C was pressed, or patience ran out."""
        return self.step >= self.total_steps or self.interrupted() or self.early_stopped

    def interrupted(self) -> bool:
        """Ctrl-C or SIGTERM: finish the step, save, return."""
        return self.stop_flag.set

    def check_divergence(self, loss: float, grad_norm: float) -> None:
        """A NaN, infinite or exploding loss never reaches the weights: ``guard()`` rolls back."""
        threshold = self.cfg.train.divergence_threshold
        if not (np.isfinite(loss) and np.isfinite(grad_norm)):
            raise Diverged(self.step + 1, f"training loss {loss:.4g}, gradient norm {grad_norm:.4g}")
        if threshold > 0 and self.best_train is not None and loss > threshold * self.best_train:
            raise Diverged(self.step + 1, f"training loss {loss:.4g} is above train.divergence_threshold "
                                          f"{threshold:g} x the lowest so far ({self.best_train:.4g})")
        self.best_train = loss if self.best_train is None else min(self.best_train, loss)

    # ---- the loop -----------------------------------------------------------------------------
    def run(self) -> TrainResult:
        train_cfg = self.cfg.train
        first_step = self.step
        self.reporter.start(self._start_info())
        self._notes()
        if not self.resumed:  # step 0: something to resume from, and to roll back to
            self.save(["last"])
        governor = (threads.Governor(self.threads, threads.usable_cores(), shards=train_cfg.shards)
                    if self.adaptive_threads else None)
        with _StopFlag() as self.stop_flag, threads.thread_budget(self.threads, train_cfg.shards):
            while not self.should_stop():
                # one step: forward, backward, reduce, clip, update
                stats = self.train_step()
                # threads: keep the faster count as the machine's load changes
                if governor is not None and (change := governor.step_done(stats["seconds"])):
                    self.reporter.message(f"step {self.step}: {change}")
                # evaluate every eval_interval steps and at the very end
                evaluated = self.step % train_cfg.eval_interval == 0 or self.step == self.total_steps
                pointers = self.judge_eval(stats) if evaluated else ["last"]
                # log running averages every log_interval steps and after each evaluation
                if evaluated or self.step % train_cfg.log_interval == 0:
                    self.log(stats)
                # checkpoint after each evaluation, and keep one every keep_every steps
                keep = train_cfg.keep_every is not None and self.step % train_cfg.keep_every == 0
                if evaluated or keep:
                    self.save(pointers, keep=keep)
                # a short sample now and then, so users watch the model learn
                if train_cfg.sample_interval and self.step % train_cfg.sample_interval == 0:
                    self.sample()
                self.reporter.update(self.step, stats)
            # Ctrl-C: save where the loop stopped; --resume continues from there
            if self.interrupted():
                self.save(["last"])
        self.reporter.close()
        if self.last_path is None:  # nothing to do (resumed a finished run)
            self.last_path = ckpt.find_checkpoint(self.run_dir, "last")
        return TrainResult(self.run_dir, self.step, self.epoch, self.last_val, self.best_val, self.last_path,
                           self.interrupted(), self.early_stopped, self.bits_per_char(self.last_val),
                           self.bits_per_char(self.best_val), first_step)


@guard  # the run-directory lock, and rollback on divergence
def train(cfg: Config, run_dir, *, resume: bool = False, reporter: Optional[Reporter] = None,
          trainer_class: type = Trainer, comm=None) -> TrainResult:
    """Train ``cfg`` into ``run_dir`` (a new run, or with ``resume`` the run there continued).

    ``comm`` (``distributed.world()``) with more than one process: this process is one rank of
    a data-parallel run (``data_parallel.DataParallelTrainer``)."""
    if comm is not None and comm.size > 1:
        from ..parallel.trainer import DataParallelTrainer

        return DataParallelTrainer(cfg, run_dir, resume=resume, reporter=reporter, comm=comm).run()
    return trainer_class(cfg, run_dir, resume=resume, reporter=reporter).run()
