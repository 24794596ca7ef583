"""Training you can trust, in process: divergence rollback, early stopping, keep_every,
resumable schedules, the run-directory lock, disk full and read-only run directories.

(Killing a real training process with SIGKILL is in test_kill_resume.py.)
"""

import errno
import json
import os
import signal
import subprocess
import sys

import pytest

from lstmgen.runs import checkpoint as ckpt
from lstmgen.nn.shards import Shards
from tests.helpers import ROOT, assert_same_weights, assert_user_error, metrics, run, train, weights


# ---- divergence -----------------------------------------------------------------------------
def test_exploding_loss_rolls_back_with_lower_lr_and_equals_a_run_at_that_lr(tmp_path, text_file):
    # learning rate 50 explodes at step 2; the rollback goes to step 0 with 50 * 0.001 = 0.05,
    # which must give exactly the run that used 0.05 from the start
    sets = ["train.max_steps=12", "train.eval_interval=4", "model.dropout=0.2"]
    exploding = train(text_file, tmp_path / "a", *sets, "train.learning_rate=50", "train.divergence_lr_factor=0.001")
    assert exploding.exit_code == 0, exploding.output
    assert "divergence: step 2: training loss" in exploding.output
    assert "train.learning_rate 50 -> 0.05 (rollback 1 of 3)" in exploding.output
    assert train(text_file, tmp_path / "b", *sets, "train.learning_rate=0.05").exit_code == 0
    assert_same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))
    assert metrics(tmp_path / "a", "step", "train_loss") == metrics(tmp_path / "b", "step", "train_loss")
    saved = ckpt.read_checkpoint(tmp_path / "a", "last", with_training_state=False).config
    assert saved.train.learning_rate == pytest.approx(0.05)


def test_nan_loss_rolls_back_to_the_last_checkpoint(tmp_path, text_file, monkeypatch):
    # one NaN loss at step 7 (a fault injected once): the run resumes from step 4 at half the rate
    real, calls = Shards.loss_and_grads, []  # one call per step

    def once_nan(self, *args, **kwargs):
        loss, grads, state = real(self, *args, **kwargs)
        calls.append(1)
        return (float("nan") if len(calls) == 7 else loss), grads, state

    monkeypatch.setattr(Shards, "loss_and_grads", once_nan)
    result = train(text_file, tmp_path / "r", "train.max_steps=12", "train.eval_interval=4")
    assert result.exit_code == 0, result.output
    assert "divergence: step 7: training loss nan" in result.output
    assert "0.002 -> 0.001 (rollback 1 of 3)" in result.output
    assert len(calls) == 12 + 3  # steps 5-7 ran twice
    steps = [s for (s,) in metrics(tmp_path / "r", "step")]
    assert steps == sorted(set(steps)) and steps[-1] == 12


def test_divergence_gives_up_after_max_divergences(tmp_path, text_file):
    result = train(text_file, tmp_path / "r", "train.max_steps=12", "train.eval_interval=4",
                   "train.learning_rate=10000", "train.max_divergences=2")
    assert_user_error(result, 1, "training diverged", "after 2 rollback(s)", "train.max_divergences = 2",
                      "gave up", "train.learning_rate")
    assert result.output.count("divergence: step") == 2
    assert run("sample", tmp_path / "r", "--checkpoint", "last", "--length", "5").exit_code == 0


# ---- early stopping and keep_every ------------------------------------------------------------
def test_patience_stops_where_a_naive_count_over_the_val_losses_says(tmp_path, text_file):
    sets = ["train.max_steps=30", "train.eval_interval=2", "train.learning_rate=0.5", "train.lr_schedule=constant"]
    assert train(text_file, tmp_path / "full", *sets, "train.patience=null").exit_code == 0
    evals = [(s, v) for s, v in metrics(tmp_path / "full", "step", "val_loss") if v is not None]
    best, waited, stop = float("inf"), 0, None
    for s, v in evals:
        best, waited = (v, 0) if v < best else (best, waited + 1)
        if waited >= 2:
            stop = s
            break
    assert stop is not None and stop < 30, "the reference run must rise twice in a row for this test to mean anything"
    patient = train(text_file, tmp_path / "patient", *sets, "train.patience=2")
    assert patient.exit_code == 0, patient.output
    assert f"stopped early at step {stop}" in patient.output
    assert metrics(tmp_path / "patient", "step", "val_loss") == [
        r for r in metrics(tmp_path / "full", "step", "val_loss") if r[0] <= stop]
    best_step = min((e for e in evals if e[0] <= stop), key=lambda e: e[1])[0]  # the best the patient run saw
    assert json.loads((tmp_path / "patient" / "checkpoints" / "best.json").read_text())["step"] == best_step
    assert json.loads((tmp_path / "patient" / "checkpoints" / "last.json").read_text())["step"] == stop


def test_keep_every_keeps_those_checkpoints_and_they_load(tmp_path, text_file):
    out = tmp_path / "r"
    assert train(text_file, out, "train.max_steps=12", "train.eval_interval=4", "train.keep_every=5").exit_code == 0
    best = json.loads((out / "checkpoints" / "best.json").read_text())["checkpoint"]
    folders = {p.name for p in (out / "checkpoints").iterdir() if p.is_dir()}
    assert folders == {"step-00000005", "step-00000010", "step-00000012", best}
    for name in folders:
        ckpt.read_npz(out / "checkpoints" / name / "model.npz")
    # resuming keeps them too
    assert train(text_file, out, "train.max_steps=16", resume=True).exit_code == 0
    assert {"step-00000005", "step-00000010"} <= {p.name for p in (out / "checkpoints").iterdir()}


# ---- every schedule resumes exactly ------------------------------------------------------------
@pytest.mark.parametrize("schedule", ["constant", "step", "cosine", "plateau"])
def test_every_lr_schedule_resumes_bitwise(tmp_path, text_file, schedule):
    # the first half stops through max_epochs (6 of 22 windows), so max_steps, the cosine
    # horizon, is the same in both runs
    sets = ["train.max_steps=12", "train.eval_interval=2", f"train.lr_schedule={schedule}", "train.warmup_steps=3",
            "train.lr_decay_steps=4", "train.learning_rate=0.05", "model.dropout=0.2"]
    assert train(text_file, tmp_path / "a", *sets).exit_code == 0
    assert train(text_file, tmp_path / "b", *sets, "train.max_epochs=0.25").exit_code == 0
    assert json.loads((tmp_path / "b" / "checkpoints" / "last.json").read_text())["step"] == 6
    assert train(text_file, tmp_path / "b", "train.max_epochs=null", resume=True).exit_code == 0
    assert_same_weights(weights(tmp_path / "a"), weights(tmp_path / "b"))
    fields = ("step", "train_loss", "val_loss", "learning_rate")
    assert metrics(tmp_path / "a", *fields) == metrics(tmp_path / "b", *fields)
    assert len({lr for (lr,) in metrics(tmp_path / "a", "learning_rate")}) > 1 or schedule in ("constant", "plateau")


# ---- the lock --------------------------------------------------------------------------------
HOLD_LOCK = "import sys, time; from lstmgen.runs.lock import RunLock\nwith RunLock(sys.argv[1]):\n print('locked', flush=True); time.sleep(60)"


def test_second_train_into_a_busy_run_dir_is_refused_and_a_killed_owner_frees_it(tmp_path, text_file):
    out = tmp_path / "r"
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        busy = train(text_file, out, "train.max_steps=4")
        assert_user_error(busy, 1, "is in use by another lstmgen train", f"process {holder.pid}", "train.lock")
        assert not (out / "checkpoints").exists()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    # the lock died with its owner: the lock file is still there, and nothing is stuck
    assert (out / "train.lock").exists()
    assert train(text_file, out, "train.max_steps=4").exit_code == 0


# ---- disk full and read-only run directories ---------------------------------------------------
@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS])
def test_failing_checkpoint_write_is_a_clear_error_and_the_last_one_survives(tmp_path, text_file, monkeypatch, error):
    out = tmp_path / "r"
    assert train(text_file, out, "train.max_steps=8", "train.eval_interval=4").exit_code == 0
    before = weights(out)
    real = ckpt._write_npz

    def failing(path, arrays):
        if path.name == "optimizer.npz":  # half way through the new folder
            raise OSError(error, os.strerror(error), str(path))
        return real(path, arrays)

    monkeypatch.setattr(ckpt, "_write_npz", failing)
    result = train(text_file, out, "train.max_steps=12", resume=True)
    assert_user_error(result, 1, "cannot write checkpoint", "step-00000012", os.strerror(error),
                      "the previous checkpoint is intact")
    monkeypatch.undo()
    assert json.loads((out / "checkpoints" / "last.json").read_text())["step"] == 8
    assert_same_weights(weights(out), before)
    assert not [p for p in (out / "checkpoints").iterdir() if p.name.startswith(".")]
    assert train(text_file, out, "train.max_steps=12", resume=True).exit_code == 0


def read_only_is_enforced(folder):
    """False where this process writes into a read-only folder anyway (root, by default)."""
    folder.mkdir()
    folder.chmod(0o555)
    try:
        (folder / "probe").write_text("")
        return False
    except PermissionError:
        return True
    finally:
        folder.chmod(0o755)


def test_really_read_only_run_directory(tmp_path, text_file):
    if not read_only_is_enforced(tmp_path / "probe"):
        pytest.skip("this process may write into read-only folders (root); the ENOSPC/EROFS test above stands in")
    out = tmp_path / "r"
    assert train(text_file, out, "train.max_steps=8", "train.eval_interval=4").exit_code == 0
    before = weights(out)
    for d in (out, out / "checkpoints"):
        d.chmod(0o555)
    try:
        result = train(text_file, out, "train.max_steps=12", resume=True)
    finally:
        for d in (out, out / "checkpoints"):
            d.chmod(0o755)
    assert_user_error(result, 1, "permission denied", str(out / "metrics.jsonl"))
    assert_same_weights(weights(out), before)
