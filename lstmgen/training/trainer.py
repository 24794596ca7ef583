"""The training loop: truncated BPTT over N parallel streams, evaluation, checkpoints, resume.

``train(cfg, run_dir)`` builds a ``Trainer`` and runs it: it reads the corpus, builds (or, with
``resume=True``, reloads) the tokenizer, model, optimiser and schedule, then loops. A resumed
run continues exactly as if it had never stopped: the checkpoint holds weights, optimiser
moments, step, epoch, window, the carried recurrent state, the dropout RNG and the schedule.

How the ``Trainer`` is laid out (each piece a short method; ``run`` is the loop):

    restore or start   __init__, _open_run, _load_data, _build, _restore
    one step           train_step: get_batch -> forward_backward -> reduce -> clip -> update
    evaluate           evaluate (the validation loss), judge_eval (best, schedule, patience)
    checkpoint         save, _trainer_state (what trainer.json holds: state.py)
    log                log (metrics.jsonl), sample (samples.jsonl)
    stop rules         should_stop, interrupted, out_of_time, check_divergence, patience in judge_eval

Data-parallel training (a subclass, ``train(..., trainer_class=)``) overrides the hooks
``get_batch``, ``zero_state``, ``forward_backward``, ``reduce`` (between backward and clipping:
the all-reduce), ``evaluate``, ``budget_seconds`` and ``out_of_time`` (the time budget's clock
and verdict, which every process must share): docs/training-internals.md has the contract and
how the time budget (``train.max_time``) is counted.

Progress goes to a ``Reporter`` (the CLI's is a tqdm bar); this module never prints.
"""

import json
import time
from pathlib import Path
from typing import Optional

import numpy as np

from ..runs import checkpoint as ckpt
from ..runs import resume as resume_checks
from . import threads
from ..data import token_cache
from ..runs.config import Config, differences, dump_config, duration_seconds, duration_text
from ..data.corpus import check_format_options, load_configured_corpus
from ..data.batches import Batches
from ..errors import ConfigError
from ..evaluation.evaluate import evaluate_ids
from .state import restore_state, trainer_state
from .rollback import Diverged, lowest_loss, rollback_on_divergence
from ..runs.loading import saved_tokenizer
from ..runs.lock import holding_run_lock
from ..nn.model import LanguageModel
from ..nn.shards import Shards
from .optim import LRSchedule, clip_grad_norm, decay_weights, make_optimizer
from ..evaluation.metrics import bits_per_char, text_size
from ..tokenizers import build_tokenizer, tokenizer_settings
from .reporting import Reporter, StopFlag, TrainResult, new_accumulator
from .samples import training_sample, truncate_samples, write_sample


class Trainer:
    """One training run in ``run_dir``: built ready to loop (fresh, or restored), then ``run()``."""

    # ---- restore or start ---------------------------------------------------------------------
    def __init__(self, cfg: Config, run_dir, *, resume: bool = False, reporter: Optional[Reporter] = None):
        self.t0 = time.perf_counter()  # the time budget counts from here: reading the corpus is part of it
        self.cfg, self.run_dir = cfg, Path(run_dir)
        self.max_time = duration_seconds(cfg.train.max_time)  # seconds, or None
        self.reporter = reporter or Reporter()
        saved, changes = self._open_run(resume)
        self.resumed = saved is not None
        self.val_chars = None  # characters of the validation text, where its documents are read
        self.tokenizer, self.batches, self.val_ids = self._load_data(saved)
        if len(self.val_ids):  # read as eval and score read a text: from a start <eod>
            self.val_ids = self.tokenizer.after_eod(self.val_ids)
        self._build()
        if saved is not None:
            self._restore(saved, changes)
        self.prepare_run_dir()
        train_cfg = cfg.train
        self.total_steps = train_cfg.max_steps if train_cfg.max_steps is not None else 10**18
        if train_cfg.max_epochs is not None:
            self.total_steps = min(self.total_steps, int(np.ceil(train_cfg.max_epochs * self.batches.num_windows)))
        self.last_path = None  # the checkpoint written last
        self.early_stopped = self.time_up = False
        # threads: as many as cores are free now, then the faster of 1 and all (``threads.Governor``)
        self.threads, self.adaptive_threads, self.threads_why = threads.resolve(train_cfg.threads)

    def _open_run(self, resume: bool):
        """The checkpoint to resume from (None for a new run) and the config changes it allows;
        a fine-tuned run (``train.init_from``) also opens its parent's checkpoint."""
        self.parent = None
        if resume:
            saved = ckpt.read_checkpoint(self.run_dir, "last")
            return saved, resume_checks.check_resume_config(saved.config, self.cfg)
        if ckpt.has_checkpoint(self.run_dir):
            raise ConfigError(
                f"'{self.run_dir}' already holds a training run; continue it with --resume, or choose another --out"
            )
        if self.cfg.train.init_from is not None:
            self.parent = resume_checks.read_parent(self.cfg.train.init_from, self.cfg)
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
                                   train_cfg.warmup_steps, train_cfg.max_steps, train_cfg.lr_decay_steps,
                                   warmup_fraction=train_cfg.warmup_fraction, final_lr_ratio=train_cfg.final_lr_ratio,
                                   max_time=self.max_time)
        self.state = self.zero_state()
        self.step, self.epoch, self.window, self.elapsed = 0, 0, 0, 0.0
        self.wall_before = 0.0  # wall-clock seconds of the earlier calls of a resumed run, up to its checkpoint
        self.eval_seconds = 0.0  # the last evaluation and checkpoint took this long: the time budget keeps it free
        self.best_val = self.last_val = None
        self.val_step = None  # the step last_val was measured at: a checkpoint after it is not evaluated
        self.best_train, self.evals_since_best = None, 0  # for divergence detection and early stopping
        self.acc = new_accumulator()
        self.val_chars_per_token = None  # measured at the first ``bits_per_char``

    def _restore(self, saved: ckpt.Checkpoint, changes: list) -> None:
        """Everything as it was saved; the training-only keys as the new config has them."""
        restore_state(self, saved, changes)

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
        lr = self.schedule.lr(self.step, self.budget_seconds())
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
                              max_targets=train_cfg.eval_tokens, shards=train_cfg.shards)
        return nll / n

    def bits_per_char(self, val_loss: Optional[float]) -> Optional[float]:
        """A validation loss (nats per token) in bits per character of the scored text: the
        same on every tokenizer, so runs with different tokenizers compare."""
        if val_loss is None:
            return None
        if self.val_chars_per_token is None:  # every target is scored (``data.eval_windows``)
            chars = self.val_chars  # the original text's, as ``eval`` counts them (``metrics.text_size``)
            if chars is None:  # the token cache: the characters the target tokens stand for
                chars = int(self.tokenizer.char_lengths()[self.val_ids[1:]].sum())
            self.val_chars_per_token = chars / max(1, len(self.val_ids) - 1)
        return bits_per_char(val_loss, max(self.val_chars_per_token, 1e-12))

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
        return trainer_state(self, keep)

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
                  "tokens_per_s": acc["tokens"] / max(acc["seconds"], 1e-9), "elapsed_s": round(self.elapsed, 3),
                  "wall_s": round(self.wall(), 3)}
        with open(ckpt.metrics_path(self.run_dir), "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        self.acc = new_accumulator()

    def sample(self) -> None:
        """A short sample, shown and appended to samples.jsonl."""
        text = training_sample(self.model, self.params, self.tokenizer, self.cfg.train.seed, self.step)
        write_sample(self.run_dir, self.step, text)
        self.reporter.message(f"sample at step {self.step}: {json.dumps(text, ensure_ascii=False)}")

    def _start_info(self) -> dict:
        batches = self.batches
        return {"step": self.step, "total_steps": self.total_steps, "num_params": self.model.num_params(),
                "vocab_size": self.tokenizer.vocab_size,
                "train_tokens": batches.num_windows * batches.tokens_per_window,
                "val_tokens": int(len(self.val_ids)), "windows_per_epoch": batches.num_windows,
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
        """The last step is done, the time is up, Ctrl-C was pressed, or patience ran out."""
        return self.step >= self.total_steps or self.time_up or self.interrupted() or self.early_stopped

    def wall(self) -> float:
        """Wall-clock seconds this run has trained, every call of it together (the time budget's clock)."""
        return self.wall_before + time.perf_counter() - self.t0

    def budget_seconds(self) -> float:
        """The time budget's clock for the learning-rate schedule (0 without a budget: nothing reads it)."""
        return self.wall() if self.max_time is not None else 0.0

    def out_of_time(self, step_seconds: float) -> bool:
        """One more step and the closing evaluation and checkpoint would not fit in train.max_time."""
        return self.max_time is not None and self.wall() + step_seconds + self.eval_seconds >= self.max_time

    def interrupted(self) -> bool:
        """Ctrl-C or SIGTERM: finish the step, save, return."""
        return self.stop_flag.set

    def check_divergence(self, loss: float, grad_norm: float) -> None:
        """A NaN, infinite or exploding loss never reaches the weights: ``rollback_on_divergence`` rolls back."""
        self.best_train = lowest_loss(self.step + 1, loss, grad_norm, self.best_train,
                                      self.cfg.train.divergence_threshold)

    # ---- the loop -----------------------------------------------------------------------------
    def run(self) -> TrainResult:
        train_cfg = self.cfg.train
        first_step = self.step
        self.reporter.start(self._start_info())
        self._notes()
        self.time_up = self.resumed and self.out_of_time(0.0)  # a resumed run's time is spent (a new one steps)
        if not self.resumed:  # step 0: something to resume from, and to roll back to
            start = time.perf_counter()
            self.save(["last"])
            self.eval_seconds = time.perf_counter() - start  # the time budget's reserve until an evaluation is timed
        governor = (threads.Governor(self.threads, threads.usable_cores(), shards=train_cfg.shards)
                    if self.adaptive_threads else None)
        with StopFlag() as self.stop_flag, threads.thread_budget(self.threads, train_cfg.shards):
            while not self.should_stop():
                # one step: forward, backward, reduce, clip, update
                stats = self.train_step()
                # threads: keep the faster count as the machine's load changes
                if governor is not None and (change := governor.step_done(stats["seconds"])):
                    self.reporter.message(f"step {self.step}: {change}")
                # the time budget: stop after this step when another and the closing evaluation would not fit
                self.time_up = self.out_of_time(stats["seconds"])
                # evaluate every eval_interval steps and at the very end
                evaluated = self.step % train_cfg.eval_interval == 0 or self.step == self.total_steps or self.time_up
                eval_start = time.perf_counter()
                pointers = self.judge_eval(stats) if evaluated else ["last"]
                # log running averages every log_interval steps and after each evaluation
                if evaluated or self.step % train_cfg.log_interval == 0:
                    self.log(stats)
                # checkpoint after each evaluation, and keep one every keep_every steps
                keep = train_cfg.keep_every is not None and self.step % train_cfg.keep_every == 0
                if evaluated or keep:
                    self.save(pointers, keep=keep)
                if evaluated:
                    self.eval_seconds = time.perf_counter() - eval_start
                if self.time_up:
                    self.reporter.message(f"time budget of {duration_text(train_cfg.max_time)} reached at step "
                                          f"{self.step:,}")
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
                           self.bits_per_char(self.best_val), first_step, self.time_up)


@holding_run_lock  # one train at a time in run_dir (runs/lock.py)
@rollback_on_divergence  # back to the last checkpoint with a lower learning rate (rollback.py)
def train(cfg: Config, run_dir, *, resume: bool = False, reporter: Optional[Reporter] = None,
          trainer_class: type = Trainer, **trainer_options) -> TrainResult:
    """Train ``cfg`` into ``run_dir`` (a new run, or with ``resume`` the run there continued).

    ``trainer_class`` and ``trainer_options``: another trainer, e.g. one rank of a
    data-parallel run (``parallel.trainer.train`` passes its trainer and ``comm``)."""
    return trainer_class(cfg, run_dir, resume=resume, reporter=reporter, **trainer_options).run()
