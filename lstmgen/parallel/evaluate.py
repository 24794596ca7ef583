"""``lstmgen eval --procs P``: one evaluation over P ranks. Rank 0 reads the run and the text
and sends the others the model and the ids; each rank scores its share of the streams
(``evaluate_ids(..., part=(rank, P))``); the sums over the ranks give rank 0 the figures of
one process."""

from typing import Optional

import numpy as np

from ..evaluation import evaluate as one_process
from ..evaluation.evaluate import eval_report, evaluate_ids, read_eval_text
from .share import bcast_model


def evaluate_run(run_dir, corpus: Optional[str] = None, *, which: str = "best", csv_column=None,
                 batch_size: Optional[int] = None, comm=None) -> Optional[dict]:
    """``evaluation.evaluate.evaluate_run`` on the ranks of ``comm`` (``comm.world()``): rank 0
    returns the figures, the others None."""
    if comm is None or comm.size == 1:
        return one_process.evaluate_run(run_dir, corpus, which=which, csv_column=csv_column, batch_size=batch_size)
    root = comm.rank == 0
    text = read_eval_text(run_dir, corpus, which=which, csv_column=csv_column, batch_size=batch_size) if root else None
    model, params = bcast_model(comm, text.run if root else None)
    ids = comm.bcast_array(text.ids if root else None)
    N, T, shards = comm.bcast_json([text.batch_size, text.seq_len, text.run.config.train.shards] if root else None)
    nll, tokens = evaluate_ids(model, params, ids, N, T, (comm.rank, comm.size), shards=shards)
    nll, tokens = comm.allreduce_(np.array([nll, tokens], np.float64))
    return eval_report(run_dir, text, nll, int(tokens)) if root else None
