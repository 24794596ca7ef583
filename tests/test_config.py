"""Config layering and validation: every mistake names the place, the key and what was expected."""

import dataclasses

import pytest

import json

from lstmgen.runs.config import (DURATION_FORMS, Config, all_keys, describe_keys, dump_config, duration_seconds,
                                 load_config, read_saved_config)
from lstmgen.errors import ConfigError
from tests.helpers import ROOT


def test_default_yaml_equals_builtin_defaults():
    # `lstmgen train` with no arguments and with --config configs/default.yaml train the same model
    assert load_config(ROOT / "configs" / "default.yaml") == Config()


SHIPPED = sorted(path.stem for path in (ROOT / "configs").glob("*.yaml"))


def test_the_shipped_configs_are_found():
    assert {"default", "tiny", "text-file", "csv", "classic-word-lstm", "regularised"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_configs_load(name):
    load_config(ROOT / "configs" / f"{name}.yaml")


def test_layers_defaults_file_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  hidden_size: 32\ntrain:\n  learning_rate: 0.01\n")
    cfg = load_config(path, ["train.learning_rate=1e-3", "data.csv_column=text", "train.max_epochs=2"])
    assert cfg.model.hidden_size == 32
    assert cfg.train.learning_rate == 0.001  # YAML reads 1e-3 as a string; we take it as a number
    assert cfg.data.csv_column == "text"
    assert cfg.train.max_epochs == 2.0
    assert cfg.model.num_layers == Config().model.num_layers


def test_misspelled_key_in_file_suggests_nearest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  hiden_size: 32\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown key 'model\.hiden_size'; did you mean 'model\.hidden_size'"):
        load_config(path)


def test_misspelled_section_and_override():
    with pytest.raises(ConfigError, match=r"--set trian.seed=1: unknown key 'trian.seed'; did you mean 'train.seed'"):
        load_config(None, ["trian.seed=1"])


@pytest.mark.parametrize("override, message", [
    ("model.hidden_size=abc", r"'model.hidden_size' is 'abc'; expected an integer"),
    ("model.hidden_size=0", r"'model.hidden_size' is 0; expected a value >= 1"),
    ("model.dropout=1.5", r"'model.dropout' is 1.5; expected a value < 1.0"),
    ("train.optimizer=rmsprop", r"'train.optimizer' is 'rmsprop'; expected one of: adam, sgd"),
    ("train.learning_rate=true", r"'train.learning_rate' is True; expected a number"),
    ("train.seed", r"expected KEY=VALUE"),
    ("model.cell=bidirectional", r"expected one of"),
])
def test_wrong_values_name_key_value_and_expectation(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, [override])


def test_yaml_problems(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML at line"):
        load_config(bad)
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="expected a mapping of sections"):
        load_config(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")


def test_training_must_end():
    with pytest.raises(ConfigError, match="train.max_steps, train.max_epochs and train.max_time are all null"):
        load_config(None, ["train.max_steps=null"])
    assert load_config(None, ["train.max_steps=null", "train.max_time=90s"]).train.max_time == "90s"


def test_dump_and_read_back_round_trip(tmp_path):
    cfg = load_config(None, ["model.hidden_size=48", "data.csv_column=2"])
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(cfg))
    assert read_saved_config(path) == cfg


def test_every_key_has_help():
    for section in ("data", "tokenizer", "model", "train"):
        for f in dataclasses.fields(getattr(Config(), section)):
            assert f.metadata.get("help"), f"{section}.{f.name}"
    assert "train.seq_len" in all_keys()


def test_describe_keys_matches_the_dataclasses():
    rows = describe_keys()
    assert [r["key"] for r in rows] == all_keys()
    defaults = {f"{s}.{k}": v for s, keys in Config().to_dict().items() for k, v in keys.items()}
    assert {r["key"]: r["default"] for r in rows} == defaults
    json.dumps(rows)  # `lstmgen config --json` prints it as is
    by_key = {r["key"]: r for r in rows}
    assert by_key["train.optimizer"]["allowed"] == "one of: adam, sgd"
    assert by_key["model.num_layers"]["allowed"] == ">= 1 and <= 8"
    assert by_key["train.max_steps"]["type"] == "int or null"
    assert by_key["data.encoding"]["allowed"] == ""


@pytest.mark.parametrize("row", describe_keys(), ids=lambda r: r["key"])
def test_describe_keys_bounds_are_the_enforced_ones(row):
    # a value just outside each stated bound is refused by load_config, one just inside is accepted
    if row["allowed"] == DURATION_FORMS:  # a duration: seconds or a number with a unit
        load_config(None, [f"{row['key']}=10m"])
        with pytest.raises(ConfigError, match=row["key"]):
            load_config(None, [f"{row['key']}=0"])
        return
    for part in filter(None, row["allowed"].split(" and ")):
        if part.startswith("one of"):
            with pytest.raises(ConfigError, match="expected one of"):
                load_config(None, [f"{row['key']}=not-a-choice"])
            continue
        sign, bound = part.split()
        outside = {">=": -1, ">": 0, "<=": 1, "<": 0}[sign]
        step = 1 if row["type"].startswith("int") else 0.5
        bad = float(bound) + outside * step
        if row["type"].startswith("int"):
            bad = int(bad)
        with pytest.raises(ConfigError, match=row["key"]):
            load_config(None, [f"{row['key']}={bad}"])


def test_a_run_saved_before_reset_at_eod_keeps_carrying_its_state(tmp_path):
    from lstmgen.runs.config import dump_config, load_config, read_saved_config

    new = tmp_path / "new.yaml"
    new.write_text(dump_config(load_config()), "utf-8")
    assert read_saved_config(new).model.reset_at_eod is True
    old = tmp_path / "old.yaml"
    old.write_text(new.read_text("utf-8").replace("  reset_at_eod: true\n", ""), "utf-8")
    assert "reset_at_eod" not in old.read_text("utf-8")
    assert read_saved_config(old).model.reset_at_eod is False


@pytest.mark.parametrize("value, seconds", [(600, 600.0), ("90s", 90.0), ("10m", 600.0), ("2h", 7200.0),
                                            ("1.5m", 90.0), (" 45 ", 45.0)])
def test_max_time_reads_seconds_or_a_unit(value, seconds):
    assert duration_seconds(value) == seconds
    assert load_config(None, [f"train.max_time={value}"]).train.max_time is not None


@pytest.mark.parametrize("value", ["ten minutes", "10x", "-5", "0", "0m", "m"])
def test_a_bad_max_time_is_one_line_naming_the_key_and_the_forms(value):
    with pytest.raises(ConfigError) as e:
        load_config(None, [f"train.max_time={value}"])
    assert "train.max_time" in str(e.value) and "90s, 10m, 2h" in str(e.value) and "\n" not in str(e.value)


def test_a_time_budget_takes_its_choices_where_the_user_chose_nothing(tmp_path):
    budget = load_config(None, ["train.max_time=10m"])
    assert (budget.train.max_steps, budget.train.learning_rate, budget.model.dropout, budget.train.lr_schedule) == \
        (None, 0.004, 0.2, "plateau")
    assert load_config(None, ["train.max_time=10m", "train.learning_rate=0.001"]).train.learning_rate == 0.001
    assert load_config("default", ["train.max_time=10m"]).train.max_steps is None  # the shipped default chose nothing
    assert load_config(None, ["train.max_time=10m", "train.max_steps=300"]).train.max_steps == 300
    path = tmp_path / "my.yaml"
    path.write_text("train: {max_steps: 400}\n")
    assert load_config(path, ["train.max_time=10m"]).train.max_steps == 400
    assert load_config(None, []).train.max_steps == 5000  # no budget: the defaults
    resumed = load_config(None, ["train.max_time=10m"], base=Config())  # a resumed run keeps its config
    assert (resumed.train.max_steps, resumed.train.learning_rate) == (5000, 0.002)
