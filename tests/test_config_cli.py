"""`lstmgen config` and shipped configs named from anywhere: the command line end to end."""

import json

import pytest
from click.testing import CliRunner

from lstmgen.cli import cli
from lstmgen.runs.config import all_keys, describe_keys, find_config, load_config, shipped_configs
from lstmgen.errors import ConfigError
from tests.helpers import ROOT


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_config_lists_every_key_with_default_and_meaning():
    result = run("config")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    for row in describe_keys():
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{row['key']} = "))
        assert row["type"] in lines[at] and row["allowed"] in lines[at]
        assert lines[at + 1].strip() == row["help"]
    assert "train.optimizer = adam   (str; one of: adam, sgd)" in lines


def test_config_json_and_one_key_or_section():
    assert json.loads(run("config", "--json").output) == describe_keys()
    one = json.loads(run("config", "train.seq_len", "--json").output)
    assert [r["key"] for r in one] == ["train.seq_len"]
    section = run("config", "model")
    assert section.exit_code == 0
    keys = [line.split(" = ")[0] for line in section.output.splitlines() if not line.startswith(" ")]
    assert keys == [k for k in all_keys() if k.startswith("model.")]


def test_config_unknown_key_names_the_nearest():
    result = run("config", "train.seqlen")
    assert result.exit_code == 2 and "did you mean 'train.seq_len'?" in result.output
    assert "Traceback" not in result.output


def test_train_help_names_the_shipped_configs_and_the_config_command():
    text = run("train", "--help").output
    assert "lstmgen config" in text
    flat = " ".join(text.split())
    for name in shipped_configs():
        assert name in flat


def test_shipped_configs_are_the_repositorys_configs_folder():
    assert set(shipped_configs()) == {p.stem for p in (ROOT / "configs").glob("*.yaml")}
    assert {"tiny", "default", "classic-word-lstm"} <= set(shipped_configs())


def test_a_shipped_config_is_named_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in shipped_configs():
        assert load_config(name) == load_config(ROOT / "configs" / f"{name}.yaml")
    assert find_config("configs/tiny.yaml").read_bytes() == (ROOT / "configs" / "tiny.yaml").read_bytes()
    (tmp_path / "tiny").write_text("model:\n  hidden_size: 7\n")  # a file of that name wins
    assert load_config("tiny").model.hidden_size == 7
    with pytest.raises(ConfigError, match=r"config file 'tinny' does not exist; .*shipped config: .*tiny"):
        load_config("tinny")


def test_train_with_a_config_name_defaults_the_run_to_its_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus.txt").write_text("the cat sat on the mat.\n" * 60)
    result = run("train", "--config", "tiny", "--set", "data.corpus=corpus.txt", "--set", "train.max_steps=2",
                 "--set", "train.eval_interval=2")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "tiny" / "config.yaml").exists()
    missing = run("train", "--config", "nope")
    assert missing.exit_code == 2 and "config file 'nope' does not exist" in missing.output
