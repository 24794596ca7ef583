"""One rank of a data-parallel training run: the ``Trainer`` with its streams, its share and a reduce.

``train(cfg, run_dir, comm=world())`` runs a ``DataParallelTrainer`` on each of P ranks
(``distributed.py`` has the picture of the stream split and the communicators). What each
hook of the step (``train.py``) does here:

    _open_run          rank 0 opens the checkpoint it resumes (or fine-tunes) and sends it, or
                       says there is none to resume (``runs/lock.py``)
    get_batch          rank 0 reads the window; every rank gets the whole (T, N) window
    forward_backward   this rank's N_r streams, cut into train.shards shards for its threads
                       (nn/shards.py); masks drawn for all N and cut; the loss and gradients
                       are the streams' share of the batch's mean (already x N_r/N), the
                       gradients written straight into the reducer's flat buffer
    reduce             one sum over the ranks of that buffer: the gradients, the loss, the
                       targets and the stop flag; then clipping, weight decay and the optimiser
                       run on every rank on the same numbers (weights stay bitwise identical)
    evaluate           each rank scores its share of the validation streams; sums all-reduced
    interrupted        Ctrl-C or SIGTERM on any rank, as the last all-reduce carried it, so
                       that every rank stops after the same step

Rank 0 alone reads the config, corpus and checkpoints (the others receive them) and writes
the run directory: checkpoints (with the carried state of all N streams, gathered, so any P
can resume them), metrics, samples and the run files. Its reporter is the only one that speaks.
"""

from pathlib import Path

import numpy as np

from ..evaluation.evaluate import evaluate_ids
from ..runs.checkpoint import checkpoint_name
from ..tokenizers import tokenizer_from_dict
from ..training.reporting import new_accumulator
from ..training.trainer import Trainer
from ..training.trainer import train as train_one_process
from .comm import GradientReducer, SharedBatches, SharedWindowSum, gather_state, local_state, stream_slice
from .share import bcast_checkpoint


class DataParallelTrainer(Trainer):
    def __init__(self, cfg, run_dir, *, resume: bool = False, reporter=None, comm):
        self.comm, self.is_root = comm, comm.rank == 0
        self.streams = stream_slice(cfg.train.batch_size, comm.size, comm.rank)  # (N_r of them)
        self.agreed_stop = False  # the stop flag of every rank, as the last all-reduce summed it
        super().__init__(cfg, run_dir, resume=resume, reporter=reporter)
        self.reducer = GradientReducer(comm, self.model.param_shapes(), self.model.dtype)
        if not self.is_root and self.resumed:
            self.last_path = self._checkpoint_name()

    # ---- restore or start: rank 0 reads, the others receive --------------------------------------
    def _open_run(self, resume: bool):
        self.parent = None
        resume = self.comm.bcast_json(resume if self.is_root else None)  # rank 0 may have found nothing to resume
        saved, changes = super()._open_run(resume) if self.is_root else (None, [])
        if self.comm.bcast_json(self.parent is not None if self.is_root else None):  # fine-tuning: its weights
            self.parent = bcast_checkpoint(self.comm, self.parent)
        return (bcast_checkpoint(self.comm, saved) if resume else None), changes

    def _load_data(self, saved):
        tokenizer, batches, val_ids = super()._load_data(saved) if self.is_root else (None, None, None)
        tokenizer = tokenizer_from_dict(self.comm.bcast_json(tokenizer.to_dict() if self.is_root else None))
        val_ids = self.comm.bcast_array(np.asarray(val_ids) if self.is_root else None)
        return tokenizer, SharedBatches(self.comm, batches), val_ids

    def _restore(self, saved, changes: list) -> None:
        super()._restore(saved, changes)
        self.state = local_state(self.state, self.streams)  # all N streams saved; this rank's kept

    def prepare_run_dir(self) -> None:
        if self.is_root:
            super().prepare_run_dir()

    # ---- one step -----------------------------------------------------------------------------
    def zero_state(self):
        return self.model.init_state(self.streams.stop - self.streams.start)

    def forward_backward(self, x, y):
        """This rank's share of the whole batch's mean loss and gradients, and its targets."""
        loss, grads, self.state = self.shards.loss_and_grads(self.params, x, y, self.state, self.dropout_rng,
                                                             streams=self.streams, out=self.reducer.gradients)
        return loss, grads, x.shape[0] * (self.streams.stop - self.streams.start)

    def reduce(self, loss: float, grads: dict, count: int):
        loss, grads, count, self.agreed_stop = self.reducer(loss, grads, count, self.stop_flag.set)
        return loss, grads, count

    def train_step(self) -> dict:
        stats = super().train_step()
        stats["allreduce_s"] = self.reducer.seconds
        return stats

    def interrupted(self) -> bool:
        return self.agreed_stop

    def budget_seconds(self) -> float:
        """Rank 0's clock, so that every rank computes the same learning rate."""
        if self.max_time is None:
            return 0.0
        return self.comm.bcast_json(super().budget_seconds() if self.is_root else None)

    def out_of_time(self, step_seconds: float) -> bool:
        """Rank 0's verdict, so that every rank stops after the same step."""
        if self.max_time is None:
            return False
        return self.comm.bcast_json(super().out_of_time(step_seconds) if self.is_root else None)

    def _start_info(self) -> dict:
        shared = isinstance(self.reducer.summer, SharedWindowSum)
        return {**super()._start_info(),
                "processes": f"{self.comm.size} (MPI), {self.streams.stop - self.streams.start} of the "
                             f"{self.cfg.train.batch_size} streams each; gradients summed "
                             + ("in shared memory (one machine)" if shared else "by MPI's all-reduce")}

    # ---- evaluate -----------------------------------------------------------------------------
    def evaluate(self):
        if len(self.val_ids) <= 1:
            return None
        train_cfg, comm = self.cfg.train, self.comm
        sums = evaluate_ids(self.model, self.params, self.val_ids, train_cfg.batch_size, train_cfg.seq_len,
                            (comm.rank, comm.size), train_cfg.eval_tokens, shards=train_cfg.shards)
        nll, n = comm.allreduce_(np.array(sums, np.float64))
        return nll / n

    # ---- what rank 0 alone writes -------------------------------------------------------------------
    def _checkpoint_name(self) -> Path:
        return self.run_dir / "checkpoints" / checkpoint_name(self.step)  # where rank 0 saves it

    def save(self, pointers: list, keep: bool = False) -> Path:
        """Every rank sends its streams' carried state; rank 0 saves the checkpoint."""
        state, self.state = self.state, gather_state(self.comm, self.state)
        try:
            if self.is_root:
                return super().save(pointers, keep)
            self.last_path = self._checkpoint_name()
            return self.last_path
        finally:
            self.state = state

    def log(self, stats: dict) -> None:
        if self.is_root:
            super().log(stats)
        self.acc = new_accumulator()

    def sample(self) -> None:
        if self.is_root:
            super().sample()


def train(cfg, run_dir, *, resume: bool = False, reporter=None, comm=None):
    """``training.trainer.train``, with this process as one rank of ``comm`` (``comm.world()``)
    when that holds more than one: a data-parallel run (``DataParallelTrainer``)."""
    if comm is None or comm.size == 1:
        return train_one_process(cfg, run_dir, resume=resume, reporter=reporter)
    return train_one_process(cfg, run_dir, resume=resume, reporter=reporter, trainer_class=DataParallelTrainer,
                             comm=comm)
