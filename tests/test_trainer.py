"""The Trainer's step hook: a subclass sees every step's loss, gradients and target count
between backward and clipping, and what its reduce() returns is what updates the weights."""

import json

import numpy as np

from lstmgen.runs.config import load_config
from lstmgen.runs import checkpoint as ckpt
from lstmgen.training import trainer as trainer_module
from lstmgen.training.trainer import Reporter, Trainer, train
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


# ---- the time budget (train.max_time), on a clock that ticks 10 ms at every reading ----------------
class TickingClock:
    """``time.perf_counter`` for the trainer: each reading 0.01 s after the last, so that a time
    budget ends at the same step every time, however fast the machine."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        self.now += 0.01
        return self.now


class Listening(Reporter):
    def __init__(self):
        self.messages = []

    def message(self, text):
        self.messages.append(text)


def budgeted(text_file, max_time):
    return config(text_file, "train.max_steps=null", f"train.max_time={max_time}", "train.eval_interval=1000")


def test_a_time_budget_stops_with_an_evaluated_checkpoint_and_says_so(tmp_path, text_file, monkeypatch):
    monkeypatch.setattr(trainer_module, "time", TickingClock())
    heard = Listening()
    result = train(budgeted(text_file, "1s"), tmp_path / "run", reporter=heard)
    assert result.time_up and result.step > 1 and result.last_val_loss is not None
    last = ckpt.read_checkpoint(tmp_path / "run", "last")
    assert ckpt.find_checkpoint(tmp_path / "run", "best") == last.path  # best is current
    assert last.trainer["val_step"] == last.trainer["step"] == result.step
    assert last.trainer["max_time_s"] == 1.0 and last.trainer["time_up"]
    assert last.trainer["wall_s"] <= 1.0 + last.trainer["eval_s"]  # the first evaluation is the last: untimed
    assert heard.messages[-1] == f"time budget of 1s reached at step {result.step}"


def test_resume_trains_for_the_time_left_and_a_longer_budget_adds_to_it(tmp_path, text_file, monkeypatch):
    monkeypatch.setattr(trainer_module, "time", TickingClock())
    run_dir = tmp_path / "run"
    first = train(budgeted(text_file, 1), run_dir)
    again = train(budgeted(text_file, 1), run_dir, resume=True)  # the time is spent: nothing to do
    assert (again.step, again.time_up) == (first.step, True)
    longer = train(budgeted(text_file, 2), run_dir, resume=True)  # the run's total: one second more
    wall = ckpt.read_checkpoint(run_dir, "last").trainer["wall_s"]
    assert longer.time_up and longer.step > first.step and 1.0 < wall < 2.1  # the evaluation's time was known
    steps = [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))  # each step logged once
