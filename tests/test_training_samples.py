"""train.sample_interval: samples shown and stored, training numbers unchanged, resume-exact."""

import json

import numpy as np

from tests.helpers import run, train_tiny


def weights(out):
    last = json.loads((out / "checkpoints" / "last.json").read_text())["checkpoint"]
    with np.load(out / "checkpoints" / last / "model.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def samples(out):
    return [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]


def test_samples_are_shown_stored_and_leave_training_unchanged(tmp_path, text_file):
    plain, sampled = tmp_path / "plain", tmp_path / "sampled"
    assert train_tiny(text_file, plain).exit_code == 0
    result = train_tiny(text_file, sampled, "train.sample_interval=4")
    assert result.exit_code == 0, result.output
    assert result.output.count("sample at step ") == 3
    stored = samples(sampled)
    assert [s["step"] for s in stored] == [4, 8, 12] and all(0 < len(s["text"]) <= 160 for s in stored)
    assert f"sample at step 12: {json.dumps(stored[-1]['text'], ensure_ascii=False)}" in result.output
    assert not (plain / "samples.jsonl").exists()
    a, b = weights(plain), weights(sampled)
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_a_resumed_run_writes_the_same_samples(tmp_path, text_file):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert train_tiny(text_file, straight, "train.sample_interval=4").exit_code == 0
    assert train_tiny(text_file, resumed, "train.sample_interval=4", "train.max_steps=8").exit_code == 0
    assert run("train", "--out", resumed, "--resume", "--set", "train.max_steps=12").exit_code == 0
    assert samples(resumed) == samples(straight)
