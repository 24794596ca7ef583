"""The command line end to end: train, sample, eval, resume, Ctrl-C, and every bad input.

Each bad input must give one line on stderr naming the thing and what was expected, no
traceback, and exit code 2 (usage/config) or 1 (data/checkpoint).
"""

import json
import signal
import subprocess
import sys

import numpy as np
import pytest

import lstmgen

from tests.helpers import ROOT, TINY, assert_user_error, run, train_tiny, wait_for


def test_version_and_help():
    assert run("--version").output.startswith("lstmgen, version ")
    for cmd in ("train", "sample", "eval"):
        assert run(cmd, "--help").exit_code == 0
    proc = subprocess.run([sys.executable, "-m", "lstmgen", "--help"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0 and "train" in proc.stdout


def test_train_writes_a_complete_run_directory(tmp_path, text_file):
    trained = tmp_path / "run"
    assert train_tiny(text_file, trained).exit_code == 0
    for name in ("config.yaml", "tokenizer.json", "metrics.jsonl", "checkpoints/last.json", "checkpoints/best.json"):
        assert (trained / name).exists(), name
    last = json.loads((trained / "checkpoints" / "last.json").read_text())
    folder = trained / "checkpoints" / last["checkpoint"]
    assert last["step"] == 12 and last["format_version"] == 2
    with np.load(folder / "model.npz", allow_pickle=False) as z:
        assert {"embed.W", "layers.0.W", "layers.0.b", "head.W", "head.b"} == set(z.files)
        assert z["layers.0.W"].shape == (16 + 32, 4 * 32) and z["layers.0.W"].dtype == np.float32
    steps = [json.loads(line)["step"] for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 12
    record = json.loads((trained / "metrics.jsonl").read_text().splitlines()[-1])
    assert {"step", "epoch", "train_loss", "val_loss", "learning_rate", "tokens_per_s", "elapsed_s"} <= set(record)


def test_train_on_builtin_corpus_with_tiny_config(tmp_path):
    result = run("train", "--config", TINY, "--out", tmp_path / "r", "--set", "train.max_steps=3")
    assert result.exit_code == 0, result.output
    # what differs from the defaults, in one line, and where the whole config is; not all of it
    assert "config (differs from the defaults): model.embed_dim=16, model.hidden_size=32" in result.output
    assert f"the whole config: {tmp_path / 'r' / 'config.yaml'}" in result.output
    assert "data.corpus" not in result.output and "resolved config" not in result.output


def test_sample_streams_prime_then_text_and_seed_repeats(char_run):
    a = run("sample", char_run, "--prime", "The ", "--length", "40", "--seed", "3")
    b = run("sample", char_run, "--prime", "The ", "--length", "40", "--seed", "3")
    assert a.exit_code == 0 and a.output.startswith("The ")
    assert a.output == b.output
    c = run("sample", char_run, "--length", "40", "--seed", "4", "--top-k", "5", "--top-p", "0.9", "--num-samples", "3")
    assert c.exit_code == 0 and c.output.count("----- sample") == 3
    greedy = [run("sample", char_run, "--temperature", "0", "--length", "20", "--seed", s).output for s in "12"]
    assert greedy[0] == greedy[1]


def test_eval_reports_loss_perplexity_bits_per_char(char_run, text_file):
    result = run("eval", char_run, "--json")
    assert result.exit_code == 0, result.output
    r = json.loads(result.output)
    assert r["perplexity"] == pytest.approx(np.exp(r["loss"]))
    assert 0 < r["bits_per_char"] < 8 and r["tokens"] > 0
    table = run("eval", char_run, "--corpus", text_file, "--checkpoint", "last")
    assert table.exit_code == 0 and "bits per char" in table.output


def test_resume_continues_exactly(tmp_path, text_file):
    # 12 steps straight, versus 6 steps then --resume to 12; dropout on: weights bitwise equal
    sets = ["model.dropout=0.3", "model.num_layers=2"]
    assert train_tiny(text_file, tmp_path / "a", *sets).exit_code == 0
    half = run("train", "--config", TINY, "--out", tmp_path / "b", "--set", f"data.corpus={text_file}",
               "--set", "train.max_steps=6", "--set", "train.eval_interval=4", *sum((["--set", s] for s in sets), []))
    assert half.exit_code == 0
    resumed = run("train", "--out", tmp_path / "b", "--resume", "--set", "train.max_steps=12")
    assert resumed.exit_code == 0, resumed.output
    assert "train.max_steps changed from 6 to 12" in resumed.output
    assert f"resuming {tmp_path / 'b'} from step 6; last validation loss " in resumed.output
    assert "bits/char" in resumed.output and "config (differs" not in resumed.output
    load = lambda d: np.load(sorted((d / "checkpoints").glob("step-00000012"))[0] / "model.npz")
    a, b = load(tmp_path / "a"), load(tmp_path / "b")
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k])
    steps = [json.loads(l)["step"] for l in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps))


def test_resume_refuses_architecture_change(run_copy):
    result = run("train", "--out", run_copy, "--resume", "--set", "model.hidden_size=64")
    assert_user_error(result, 2, "model.hidden_size", "changed")


def test_train_into_existing_run_without_resume_is_refused(run_copy, text_file):
    assert_user_error(train_tiny(text_file, run_copy), 2, "already holds a training run", "--resume")


def test_ctrl_c_saves_a_checkpoint_that_resumes(tmp_path, text_file):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "lstmgen", "train", "--config", TINY, "--out", str(out),
           "--set", f"data.corpus={text_file}", "--set", "train.max_steps=100000", "--set", "train.log_interval=1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    wait_for(lambda: (out / "metrics.jsonl").exists(), "training's first metrics line",
             alive=lambda: proc.poll() is None)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "checkpoint saved to" in err and "Traceback" not in err
    step = json.loads((out / "checkpoints" / "last.json").read_text())["step"]
    assert step > 0
    result = run("train", "--out", out, "--resume", "--set", f"train.max_steps={step + 2}")
    assert result.exit_code == 0, result.output


def _wait_for_step(out, step, proc):
    """Until metrics.jsonl has a line for ``step`` or later (the event); fails if the process ends first."""
    def reached():
        lines = (out / "metrics.jsonl").read_text().splitlines() if (out / "metrics.jsonl").exists() else []
        return any(json.loads(line)["step"] >= step for line in lines if line.endswith("}"))
    wait_for(reached, f"training reaching step {step}", alive=lambda: proc.poll() is None)


def test_after_ctrl_c_the_readers_say_best_leaves_out_a_newer_last(tmp_path, text_file):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "lstmgen", "train", "--config", TINY, "--out", str(out),
           "--set", f"data.corpus={text_file}", "--set", "train.max_steps=100000", "--set", "train.log_interval=1",
           "--set", "train.eval_interval=20"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    _wait_for_step(out, 22, proc)  # past the first evaluation
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    last = json.loads((out / "checkpoints" / "last.json").read_text())["step"]
    best = json.loads((out / "checkpoints" / "best.json").read_text())["step"]
    readers = [run("sample", out, "--length", 5), run("eval", out), run("score", out, "some text")]
    if last % 20 == 0:  # the stop fell on an evaluation (rarely): best is current, nothing to say
        assert best <= last and all("note:" not in r.output for r in readers)
        return
    assert best < last and best % 20 == 0
    assert f"note: step {last:,} is not evaluated" in err and f"best checkpoint (step {best:,})" in err
    for result in readers:
        assert result.exit_code == 0, result.output
        assert f"note: using best (step {best:,}, validation " in result.output
        assert f"the last checkpoint, step {last:,}, is newer and was not evaluated" in result.output
    assert "note:" not in run("sample", out, "--length", 5, "--checkpoint", "last").output
    assert f"step {last:,}" in lstmgen.load(out).run.note and lstmgen.load(out, "last").run.note is None
    # resumed to the next evaluation, best and last are evaluated again: no note
    assert run("train", "--out", out, "--resume", "--set", f"train.max_steps={(last // 20 + 1) * 20}").exit_code == 0
    assert "note:" not in run("sample", out, "--length", 5).output


# ---- bad input --------------------------------------------------------------------------------
def test_missing_corpus_file(tmp_path):
    result = run("train", "--config", TINY, "--out", tmp_path / "r", "--set", f"data.corpus={tmp_path / 'nope.txt'}")
    assert_user_error(result, 1, "nope.txt", "does not exist")


def test_empty_corpus(tmp_path):
    (tmp_path / "empty.txt").write_text("  \n\n")
    result = run("train", "--config", TINY, "--out", tmp_path / "r", "--set", f"data.corpus={tmp_path / 'empty.txt'}")
    assert_user_error(result, 1, "empty.txt", "empty")


def test_corpus_shorter_than_one_batch(tmp_path):
    (tmp_path / "short.txt").write_text("just a few words here\nand a second line\n")
    result = run("train", "--config", TINY, "--out", tmp_path / "r", "--set", f"data.corpus={tmp_path / 'short.txt'}")
    assert_user_error(result, 1, "one batch needs", "train.batch_size")


def test_bytes_that_are_not_utf8(tmp_path):
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9 au lait\n" * 50)
    result = run("train", "--config", TINY, "--out", tmp_path / "r", "--set", f"data.corpus={tmp_path / 'latin.txt'}")
    assert_user_error(result, 1, "latin.txt", "byte", "data.encoding")


def test_csv_without_the_named_column(tmp_path):
    (tmp_path / "d.csv").write_text("title,body\na,b\n")
    result = run("train", "--config", TINY, "--out", tmp_path / "r", "--set", f"data.corpus={tmp_path / 'd.csv'}",
                 "--set", "data.csv_column=text")
    assert_user_error(result, 1, "d.csv", "'text'", "body")


def test_unknown_config_key(tmp_path):
    assert_user_error(run("train", "--out", tmp_path / "r", "--set", "model.hiden_size=3"), 2,
                      "unknown key 'model.hiden_size'", "model.hidden_size")
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  batchsize: 3\n")
    assert_user_error(run("train", "--config", cfg, "--out", tmp_path / "r"), 2, "c.yaml", "train.batch_size")


def test_wrong_value_type(tmp_path):
    assert_user_error(run("train", "--out", tmp_path / "r", "--set", "train.max_steps=many"), 2,
                      "'train.max_steps' is 'many'", "integer")


def test_missing_run_directory(tmp_path):
    for cmd in ("sample", "eval"):
        assert_user_error(run(cmd, tmp_path / "nowhere"), 1, "nowhere", "does not exist")


def test_resume_refuses_a_folder_that_is_not_a_run(tmp_path):
    # (a folder that does not exist, or a run killed before its first checkpoint, starts at
    # step 0: test_kill_resume.py's restart loop)
    folder = tmp_path / "papers"
    folder.mkdir()
    (folder / "draft.txt").write_text("mine")
    assert_user_error(run("train", "--out", folder, "--resume"), 1, f"'{folder}' holds no checkpoint to resume and "
                      "is not a run directory (it holds draft.txt); check --out")
    assert sorted(p.name for p in folder.iterdir()) == ["draft.txt"]  # not even a lock file


def test_corrupt_run_directory(run_copy):
    folder = run_copy / "checkpoints" / json.loads((run_copy / "checkpoints" / "best.json").read_text())["checkpoint"]
    (folder / "model.npz").write_bytes(b"this is not a zip file")
    assert_user_error(run("sample", run_copy), 1, "model.npz", "damaged")
    (run_copy / "checkpoints" / "best.json").write_text("{not json")
    assert_user_error(run("eval", run_copy), 1, "best.json")


def test_pickled_arrays_are_refused(run_copy):
    folder = run_copy / "checkpoints" / json.loads((run_copy / "checkpoints" / "best.json").read_text())["checkpoint"]
    np.savez(folder / "model.npz", **{"embed.W": np.array([{"evil": 1}], dtype=object)})
    assert_user_error(run("sample", run_copy), 1, "model.npz", "refused")


def test_wrong_shapes_are_refused(run_copy):
    folder = run_copy / "checkpoints" / json.loads((run_copy / "checkpoints" / "best.json").read_text())["checkpoint"]
    with np.load(folder / "model.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["head.W"] = arrays["head.W"][:, :3]
    np.savez(folder / "model.npz", **arrays)
    assert_user_error(run("sample", run_copy), 1, "model.npz", "head.W", "shape")


def test_newer_format_version(run_copy):
    pointer = run_copy / "checkpoints" / "best.json"
    data = json.loads(pointer.read_text())
    data["format_version"] = 99
    pointer.write_text(json.dumps(data))
    assert_user_error(run("sample", run_copy), 1, "format_version 99 is newer", "upgrade")


def test_closed_pipe_ends_quietly(char_run):
    # `lstmgen sample RUN | head`: the reader leaves early; no traceback, no error message
    proc = subprocess.Popen([sys.executable, "-m", "lstmgen", "sample", str(char_run), "--length", "200000",
                             "--seed", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    proc.stdout.read(10)
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141
    assert err == b""
