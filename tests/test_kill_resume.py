"""SIGKILL a real training process at many points, resume it each time, and compare.

A run killed at any moment and resumed with ``--resume`` must end with weights bitwise
identical to a run that was never stopped, and ``metrics.jsonl`` must hold every step exactly
once. Each chain below starts a real ``lstmgen train`` process (``tests/killer.py``), which is
killed with SIGKILL at one point; then ``--resume`` is started again and again, each process
killed at another point (between steps at seeded random steps, half-way through each array
file of a checkpoint, before the folder's rename, between the rename and each pointer, before
the prune, half-way through a metrics.jsonl line), and a last ``--resume`` runs to the end. Parametrised over every cell type
(``lstmgen.nn.model.CELLS``) and optimiser, with dropout on and two layers.

The whole life of a run, as a restart loop (``while ! lstmgen train ... --resume; do :; done``)
sees it: the loop's first attempt starts in a folder that does not exist and is killed at one
moment (during start-up, before the first checkpoint, during a checkpoint write, or later);
the same command then runs again until it exits 0, and must end as a run never stopped.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from lstmgen.runs import checkpoint as ckpt
from lstmgen.nn.model import CELLS
from tests.helpers import ROOT, TINY, assert_same_weights, metrics, run, train, weights, write_corpus

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs POSIX signals")

MAX_STEPS = 16
SCHEDULE = {"adam": ["train.lr_schedule=cosine", "train.warmup_steps=3", "train.warmup_fraction=0.2",
                    "train.final_lr_ratio=0.1"],  # a schedule that ends with a step budget: bitwise on resume
            "sgd": ["train.lr_schedule=step", "train.lr_decay_steps=5", "train.learning_rate=0.5"]}


def settings(cell, optimizer):
    return [f"model.cell={cell}", "model.num_layers=2", "model.dropout=0.3", f"train.optimizer={optimizer}",
            f"train.max_steps={MAX_STEPS}", "train.eval_interval=4", "train.log_interval=1", "train.keep_every=6",
            *SCHEDULE[optimizer]]


def killed_process(kill_at, args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "tests" / "killer.py"), kill_at, *map(str, args)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def assert_same_run(reference, resumed):
    assert_same_weights(weights(reference, "last"), weights(resumed, "last"))
    assert_same_weights(weights(reference, "best"), weights(resumed, "best"))
    fields = ("step", "epoch", "train_loss", "val_loss", "learning_rate")
    assert metrics(resumed, *fields) == metrics(reference, *fields)
    assert [s for (s,) in metrics(resumed, "step")] == list(range(1, MAX_STEPS + 1))  # none missing, none twice
    folders = lambda d: sorted(p.name for p in (d / "checkpoints").iterdir())
    assert folders(resumed) == folders(reference)  # no temporary or stale folder left


@pytest.mark.slow  # 10 to 20 s each on two cores: a trainer killed at many points
@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_sigkill_at_many_points_then_resume_is_bitwise_identical(tmp_path, text_file, cell, optimizer):
    sets = settings(cell, optimizer)
    assert train(text_file, tmp_path / "reference", *sets).exit_code == 0
    rng = np.random.default_rng(sorted(CELLS).index(cell) * 2 + (optimizer == "sgd"))
    out = tmp_path / "killed"
    first = ["train", "--config", TINY, "--out", out, "--set", f"data.corpus={text_file}",
             *sum((["--set", s] for s in sets), [])]
    resume = ["train", "--out", out, "--resume"]
    kill_points = [f"step:{rng.integers(2, 8)}", "model.npz:1", "optimizer.npz:1", "state.npz:1", "rename:1",
                   "last.json:1", "best.json:1", "prune:2", f"metrics.jsonl:{rng.integers(1, 4)}",
                   f"step:{rng.integers(1, 4)}"]
    for i, kill_at in enumerate(kill_points):
        proc = killed_process(kill_at, first if i == 0 else resume)
        assert proc.returncode == -signal.SIGKILL, (kill_at, proc.returncode, proc.stderr[-2000:])
    final = killed_process("step:1000000", resume)
    assert final.returncode == 0, final.stderr[-2000:]
    assert_same_run(tmp_path / "reference", out)


def test_sigkill_from_outside_at_a_random_moment(tmp_path, text_file):
    # the parent kills the trainer whenever metrics.jsonl first shows a seeded random step
    cell, optimizer = sorted(CELLS)[0], "adam"
    sets = settings(cell, optimizer)
    assert train(text_file, tmp_path / "reference", *sets).exit_code == 0
    out = tmp_path / "killed"
    args = ["train", "--config", TINY, "--out", out, "--set", f"data.corpus={text_file}",
            *sum((["--set", s] for s in sets), [])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    target = int(np.random.default_rng().integers(2, MAX_STEPS - 2))
    print(f"kill after step {target}")  # shown by pytest if the test fails, to reproduce it
    proc = subprocess.Popen([sys.executable, "-m", "lstmgen", *map(str, args)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline:
        text = (out / "metrics.jsonl").read_text() if (out / "metrics.jsonl").exists() else ""
        if text.count("\n") >= target:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode in (-signal.SIGKILL, 0), f"kill after step {target}"
    resumed = subprocess.run([sys.executable, "-m", "lstmgen", "train", "--out", str(out), "--resume"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert resumed.returncode == 0, f"kill after step {target}: {resumed.stderr[-2000:]}"
    assert_same_run(tmp_path / "reference", out)


def test_stale_folder_from_a_crash_is_not_reused_after_a_config_change(tmp_path, text_file):
    # killed after step-00000004/ was renamed into place but before last.json named it (last is
    # still step 0); resumed with another learning rate, step 4 must be computed anew at that rate
    sets = ["train.max_steps=8", "train.eval_interval=4", "train.keep_every=4", "model.dropout=0.3"]
    out = tmp_path / "killed"
    proc = killed_process("last.json:2", ["train", "--config", TINY, "--out", out, "--set", f"data.corpus={text_file}",
                                          *sum((["--set", s] for s in sets), [])])
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert (out / "checkpoints" / "step-00000004").is_dir()
    assert json.loads((out / "checkpoints" / "last.json").read_text())["step"] == 0
    assert train(text_file, out, "train.learning_rate=0.01", resume=True).exit_code == 0
    assert train(text_file, tmp_path / "reference", *sets, "train.learning_rate=0.01").exit_code == 0
    for step in ("step-00000004", "step-00000008"):
        load = lambda d: np.load(d / "checkpoints" / step / "model.npz", allow_pickle=False)
        with load(out) as a, load(tmp_path / "reference") as b:
            assert_same_weights(dict(a), dict(b))


# ---- the whole life of a run, under a restart loop ---------------------------------------------
# (the moment the first attempt is killed, whether the token cache is on, whether a checkpoint
# exists after the kill)
LIFE = [
    ("corpus:1", False, False),       # start-up: the corpus is read
    ("tokenizer:1", False, False),    # start-up: the tokenizer is learnt
    ("token_cache:1", True, False),   # start-up: a token-cache entry is half written
    ("run_files:1", False, False),    # start-up is done, the first checkpoint (step 0) is not
    ("model.npz:1", False, False),    # half-way through the first checkpoint
    ("last.json:1", False, False),    # the first checkpoint's folder is in place, nothing points to it
    ("step:3", False, True),          # after: between two checkpoints (more: the tests above)
]


def life_settings(cached, folder):
    return [*settings(sorted(CELLS)[0], "adam"), "train.threads=1",
            *([f"data.token_cache={folder / 'token-cache'}"] if cached else [])]


@pytest.fixture(scope="module")
def never_stopped(tmp_path_factory):
    """The run never stopped, with or without the token cache (made once for the module)."""
    made = {}

    def get(cached):
        if cached not in made:
            folder = tmp_path_factory.mktemp("never-stopped")
            made[cached] = folder / "run"
            assert train(write_corpus(folder / "corpus.txt"), made[cached], *life_settings(cached, folder)).exit_code == 0
        return made[cached]

    return get


@pytest.mark.parametrize("kill_at, cached, checkpointed", LIFE, ids=[k for k, _, _ in LIFE])
def test_a_restart_loop_killed_at_any_moment_ends_as_a_run_never_stopped(tmp_path, text_file, never_stopped,
                                                                         kill_at, cached, checkpointed):
    out = tmp_path / "run"  # does not exist yet: the loop's first attempt starts the run
    command = ["train", "--config", TINY, "--out", out, "--resume", "--set", f"data.corpus={text_file}",
               *sum((["--set", s] for s in life_settings(cached, tmp_path)), [])]
    first = killed_process(kill_at, command)
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    assert f"{out} does not exist: nothing to resume, starting a new run" in first.stderr
    assert ckpt.has_checkpoint(out) == checkpointed  # killed at the moment meant
    for attempt in range(3):  # while ! lstmgen train ... --resume; do :; done
        again = run(*command)
        if again.exit_code == 0:
            break
    assert again.exit_code == 0, again.output[-2000:]
    assert (f"nothing to resume in {out} (no checkpoint yet): starting at step 0" in again.output) != checkpointed
    assert_same_run(never_stopped(cached), out)
