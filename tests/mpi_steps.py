"""A few data-parallel training steps of a float64 model, the way the training loop takes them
(for test_distributed.py): this rank's streams forward and backward with the whole batch's
dropout masks, one all-reduce, then clipping, weight decay and Adam on every rank.

    mpiexec -n P python -m mpi4py tests/mpi_steps.py OUT.npz

Rank 0 writes the final weights to OUT.npz; ``run_steps(SingleProcess())`` is the one-process run.
"""

import sys

import numpy as np

from lstmgen.parallel.comm import GradientReducer, local_state, stream_slice, world
from lstmgen.nn.model import LanguageModel
from lstmgen.training.optim import Adam, clip_grad_norm, decay_weights

T, N, V, STEPS = 6, 12, 13, 20


def run_steps(comm):
    model = LanguageModel("lstm", V, embed_dim=5, hidden_size=8, num_layers=2, dropout=0.3, dtype=np.float64,
                          embed_dropout=0.1, input_dropout=0.2, hidden_dropout=0.1, output_dropout=0.2)
    params = model.init_params(np.random.default_rng(0))
    data_rng, dropout_rng = np.random.default_rng(1), np.random.default_rng(2)
    streams = stream_slice(N, comm.size, comm.rank)
    state = local_state(model.init_state(N), streams)
    optimizer, reduce = Adam(params), GradientReducer(comm, model.param_shapes(), model.dtype)
    for _ in range(STEPS):
        x, y = data_rng.integers(0, V, (T, N)), data_rng.integers(0, V, (T, N))  # the same on every rank
        loss, grads, state = model.loss_and_grads(params, x, y, state, dropout_rng, streams=streams)
        loss, grads, _, _ = reduce(loss, grads, T * (streams.stop - streams.start), False)
        clip_grad_norm(grads, 0.5)  # small: clipping is active
        decay_weights(params, 1e-2, 0.1)
        optimizer.step(params, grads, 1e-2)
    return params


if __name__ == "__main__":
    comm = world()
    params = run_steps(comm)
    if comm.rank == 0:
        np.savez(sys.argv[1], **params)
