"""The trainer in lockstep with a reference loop built from the same parts (issue 12).

``lstmgen train`` must cost no quality beyond its parts: from the same initial weights and
the same windows, the trainer and a plain loop of ``Shards.loss_and_grads`` (the model's step
cut as train.shards cuts it), ``clip_grad_norm`` and ``Adam`` (epoch by epoch over
``data.Batches``, the state carried between windows and reset to zero at each epoch) must give
the same loss at every step and the same final weights. The trainer is read only through its
public outputs (metrics.jsonl with ``train.log_interval: 1``, the last checkpoint), so the test
holds however train.py is organised inside. The run crosses an epoch boundary and clips often,
so losing the state reset or the clipping shows up; the PyTorch-default initialisation is
checked too.
"""

import json

import numpy as np
import pytest

from lstmgen.runs.checkpoint import read_checkpoint
from lstmgen.runs.config import load_config
from lstmgen.data.corpus import load_configured_corpus
from lstmgen.data.batches import Batches
from lstmgen.nn.model import LanguageModel
from lstmgen.nn.shards import Shards
from lstmgen.training.optim import clip_grad_norm, make_optimizer
from lstmgen.tokenizers import build_tokenizer, tokenizer_settings
from lstmgen.training.trainer import train

from tests.helpers import write_corpus

STEPS = 40


def config(corpus, cell, init):
    return load_config(None, [
        f"data.corpus={corpus}", "data.val_fraction=0", f"model.cell={cell}", f"model.init={init}",
        "model.embed_dim=8", "model.hidden_size=16", "model.num_layers=2", "model.dropout=0",
        "train.batch_size=8", "train.seq_len=24", "train.learning_rate=0.01", "train.lr_schedule=constant",
        "train.grad_clip=0.2", f"train.max_steps={STEPS}", f"train.eval_interval={STEPS}", "train.log_interval=1",
        "train.seed=7",
    ])


def reference_loop(cfg, reset_each_epoch=True):
    """The same training from the parts: -> per-step losses, final params, windows per epoch."""
    t = cfg.train
    corpus = load_configured_corpus(cfg.data)
    tokenizer = build_tokenizer(cfg.tokenizer.level, corpus.train, **tokenizer_settings(cfg.tokenizer))
    batches = Batches(tokenizer.encode_documents(corpus.train), t.batch_size, t.seq_len)
    init_seed = np.random.SeedSequence(t.seed).spawn(2)[0]  # the trainer's seed of initialisation
    model = LanguageModel.from_config(cfg.model, tokenizer.vocab_size)
    params = model.init_params(np.random.default_rng(init_seed))
    optimizer = make_optimizer(t, params)
    shards = Shards(model, t.shards)
    losses, clipped = [], 0
    for step in range(t.max_steps):
        window = step % batches.num_windows
        if step == 0 or (window == 0 and reset_each_epoch):
            state = model.init_state(t.batch_size)  # each epoch from a zero state
        x, y = batches.window(window)
        loss, grads, state = shards.loss_and_grads(params, x, y, state)
        clipped += clip_grad_norm(grads, t.grad_clip) > t.grad_clip
        optimizer.step(params, grads, t.learning_rate)
        losses.append(float(loss))
    assert clipped >= t.max_steps // 4  # the clipping is exercised
    return losses, params, batches.num_windows


@pytest.mark.parametrize("cell, init", [("lstm", "pytorch"), ("lstm", "uniform"), ("gru_cudnn", "pytorch")])
def test_trainer_matches_the_reference_loop(tmp_path, cell, init):
    cfg = config(write_corpus(tmp_path / "corpus.txt"), cell, init)
    train(cfg, tmp_path / "run")
    metrics = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    trainer_losses = [m["train_loss"] for m in metrics]
    assert [m["step"] for m in metrics] == list(range(1, STEPS + 1))

    losses, params, windows = reference_loop(cfg)
    assert windows < STEPS  # the run crosses an epoch boundary
    np.testing.assert_allclose(trainer_losses, losses, rtol=1e-6, atol=0)
    saved = read_checkpoint(tmp_path / "run", "last", with_training_state=False)
    assert saved.params.keys() == params.keys()
    for key in params:
        np.testing.assert_allclose(saved.params[key], params[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_the_reference_notices_a_missing_state_reset(tmp_path):
    """The comparison can fail: carrying the state across the epoch boundary changes the losses."""
    cfg = config(write_corpus(tmp_path / "corpus.txt"), "lstm", "pytorch")
    losses, _, windows = reference_loop(cfg)
    carried, _, _ = reference_loop(cfg, reset_each_epoch=False)
    assert carried[:windows] == losses[:windows]
    assert carried[windows] != losses[windows]
