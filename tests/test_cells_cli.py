"""Every cell through the whole product: config validation, train, resume, sample, eval."""

import numpy as np
import pytest

from lstmgen.runs.config import load_config
from lstmgen.errors import ConfigError
from lstmgen.nn.model import CELLS, LanguageModel
from tests.helpers import TINY, assert_user_error, run

ALL_CELLS = sorted(CELLS)


def test_config_accepts_every_registered_cell():
    assert set(ALL_CELLS) == {"lstm", "peephole_lstm", "gru", "gru_cudnn", "rnn"}
    for name in ALL_CELLS:
        assert load_config(None, [f"model.cell={name}"]).model.cell == name


@pytest.mark.parametrize("name", ["bidirectional", "bilstm", "BiGRU", "bidirectional_lstm"])
def test_non_causal_cells_are_refused_with_a_reason(name):
    with pytest.raises(ConfigError, match=r"model\.cell.*non-causal.*left to right"):
        load_config(None, [f"model.cell={name}"])


def test_cli_explains_a_bidirectional_cell(tmp_path):
    result = run("train", "--out", tmp_path / "r", "--set", "model.cell=bidirectional")
    assert_user_error(result, 2, "model.cell", "bidirectional", "left to right")


@pytest.mark.parametrize("num_layers", [1, 2, 3, 4])
@pytest.mark.parametrize("name", ALL_CELLS)
def test_every_cell_and_depth_trains_steps_and_agrees_with_itself(name, num_layers):
    """One tiny update lowers nothing in particular, but every path must run and agree:
    loss_and_grads without dropout equals nll, and step-by-step logits equal window logits."""
    model = LanguageModel(name, vocab_size=9, embed_dim=4, hidden_size=5, num_layers=num_layers,
                          dropout=0.2)
    rng = np.random.default_rng(num_layers)
    params = model.init_params(rng)
    x, y = rng.integers(0, 9, (6, 2)), rng.integers(0, 9, (6, 2))
    loss, grads, state = model.loss_and_grads(params, x, y, model.init_state(2))
    nll, state_b = model.nll(params, x, y, model.init_state(2))
    assert loss == pytest.approx(nll / x.size, rel=1e-5)
    assert set(grads) == set(params) and set(state) == set(model.init_state(2))
    logits, _ = model.logits(params, x, model.init_state(2))
    st = model.init_state(2)
    for t in range(6):
        step_logits, st = model.step(params, x[t], st)
        np.testing.assert_allclose(step_logits, logits.reshape(6, 2, 9)[t], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("num_layers", [1, 2, 3, 4])
@pytest.mark.parametrize("name", ALL_CELLS)
def test_every_cell_trains_resumes_exactly_samples_and_evaluates(name, num_layers, tmp_path, text_file):
    sets = ["--set", f"data.corpus={text_file}", "--set", f"model.cell={name}", "--set", f"model.num_layers={num_layers}",
            "--set", "model.dropout=0.2", "--set", "train.eval_interval=3", "--set", "train.seq_len=16"]
    straight = run("train", "--config", TINY, "--out", tmp_path / "a", "--set", "train.max_steps=6", *sets)
    assert straight.exit_code == 0, straight.output
    half = run("train", "--config", TINY, "--out", tmp_path / "b", "--set", "train.max_steps=3", *sets)
    assert half.exit_code == 0, half.output
    resumed = run("train", "--out", tmp_path / "b", "--resume", "--set", "train.max_steps=6")
    assert resumed.exit_code == 0, resumed.output
    load = lambda d: np.load(d / "checkpoints" / "step-00000006" / "model.npz", allow_pickle=False)  # noqa: E731
    a, b = load(tmp_path / "a"), load(tmp_path / "b")
    assert set(a.files) == set(b.files) and f"layers.{num_layers - 1}.W" in a.files
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k])
    sample = run("sample", tmp_path / "b", "--prime", "The ", "--length", "20", "--seed", "1")
    assert sample.exit_code == 0 and sample.output.startswith("The "), sample.output
    evaluated = run("eval", tmp_path / "b", "--corpus", text_file)
    assert evaluated.exit_code == 0 and "bits per char" in evaluated.output, evaluated.output
