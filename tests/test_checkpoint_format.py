"""Checkpoint format versions: version 2 is written; version 1 (trainer.json without
best_train_loss, evals_since_best and kept) is still read and resumed; others are refused."""

import json
import shutil

import pytest

from lstmgen.runs import checkpoint as ckpt
from tests.helpers import assert_same_weights, assert_user_error, run, train, train_tiny, weights


def folders(run_dir):
    return sorted(p for p in (run_dir / "checkpoints").iterdir() if p.is_dir())


def edit_json(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def as_version_1(run_dir):
    """Rewrite every pointer and trainer.json of ``run_dir`` the way format_version 1 wrote them."""
    def downgrade(data):
        for key in ("best_train_loss", "evals_since_best", "kept"):
            data.pop(key, None)
        data["format_version"] = 1

    for path in [*(run_dir / "checkpoints").glob("*.json"), *(f / "trainer.json" for f in folders(run_dir))]:
        edit_json(path, downgrade)


def test_new_checkpoints_are_version_2(tmp_path, text_file):
    assert train_tiny(text_file, tmp_path / "r").exit_code == 0
    for path in [*(tmp_path / "r" / "checkpoints").glob("*.json"), *(f / "trainer.json" for f in folders(tmp_path / "r"))]:
        assert json.loads(path.read_text())["format_version"] == ckpt.FORMAT_VERSION == 2, path


def test_version_1_checkpoint_samples_and_resumes_like_version_2(tmp_path, text_file):
    sets = ["train.max_steps=8", "train.eval_interval=4", "model.dropout=0.2"]
    assert train(text_file, tmp_path / "v2", *sets).exit_code == 0
    shutil.copytree(tmp_path / "v2", tmp_path / "v1")
    as_version_1(tmp_path / "v1")
    trainer = ckpt.read_checkpoint(tmp_path / "v1", "last").trainer
    assert trainer["best_train_loss"] is None and trainer["evals_since_best"] == 0 and trainer["kept"] is False
    assert run("sample", tmp_path / "v1", "--length", "20", "--seed", "1").exit_code == 0
    for name in ("v1", "v2"):
        result = train(text_file, tmp_path / name, "train.max_steps=12", resume=True)
        assert result.exit_code == 0, result.output
    assert_same_weights(weights(tmp_path / "v1"), weights(tmp_path / "v2"))
    assert json.loads((tmp_path / "v1" / "checkpoints" / "last.json").read_text())["format_version"] == 2


@pytest.mark.parametrize("version, needles", [
    (3, ["format_version 3 is newer than this lstmgen understands (2)", "upgrade lstmgen"]),
    (0, ["format_version 0 was never written by lstmgen"]),
])
def test_other_versions_of_trainer_json_are_refused(tmp_path, text_file, version, needles):
    assert train_tiny(text_file, tmp_path / "r").exit_code == 0
    trainer_json = ckpt.find_checkpoint(tmp_path / "r", "last") / "trainer.json"
    edit_json(trainer_json, lambda d: d.update(format_version=version))
    assert_user_error(train(text_file, tmp_path / "r", "train.max_steps=16", resume=True), 1,
                      str(trainer_json), *needles)
