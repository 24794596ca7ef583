"""The Trainer's step hook: a subclass sees every step's loss, gradients and target count
between backward and clipping, and what its reduce() returns is what updates the weights."""

import numpy as np

from lstmgen.runs.config import load_config
from lstmgen.training.trainer import Trainer, train
from tests.helpers import TINY, assert_same_weights, weights

SETS = ["train.max_steps=5", "train.eval_interval=5", "train.optimizer=sgd", "train.learning_rate=0.5"]


def config(text_file, *sets):
    return load_config(TINY, [f"data.corpus={text_file}", *SETS, *sets])


class Recording(Trainer):
    """Keeps what reaches reduce() and passes it on unchanged."""

    seen = []

    def reduce(self, loss, grads, count):
        Recording.seen.append((self.step, loss, sorted(grads), count))
        return super().reduce(loss, grads, count)


class Frozen(Trainer):
    """Combines every gradient into zero: nothing may move the weights."""

    def reduce(self, loss, grads, count):
        return loss, {k: np.zeros_like(g) for k, g in grads.items()}, count


def test_reduce_sees_every_step_and_an_identity_reduce_changes_nothing(tmp_path, text_file):
    cfg = config(text_file)
    Recording.seen = []
    hooked = train(cfg, tmp_path / "hooked", trainer_class=Recording)
    plain = train(cfg, tmp_path / "plain")
    assert [s for s, *_ in Recording.seen] == [0, 1, 2, 3, 4]  # before the step counter moves
    t = cfg.train
    assert all(count == t.batch_size * t.seq_len and np.isfinite(loss) for _, loss, _, count in Recording.seen)
    assert all(keys == sorted(weights(tmp_path / "plain")) for _, _, keys, _ in Recording.seen)
    assert hooked.last_val_loss == plain.last_val_loss
    assert_same_weights(weights(tmp_path / "hooked"), weights(tmp_path / "plain"))


def test_what_reduce_returns_is_what_updates_the_weights(tmp_path, text_file):
    frozen = tmp_path / "frozen"
    train(config(text_file, "train.weight_decay=0"), frozen, trainer_class=Frozen)
    initial = Trainer(config(text_file), tmp_path / "fresh").params  # built, not run
    assert_same_weights(weights(frozen, "last"), initial)
