"""Data-parallel training (lstmgen/parallel/comm.py, lstmgen/parallel/launch.py).

Without MPI: the stream split, the evaluation split, the masks and shares of
``loss_and_grads(..., streams=)`` against the whole batch, the flat buffer, the launcher's
command and its errors. With mpi4py and mpiexec (``pip install 'lstmgen[mpi]'``; skipped
otherwise): P = 2 against P = 1 through the command line, ranks bitwise identical, resume
across P, a killed rank, Ctrl-C.
"""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner

from lstmgen.parallel import launch
from lstmgen.runs.checkpoint import read_checkpoint
from lstmgen.cli import cli
from lstmgen.data.batches import eval_windows, share
from lstmgen.parallel.comm import FlatBuffer, GradientReducer, SingleProcess, local_state, stream_slice
from lstmgen.errors import ConfigError
from lstmgen.nn.model import LanguageModel
from tests.helpers import ROOT, rel_error, wait_for


# ---- the splits -----------------------------------------------------------------------------------
@pytest.mark.parametrize("N,P", [(8, 1), (8, 2), (8, 4), (12, 3), (6, 6)])
def test_stream_slices_partition_the_batch_in_rank_order(N, P):
    slices = [stream_slice(N, P, r) for r in range(P)]
    assert [i for s in slices for i in range(N)[s]] == list(range(N))
    assert {s.stop - s.start for s in slices} == {N // P}


def test_stream_split_that_does_not_divide_names_the_key_and_the_option():
    with pytest.raises(ConfigError, match=r"train.batch_size 10 cannot be split over --procs 4.*1, 2, 5, 10"):
        stream_slice(10, 4, 0)


@pytest.mark.parametrize("n,P", [(7, 3), (2, 4), (9, 9), (1, 2)])
def test_share_covers_every_item_once_as_evenly_as_possible(n, P):
    slices = [share(n, P, r) for r in range(P)]
    assert [i for s in slices for i in range(n)[s]] == list(range(n))
    sizes = [s.stop - s.start for s in slices]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize("P", [2, 3, 5])
def test_evaluation_parts_score_exactly_the_targets_of_the_whole(P):
    ids = np.random.default_rng(0).integers(0, 50, 1000).astype(np.int32)
    whole = list(eval_windows(ids, 4, 7))  # 999 targets: 4 columns of 249, and a tail of 3
    parts = [list(eval_windows(ids, 4, 7, part=(r, P))) for r in range(P)]
    columns = whole[:-1]  # the tail continues the last column: it goes with the part that holds it
    for k, (x, y) in enumerate(columns):
        np.testing.assert_array_equal(np.concatenate([p[k][0] for p in parts if p], axis=1), x)
        np.testing.assert_array_equal(np.concatenate([p[k][1] for p in parts if p], axis=1), y)
    last = [p for p in parts if p][-1]
    assert whole[-1][0].shape == (3, 1) and len(last) == len(whole)
    for got, want in zip(last[-1], whole[-1]):
        np.testing.assert_array_equal(got, want)
    assert all(len(p) in (0, len(columns)) for p in parts if p is not last)


# ---- a rank's share of a step -------------------------------------------------------------------
DROPOUTS = dict(dropout=0.3, embed_dropout=0.2, input_dropout=0.25, hidden_dropout=0.15, output_dropout=0.2)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("P", [2, 4])
def test_shares_of_the_streams_sum_to_the_whole_batch_with_the_same_masks(cell, P):
    """Each part draws the whole batch's masks and keeps its streams: the loss and gradients of
    the parts sum to the whole batch's, the states stack to its state, and the generator ends
    in the same place (float64, every kind of dropout on)."""
    model = LanguageModel(cell, vocab_size=11, embed_dim=6, hidden_size=7, num_layers=2, dtype=np.float64,
                          tie_weights=True, **DROPOUTS)
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    T, N = 5, 8
    x, y = rng.integers(0, 11, (T, N)), rng.integers(0, 11, (T, N))
    state = {k: rng.standard_normal(v.shape) for k, v in model.init_state(N).items()}
    whole_rng = np.random.default_rng(7)
    loss, grads, new_state = model.loss_and_grads(params, x, y, state, whole_rng)

    parts = []
    for r in range(P):
        streams = stream_slice(N, P, r)
        part_rng = np.random.default_rng(7)
        parts.append(model.loss_and_grads(params, x, y, local_state(state, streams), part_rng, streams=streams))
        assert part_rng.bit_generator.state == whole_rng.bit_generator.state
    assert sum(p[0] for p in parts) == pytest.approx(loss, rel=1e-12)
    for k, g in grads.items():
        np.testing.assert_allclose(sum(p[1][k] for p in parts), g, rtol=1e-12, atol=1e-14, err_msg=k)
    for k, s in new_state.items():
        np.testing.assert_array_equal(np.concatenate([p[2][k] for p in parts]), s)


def test_whole_batch_as_one_part_is_the_plain_step():
    model = LanguageModel("lstm", 9, 4, 5, 2, dtype=np.float64, **DROPOUTS)
    rng = np.random.default_rng(1)
    params = model.init_params(rng)
    x, y = rng.integers(0, 9, (4, 6)), rng.integers(0, 9, (4, 6))
    plain = model.loss_and_grads(params, x, y, model.init_state(6), np.random.default_rng(3))
    sliced = model.loss_and_grads(params, x, y, model.init_state(6), np.random.default_rng(3), streams=slice(0, 6))
    assert plain[0] == sliced[0]
    for k in plain[1]:
        np.testing.assert_array_equal(plain[1][k], sliced[1][k])


@pytest.mark.parametrize("cell", ["lstm", "gru", "gru_cudnn", "rnn", "peephole_lstm"])
@pytest.mark.parametrize("tie_weights", [False, True])
def test_gradients_written_into_the_flat_buffer_are_those_returned_without_it(cell, tie_weights):
    """``loss_and_grads(out=buffer.grads)`` leaves in the buffer the very gradients it returns
    without ``out`` (the weight matrices computed there, the rest copied in)."""
    model = LanguageModel(cell, vocab_size=11, embed_dim=6, hidden_size=7, num_layers=2, dtype=np.float64,
                          tie_weights=tie_weights, **DROPOUTS)
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    x, y = rng.integers(0, 11, (5, 4)), rng.integers(0, 11, (5, 4))
    _, grads, _ = model.loss_and_grads(params, x, y, model.init_state(4), np.random.default_rng(3))
    buf = FlatBuffer(model.param_shapes(), np.float64, ("loss",))
    buf.data[...] = np.nan  # whatever was there before
    _, written, _ = model.loss_and_grads(params, x, y, model.init_state(4), np.random.default_rng(3), out=buf.grads)
    assert written is buf.grads
    for k, g in grads.items():
        np.testing.assert_array_equal(buf.grads[k], g, err_msg=k)


# ---- the flat buffer ------------------------------------------------------------------------------
def test_flat_buffer_packs_gradients_and_scalars_into_one_array_of_views():
    shapes = {"a": (2, 3), "b": (4,), "c": (1, 1, 2)}
    rng = np.random.default_rng(0)
    grads = {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
    buf = FlatBuffer(shapes, np.float32, ("loss", "tokens", "stop"))
    buf.pack(grads, loss=2.5, tokens=640, stop=0.0)
    assert buf.data.shape == (6 + 4 + 2 + 3,) and buf.data.flags.c_contiguous
    np.testing.assert_array_equal(buf.data[:12], np.concatenate([g.ravel() for g in grads.values()]))
    buf.data *= 2  # what an all-reduce over two equal ranks does
    for k, g in grads.items():
        assert buf.grads[k].shape == g.shape and np.shares_memory(buf.grads[k], buf.data)
        np.testing.assert_array_equal(buf.grads[k], 2 * g)
    assert (buf.scalar("loss"), buf.scalar("tokens"), buf.scalar("stop")) == (5.0, 1280.0, 0.0)


def test_one_process_reduce_hands_everything_back_untouched():
    grads = {"w": np.ones((2, 2), np.float32)}
    reduce = GradientReducer(SingleProcess(), {"w": (2, 2)}, np.float32)
    loss, out, tokens, stop = reduce(1.25, grads, 64, False)
    assert (loss, tokens, stop) == (1.25, 64, False) and out is grads and reduce.buffer is None


# ---- the launcher ---------------------------------------------------------------------------------
@pytest.mark.parametrize("text,expected", [("1", 1), ("2", 2), (" 16 ", 16), ("auto", None), ("AUTO", None)])
def test_parse_procs(text, expected):
    assert launch.parse_procs(text) == expected


@pytest.mark.parametrize("text", ["0", "-2", "two", "1.5", ""])
def test_parse_procs_refuses_what_is_not_a_positive_count(text):
    with pytest.raises(ConfigError, match="expected a positive whole number of processes, or auto"):
        launch.parse_procs(text)


def test_auto_is_one_process_per_core_that_keeps_eight_streams_each_and_one_without_mpi():
    assert [launch.auto_procs(32, c, True) for c in (1, 2, 3, 4, 16)] == [1, 2, 2, 4, 4]
    assert launch.auto_procs(64, 64, True) == 8
    assert launch.auto_procs(24, 20, True) == 3  # 8 streams each
    assert launch.auto_procs(7, 64, True) == 1
    assert launch.auto_procs(64, 16, False) == 1  # without mpi4py: one process, never an error
    assert launch.auto_procs(None, 14, True) == 14  # evaluation: any count


def test_command_binds_each_rank_to_its_share_of_the_cores():
    cmd = launch.command("/x/mpiexec", 2, ["train", "--out", "r", "--resume"], num_cores=8)
    assert cmd[:5] == ["/x/mpiexec", "-n", "2", "-bind-to", "core:4"]
    assert cmd[-7:] == ["mpi4py", "-m", "lstmgen", "train", "--out", "r", "--resume"]
    assert "-bind-to" not in launch.command("mpiexec", 4, [], num_cores=2)  # more ranks than cores


def test_blas_threads_are_the_cores_shared_and_never_override_yours():
    env = {"MKL_NUM_THREADS": "3"}
    launch.set_blas_threads(env, 8, 2)
    assert env == {"OPENBLAS_NUM_THREADS": "4", "OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "3"}
    env = {}
    launch.set_blas_threads(env, 8, 1)
    assert env == {}
    assert launch.blas_threads(2, 4) == 1


def test_launched_size_reads_the_launchers_variables():
    assert launch.launched_size({}) == 1
    assert launch.launched_size({"PMI_SIZE": "4"}) == 4
    assert launch.launched_size({"OMPI_COMM_WORLD_SIZE": "3"}) == 3
    assert launch.ranks_on_this_host({"PMI_SIZE": "4", "MPI_LOCALNRANKS": "2"}) == 2


def _train(*args):
    return CliRunner().invoke(cli, ["train", *map(str, args)], catch_exceptions=False)


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_bad_procs_values_are_one_line_errors(tmp_path, text_file, value):
    result = _train("--procs", value, "--out", tmp_path / "run", "--set", f"data.corpus={text_file}")
    assert result.exit_code == 2
    assert f"--procs {value}: expected a positive whole number" in result.output
    assert "Traceback" not in result.output


def test_procs_that_do_not_divide_the_batch_are_refused_before_starting(tmp_path, text_file):
    result = _train("--procs", "3", "--out", tmp_path / "run", "--set", f"data.corpus={text_file}",
                    "--set", "train.batch_size=8")
    assert result.exit_code == 2
    assert "train.batch_size 8 cannot be split over --procs 3" in result.output
    assert not (tmp_path / "run").exists()


def test_procs_without_mpi4py_names_the_install_command(tmp_path, text_file, monkeypatch):
    real = launch.importlib.util.find_spec
    monkeypatch.setattr(launch.importlib.util, "find_spec", lambda name, *a: None if name == "mpi4py" else real(name, *a))
    result = _train("--procs", "2", "--out", tmp_path / "run", "--set", f"data.corpus={text_file}")
    assert result.exit_code == 1  # a missing optional package, as for every extra (tests/test_extras.py)
    assert "pip install 'lstmgen[mpi]'" in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.fixture
def ranks_started(monkeypatch):
    """What ``--procs P`` would start: ``lstmgen ARGS`` per rank, recorded instead of run."""
    started = []
    monkeypatch.setattr(launch, "find_mpiexec", lambda: "mpiexec")
    monkeypatch.setattr(launch, "run", lambda cmd, procs, cores: started.append(cmd[cmd.index("lstmgen") + 1:]) or 0)
    return started


def test_the_ranks_run_what_the_user_typed_less_procs(tmp_path, text_file, ranks_started):
    typed = ["train", str(text_file), "--config", str(ROOT / "configs" / "tiny.yaml"), "--procs=2",
             "--set=train.max_steps=3", "--threads", "1", "--out", str(tmp_path / "run")]
    assert CliRunner().invoke(cli, typed, catch_exceptions=False).exit_code == 0
    assert ranks_started == [[a for a in typed if a != "--procs=2"]]  # as typed, spelling and order kept
    # without --out, the ranks are told the run directory rank 0 chose
    ranks_started.clear()
    assert _train(text_file, "--config", ROOT / "configs" / "tiny.yaml", "--procs", "2").exit_code == 0
    assert ranks_started == [["train", str(text_file), "--config", str(ROOT / "configs" / "tiny.yaml"),
                              "--out", os.path.join("runs", "corpus")]]


def test_an_option_the_ranks_never_heard_of_reaches_them(ranks_started, monkeypatch):
    """A new option of a command reaches the ranks without anyone listing it (the old, hand-made
    command lines of the ranks dropped what they did not list)."""
    import click

    from lstmgen.cli.eval import eval_cmd

    monkeypatch.setattr(eval_cmd, "params", [*eval_cmd.params, click.Option(["--new-option"], expose_value=False)])
    typed = ["eval", "RUN", "--procs", "3", "--new-option", "x", "--json"]
    assert CliRunner().invoke(cli, typed, catch_exceptions=False).exit_code == 0
    assert ranks_started == [["eval", "RUN", "--new-option", "x", "--json"]]


def test_what_follows_two_dashes_is_no_option():
    from lstmgen.cli.ranks import without_procs

    assert without_procs(["train", "--procs", "2", "--", "--procs"], ["--out", "r"]) == \
        ["train", "--out", "r", "--", "--procs"]


# ---- with MPI: whole runs -------------------------------------------------------------------------
def _mpi_missing():
    import importlib.util

    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install 'lstmgen[mpi]')"
    try:
        launch.find_mpiexec()
    except ConfigError:
        return "mpiexec is not on PATH"
    return None


needs_mpi = pytest.mark.skipif(_mpi_missing() is not None, reason=str(_mpi_missing()))
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
JOB_TIMEOUT = 120  # seconds: a hung job fails the test instead of hanging the suite


def tiny(corpus, steps, *extra, config=ROOT / "configs" / "tiny.yaml"):
    """A small model with every kind of dropout on, 50 steps in about a second."""
    settings = [f"data.corpus={corpus}"] * (corpus is not None) + ["model.embed_dim=8", "model.hidden_size=16", "model.num_layers=2",
                "model.dropout=0.2", "model.embed_dropout=0.1", "model.input_dropout=0.1",
                "model.hidden_dropout=0.1", "model.output_dropout=0.1", "train.batch_size=4", "train.seq_len=8",
                f"train.max_steps={steps}", "train.eval_interval=10", "train.log_interval=1", *extra]
    return ["--config", config, *[a for s in settings for a in ("--set", s)]]


def lstmgen(*args, timeout=JOB_TIMEOUT):
    return subprocess.run([sys.executable, "-m", "lstmgen", *map(str, args)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def mpi_job(procs, *args, timeout=JOB_TIMEOUT):
    cmd = [launch.find_mpiexec(), "-n", str(procs), sys.executable, "-m", "mpi4py", *map(str, args)]
    return subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout)


def assert_same_numbers(a_dir, b_dir, rtol=1e-5):
    """Weights, optimiser moments and carried state of two runs' last checkpoints agree to
    ``rtol`` (norm-wise relative, per array); step, data position and dropout RNG exactly."""
    a, b = read_checkpoint(a_dir, "last"), read_checkpoint(b_dir, "last")
    for name in ("params", "optimizer_arrays", "state_arrays"):
        x, y = getattr(a, name), getattr(b, name)
        assert set(x) == set(y), name
        for k in x:
            assert x[k].shape == y[k].shape, (name, k)
            assert rel_error(x[k], y[k]) <= rtol, (name, k, rel_error(x[k], y[k]))
    for key in ("step", "epoch", "window", "rng"):
        assert a.trainer[key] == b.trainer[key], key
    return a, b


@needs_mpi
def test_two_processes_give_the_numbers_of_one_with_dropout_on(tmp_path, text_file):
    one = lstmgen("train", *tiny(text_file, 50), "--out", tmp_path / "one")
    assert one.returncode == 0, one.stderr[-2000:]
    two = lstmgen("train", "--procs", 2, *tiny(text_file, 50), "--out", tmp_path / "two")
    assert two.returncode == 0, two.stderr[-2000:]
    assert "processes: 2 (MPI), 2 of the 4 streams each; gradients summed in shared memory" in two.stdout
    assert_same_numbers(tmp_path / "one", tmp_path / "two")
    losses = [[json.loads(line)["train_loss"] for line in (tmp_path / d / "metrics.jsonl").open()]
              for d in ("one", "two")]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)
    assert not list(tmp_path.glob("two/**/rank*"))  # only rank 0 wrote


@needs_mpi
@pytest.mark.parametrize("procs", [2, 3])
def test_ranks_hold_bitwise_identical_weights(tmp_path, text_file, procs):
    run = mpi_job(procs, ROOT / "tests" / "mpi_ranks.py", tmp_path, "-", "train",
                  *tiny(text_file, 30, "train.batch_size=6"), "--out", tmp_path / "run")
    assert run.returncode == 0, run.stderr[-2000:]
    ranks = [np.load(tmp_path / f"rank-{r}.npz") for r in range(procs)]
    saved = read_checkpoint(tmp_path / "run", "last").params
    for k in saved:
        for r in range(procs):
            assert ranks[r][k].tobytes() == saved[k].tobytes(), (r, k)


@needs_mpi
def test_float64_steps_of_two_processes_match_one_to_1e_12(tmp_path):
    from tests.mpi_steps import run_steps

    run = mpi_job(2, ROOT / "tests" / "mpi_steps.py", tmp_path / "two.npz")
    assert run.returncode == 0, run.stderr[-2000:]
    two, one = np.load(tmp_path / "two.npz"), run_steps(SingleProcess())
    for k, p in one.items():
        assert p.dtype == np.float64 and rel_error(two[k], p) <= 1e-12, (k, rel_error(two[k], p))


@needs_mpi
@pytest.mark.parametrize("procs", [2, 3])
def test_ranks_on_one_machine_sum_in_shared_memory_exactly_as_in_rank_order(tmp_path, procs):
    run = mpi_job(procs, ROOT / "tests" / "mpi_sums.py", tmp_path / "sums.json")
    assert run.returncode == 0, run.stderr[-2000:]
    found = json.loads((tmp_path / "sums.json").read_text())
    assert [found[k]["summer"] for k in ("default", "all-reduce")] == ["SharedWindowSum", "AllreduceSum"]
    assert_sums_right(found)


def assert_sums_right(found):
    """What tests/mpi_sums.py found: every sum close to the exact one and the same bytes on every
    rank; the shared-memory sums exact (added in rank order)."""
    for asked in found.values():
        assert all(r["close"] and r["same_on_every_rank"] for r in asked["rounds"]), asked
        assert asked["summer"] != "SharedWindowSum" or all(r["exact"] for r in asked["rounds"]), asked


@needs_mpi
@pytest.mark.parametrize("first,then", [(2, 1), (1, 2)])
def test_a_run_saved_with_one_process_count_resumes_with_another(tmp_path, text_file, first, then):
    straight = lstmgen("train", *tiny(text_file, 30), "--out", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-2000:]
    half = lstmgen("train", "--procs", first, *tiny(text_file, 15), "--out", tmp_path / "resumed")
    assert half.returncode == 0, half.stderr[-2000:]
    rest = lstmgen("train", "--procs", then, "--resume", "--set", "train.max_steps=30", "--out", tmp_path / "resumed")
    assert rest.returncode == 0, rest.stderr[-2000:]
    assert_same_numbers(tmp_path / "straight", tmp_path / "resumed")


@needs_mpi
def test_a_killed_rank_ends_the_job_and_the_last_checkpoint_resumes(tmp_path, text_file):
    t0 = time.monotonic()
    run = mpi_job(2, ROOT / "tests" / "mpi_ranks.py", tmp_path, "1:25", "train", *tiny(text_file, 40),
                  "--out", tmp_path / "run")
    assert run.returncode != 0
    assert time.monotonic() - t0 < 30, "the job outlived its killed rank"
    assert read_checkpoint(tmp_path / "run", "last").trainer["step"] == 20
    rest = lstmgen("train", "--procs", 2, "--resume", "--out", tmp_path / "run")
    assert rest.returncode == 0, rest.stderr[-2000:]
    straight = lstmgen("train", *tiny(text_file, 40), "--out", tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-2000:]
    assert_same_numbers(tmp_path / "straight", tmp_path / "run")


@needs_mpi
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_saves_one_checkpoint_and_every_rank_exits_130(tmp_path, text_file, how):
    """Ctrl-C reaches the whole foreground process group (the launcher ignores it; mpiexec
    passes it to every rank); SIGTERM to the launcher is passed on."""
    proc = subprocess.Popen([sys.executable, "-m", "lstmgen", "train", "--procs", "2",
                             *map(str, tiny(text_file, 100000)), "--out", str(tmp_path / "run")],
                            cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    metrics = tmp_path / "run" / "metrics.jsonl"
    wait_for(lambda: metrics.exists() and len(metrics.read_text().splitlines()) >= 15, "the job's 15th metrics line",
             seconds=JOB_TIMEOUT, alive=lambda: proc.poll() is None)
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=JOB_TIMEOUT)
    assert proc.returncode == 130, err[-2000:]
    saved = read_checkpoint(tmp_path / "run", "last")
    assert saved.trainer["step"] >= 15 and "Interrupted at step" in err
    assert err.count("Interrupted at step") == 1  # rank 0 speaks for the job
    rest = lstmgen("train", "--resume", "--set", f"train.max_steps={saved.trainer['step'] + 5}",
                   "--out", tmp_path / "run")
    assert rest.returncode == 0, rest.stderr[-2000:]


@needs_mpi
def test_one_process_never_imports_mpi4py(tmp_path, text_file):
    code = ("import sys; from lstmgen.cli import main\n"
            "try: main()\nexcept SystemExit as e: assert not e.code, e.code\n"
            "print('mpi4py' in sys.modules)")
    args = ["lstmgen", "train", "--procs", "1", *map(str, tiny(text_file, 2)), "--out", str(tmp_path / "run")]
    run = subprocess.run([sys.executable, "-c", f"import sys; sys.argv = {args!r}\n{code}"], cwd=ROOT, env=ENV,
                         capture_output=True, text=True, timeout=JOB_TIMEOUT)
    assert run.returncode == 0 and run.stdout.strip().splitlines()[-1] == "False", run.stderr[-2000:]


@needs_mpi
@pytest.mark.parametrize("procs", [2, 3])
def test_eval_on_several_processes_scores_what_one_does(tmp_path, text_file, procs):
    run = lstmgen("train", *tiny(text_file, 10), "--out", tmp_path / "run")
    assert run.returncode == 0, run.stderr[-2000:]
    one = lstmgen("eval", tmp_path / "run", "--corpus", text_file, "--json")
    many = lstmgen("eval", tmp_path / "run", "--corpus", text_file, "--json", "--procs", procs)
    assert many.returncode == 0, many.stderr[-2000:]
    a, b = json.loads(one.stdout), json.loads(many.stdout)  # one JSON line: only rank 0 prints
    assert a["tokens"] == b["tokens"] and a["characters"] == b["characters"]
    assert b["loss"] == pytest.approx(a["loss"], rel=1e-12)


@needs_mpi
def test_divergence_rolls_back_on_every_rank_alike(tmp_path, text_file):
    """Learning rate 50 explodes at step 2 on every rank at once (they judge the same summed
    loss); the rollback to step 0 at 50 x 0.001 must give a one-process run at 0.05."""
    sets = ["train.max_steps=12", "train.eval_interval=4"]
    exploding = lstmgen("train", "--procs", 2, *tiny(text_file, 12, *sets, "train.learning_rate=50",
                                                      "train.divergence_lr_factor=0.001"), "--out", tmp_path / "a")
    assert exploding.returncode == 0, exploding.stderr[-2000:]
    assert exploding.stderr.count("divergence: step 2: training loss") == 1
    plain = lstmgen("train", *tiny(text_file, 12, *sets, "train.learning_rate=0.05"), "--out", tmp_path / "b")
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert_same_numbers(tmp_path / "a", tmp_path / "b")


@needs_mpi
def test_procs_auto_trains(tmp_path, text_file):
    run = lstmgen("train", "--procs", "auto", *tiny(text_file, 5, "train.batch_size=16"), "--out", tmp_path / "run")
    assert run.returncode == 0, run.stderr[-2000:]
    assert read_checkpoint(tmp_path / "run", "last").trainer["step"] == 5


@needs_mpi
def test_two_processes_read_the_token_cache_on_rank_0_alone(tmp_path, text_file):
    """Windows read from token files on disk (data.token_cache) by rank 0 and sent to the other."""
    cache = f"data.token_cache={tmp_path / 'cache'}"
    for procs, out in ((1, "one"), (2, "two")):
        run = lstmgen("train", "--procs", procs, *tiny(text_file, 20, cache), "--out", tmp_path / out)
        assert run.returncode == 0, run.stderr[-2000:]
    assert_same_numbers(tmp_path / "one", tmp_path / "two")


@needs_mpi
def test_fine_tuning_on_two_processes_starts_every_rank_from_the_parent(tmp_path, text_file):
    """--init-from: rank 0 opens the parent run and sends its weights; SOURCE and the other
    options reach the ranks as given."""
    parent = lstmgen("train", *tiny(text_file, 10), "--out", tmp_path / "parent")
    assert parent.returncode == 0, parent.stderr[-2000:]
    for procs, out in ((1, "one"), (2, "two")):
        run = lstmgen("train", text_file, "--init-from", tmp_path / "parent", "--procs", procs,
                      *tiny(None, 10), "--out", tmp_path / out)
        assert run.returncode == 0, run.stderr[-2000:]
        assert "fine-tuning from" in run.stderr
    assert_same_numbers(tmp_path / "one", tmp_path / "two")
