"""Dropout kinds, weight tying, decoupled weight decay and initialisation schemes."""

import numpy as np
import pytest

from lstmgen.runs.config import load_config
from lstmgen.errors import ConfigError
from lstmgen.nn.model import CELLS, LanguageModel
from lstmgen.nn.dropout import locked_mask, token_mask
from lstmgen.nn.init import fused_weight
from lstmgen.training.optim import SGD, Adam, decay_weights
from tests.helpers import ROOT, TINY, numeric_grad, rel_error, run

ALL_ON = dict(dropout=0.2, embed_dropout=0.3, input_dropout=0.25, hidden_dropout=0.2, output_dropout=0.3)


def tiny_model(cell="lstm", E=4, H=5, num_layers=2, **kw):
    return LanguageModel(cell, vocab_size=7, embed_dim=E, hidden_size=H, num_layers=num_layers,
                         dtype=np.float64, **kw)


# ---- every new parameter and mask through the full-model gradient check --------------------
@pytest.mark.parametrize("cell, E, tie", [
    ("lstm", 4, True),  # tied through a projection (E != H)
    ("lstm", 5, True),  # tied directly (E == H)
    ("peephole_lstm", 4, True),
    ("gru", 4, False),
    ("gru_cudnn", 4, True),
    ("rnn", 5, False),
])
def test_gradient_check_with_every_regulariser(cell, E, tie):
    model = tiny_model(cell, E=E, tie_weights=tie, **ALL_ON)
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    assert ("head.proj" in params) == (tie and E != 5) and ("head.W" in params) == (not tie)
    x, y = rng.integers(0, 7, (4, 3)), rng.integers(0, 7, (4, 3))  # (T, N)
    state = {k: rng.standard_normal(v.shape) * 0.5 for k, v in model.init_state(3).items()}

    def loss():  # the same masks on every call: a fresh generator with the same seed
        return model.loss_and_grads(params, x, y, state, np.random.default_rng(7))[0]

    _, grads, _ = model.loss_and_grads(params, x, y, state, np.random.default_rng(7))
    assert set(grads) == set(params)
    for key, p in params.items():
        assert rel_error(numeric_grad(loss, p), grads[key]) <= 1e-6, key


def test_dropout_is_training_only_and_changes_the_training_loss():
    model = tiny_model(**ALL_ON)
    rng = np.random.default_rng(1)
    params = model.init_params(rng)
    x, y = rng.integers(0, 7, (5, 3)), rng.integers(0, 7, (5, 3))
    plain, _, _ = model.loss_and_grads(params, x, y, model.init_state(3))
    dropped, _, _ = model.loss_and_grads(params, x, y, model.init_state(3), np.random.default_rng(2))
    nll, _ = model.nll(params, x, y, model.init_state(3))
    assert plain == pytest.approx(nll / x.size, rel=1e-12)
    assert abs(dropped - plain) > 1e-6


def test_zero_probabilities_draw_no_random_numbers():
    """Turning a kind of dropout off leaves the other kinds' masks (and resumed runs) unchanged."""
    model = tiny_model()
    params = model.init_params(np.random.default_rng(0))
    rng = np.random.default_rng(3)
    before = rng.bit_generator.state
    x = np.zeros((3, 2), dtype=np.int64)
    model.loss_and_grads(params, x, x, model.init_state(2), rng)
    assert rng.bit_generator.state == before
    assert locked_mask(rng, 2, 3, 0.0, np.dtype(np.float32)) is None
    assert token_mask(rng, 5, 0.0, np.dtype(np.float32)) is None


def test_locked_mask_is_one_mask_per_stream_for_all_steps():
    p = 0.4
    mask = locked_mask(np.random.default_rng(0), 64, 50, p, np.dtype(np.float32))
    assert mask.shape == (1, 64, 50) and mask.dtype == np.float32
    assert set(np.unique(mask)) == {0.0, np.float32(1 / (1 - p))}
    assert abs((mask == 0).mean() - p) < 0.03  # 3200 draws: 3 standard deviations is 0.026
    h = np.ones((6, 64, 50), np.float32) * mask  # (T, N, F): every step dropped alike
    assert all(np.array_equal(h[t] == 0, h[0] == 0) for t in range(6))


def test_token_dropout_zeroes_whole_rows_of_the_same_token_everywhere():
    model = LanguageModel("rnn", vocab_size=6, embed_dim=3, hidden_size=4, num_layers=1, dtype=np.float64,
                          embed_dropout=0.5)
    params = model.init_params(np.random.default_rng(0))
    x = np.array([[0, 1], [2, 0], [1, 2], [0, 0]])  # (T, N): tokens repeat across steps and streams
    _, grads, _ = model.loss_and_grads(params, x, x, model.init_state(2), np.random.default_rng(5))
    mask = token_mask(np.random.default_rng(5), 6, 0.5, np.dtype(np.float64))
    seen = np.unique(x)
    dropped, kept = seen[mask[seen] == 0], seen[mask[seen] > 0]
    assert len(dropped) and len(kept)  # this seed drops some seen tokens and keeps others
    assert not grads["embed.W"][dropped].any() and grads["embed.W"][kept].any(axis=1).all()


# ---- weight tying --------------------------------------------------------------------------
def test_tied_logits_use_the_embedding_and_step_matches_window():
    model = tiny_model(tie_weights=True)
    rng = np.random.default_rng(4)
    params = model.init_params(rng)
    assert "head.W" not in params and params["head.proj"].shape == (5, 4)
    x = rng.integers(0, 7, (5, 2))
    logits, _ = model.logits(params, x, model.init_state(2))
    params["embed.W"][3] += 1.0  # the head's row for token 3 is the embedding row
    x_without_3 = np.where(x == 3, 0, x)
    before, _ = model.logits(params, x_without_3, model.init_state(2))
    params["embed.W"][3] -= 1.0
    after, _ = model.logits(params, x_without_3, model.init_state(2))
    assert np.abs(before - after)[:, 3].min() > 0 and np.abs(before - after)[:, [0, 1, 2, 4, 5, 6]].max() < 1e-12
    st = model.init_state(2)
    for t in range(5):
        step_logits, st = model.step(params, x[t], st)
        np.testing.assert_allclose(step_logits, logits.reshape(5, 2, 7)[t], rtol=1e-10)


def test_tied_model_has_fewer_parameters():
    untied, tied = tiny_model(E=5), tiny_model(E=5, tie_weights=True)
    assert untied.num_params() - tied.num_params() == 5 * 7  # head.W (H, V) is gone


# ---- decoupled weight decay ----------------------------------------------------------------
def test_decay_weights_shrinks_matrices_only():
    params = {"W": np.full((2, 3), 2.0), "b": np.full(3, 2.0)}
    decay_weights(params, lr=0.1, weight_decay=0.5)
    np.testing.assert_allclose(params["W"], 2.0 * (1 - 0.05))
    np.testing.assert_array_equal(params["b"], 2.0)
    decay_weights(params, lr=0.1, weight_decay=0.0)
    np.testing.assert_allclose(params["W"], 2.0 * (1 - 0.05))


def test_sgd_with_decay_is_decoupled_from_momentum():
    """Decay never enters the momentum buffer: it acts on p alone, step by step."""
    rng = np.random.default_rng(0)
    p0, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    params = {"W": p0.copy()}
    opt = SGD(params, momentum=0.9)
    p, buf = p0.copy(), np.zeros_like(p0)
    for _ in range(3):
        decay_weights(params, 0.1, 0.2)
        opt.step(params, {"W": g}, 0.1)
        p = p * (1 - 0.1 * 0.2)
        buf = 0.9 * buf + g
        p = p - 0.1 * buf
    np.testing.assert_allclose(params["W"], p, rtol=1e-12)
    np.testing.assert_allclose(opt.buf["W"], buf, rtol=1e-12)


def test_adam_with_decay_matches_torch_adamw():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    grads = [{k: rng.standard_normal(v.shape) for k, v in params.items()} for _ in range(4)]
    tW, tb = (torch.tensor(params[k].copy(), requires_grad=True) for k in ("W", "b"))
    topt = torch.optim.AdamW([{"params": [tW], "weight_decay": 0.3}, {"params": [tb], "weight_decay": 0.0}],
                             lr=0.01, betas=(0.9, 0.999), eps=1e-8)
    opt = Adam(params)
    for g in grads:
        decay_weights(params, 0.01, 0.3)
        opt.step(params, g, 0.01)
        tW.grad, tb.grad = torch.from_numpy(g["W"]), torch.from_numpy(g["b"])
        topt.step()
    assert rel_error(params["W"], tW.detach().numpy()) < 1e-12
    assert rel_error(params["b"], tb.detach().numpy()) < 1e-12


# ---- initialisation schemes ----------------------------------------------------------------
@pytest.mark.parametrize("cell", sorted(CELLS))
def test_init_schemes(cell):
    H, E = 6, 4
    uniform = tiny_model(cell, E=E, H=H, init="uniform").init_params(np.random.default_rng(0))
    rng = np.random.default_rng(0)
    rng.standard_normal((7, E))  # the embedding is drawn first
    reference = CELLS[cell](E, H).init_params(rng, np.float64)
    np.testing.assert_array_equal(uniform["layers.0.W"], reference["W"])  # uniform is the cell's own
    ortho = tiny_model(cell, E=E, H=H, init="orthogonal").init_params(np.random.default_rng(0))
    W = ortho["layers.1.W"]  # (H + H, kH)
    for j in range(W.shape[1] // H):
        Wh = W[H:, j * H:(j + 1) * H]
        np.testing.assert_allclose(Wh.T @ Wh, np.eye(H), atol=1e-12)
    xavier = tiny_model(cell, E=E, H=H, init="xavier").init_params(np.random.default_rng(0))
    assert np.abs(xavier["layers.0.W"]).max() <= np.sqrt(6 / (E + 2 * H))
    for key in uniform:
        assert ortho[key].shape == xavier[key].shape == uniform[key].shape


def test_fused_weight_rejects_an_unknown_scheme():
    with pytest.raises(ValueError, match="unknown initialisation"):
        fused_weight(np.random.default_rng(0), "glorot", 2, 3, 4, np.float32)


# ---- configuration and the command line ----------------------------------------------------
def test_config_keys_parse_and_validate():
    cfg = load_config(None, ["model.tie_weights=true", "model.init=orthogonal", "train.weight_decay=0.01",
                             "model.hidden_dropout=0.25"])
    assert cfg.model.tie_weights is True and cfg.model.init == "orthogonal"
    assert cfg.train.weight_decay == 0.01 and cfg.model.hidden_dropout == 0.25
    with pytest.raises(ConfigError, match="'model.tie_weights' is 'maybe'; expected true or false"):
        load_config(None, ["model.tie_weights=maybe"])
    with pytest.raises(ConfigError, match=r"'model.output_dropout' is 1.0; expected a value < 1.0"):
        load_config(None, ["model.output_dropout=1"])
    with pytest.raises(ConfigError, match="'model.init' is 'he'; expected one of: pytorch, "):
        load_config(None, ["model.init=he"])


def test_shipped_regularised_config_loads_and_builds():
    cfg = load_config(ROOT / "configs" / "regularised.yaml")
    assert cfg.model.tie_weights and cfg.model.embed_dim == cfg.model.hidden_size
    model = LanguageModel.from_config(cfg.model, vocab_size=50)
    assert "head.proj" not in model.param_shapes() and "head.W" not in model.param_shapes()


def test_cli_trains_resumes_exactly_and_samples_with_every_regulariser(tmp_path, text_file):
    sets = sum((["--set", s] for s in [
        f"data.corpus={text_file}", "model.num_layers=2", "model.tie_weights=true", "model.init=orthogonal",
        "train.weight_decay=0.1", "train.eval_interval=3", "train.seq_len=16",
        *(f"model.{k}={v}" for k, v in ALL_ON.items())]), [])
    assert run("train", "--config", TINY, "--out", tmp_path / "a", "--set", "train.max_steps=6", *sets).exit_code == 0
    assert run("train", "--config", TINY, "--out", tmp_path / "b", "--set", "train.max_steps=3", *sets).exit_code == 0
    resumed = run("train", "--out", tmp_path / "b", "--resume", "--set", "train.max_steps=6")
    assert resumed.exit_code == 0, resumed.output
    load = lambda d: np.load(d / "checkpoints" / "step-00000006" / "model.npz", allow_pickle=False)  # noqa: E731
    a, b = load(tmp_path / "a"), load(tmp_path / "b")
    assert "head.proj" in a.files and "head.W" not in a.files
    for k in a.files:
        np.testing.assert_array_equal(a[k], b[k])
    sample = run("sample", tmp_path / "b", "--length", "20", "--seed", "1")
    assert sample.exit_code == 0, sample.output


def test_training_applies_weight_decay(tmp_path, text_file):
    """Same seed and data: only train.weight_decay differs, so the first update differs by
    exactly the decay of the weight matrices (Adam's step does not depend on p)."""
    def first_step(out, decay):
        result = run("train", "--config", TINY, "--out", out, "--set", f"data.corpus={text_file}",
                     "--set", "train.max_steps=1", "--set", f"train.weight_decay={decay}",
                     "--set", "train.lr_schedule=constant")
        assert result.exit_code == 0, result.output
        return np.load(out / "checkpoints" / "step-00000001" / "model.npz", allow_pickle=False)

    plain, decayed = first_step(tmp_path / "a", 0.0), first_step(tmp_path / "b", 0.5)
    init = LanguageModel("lstm", len(plain["head.b"]), 16, 32, 1).init_params(
        np.random.default_rng(np.random.SeedSequence(1234).spawn(2)[0]))
    lr = load_config(ROOT / "configs" / "tiny.yaml").train.learning_rate
    for key in plain.files:
        expected = plain[key] - (lr * 0.5 * init[key] if init[key].ndim >= 2 else 0.0)
        np.testing.assert_allclose(decayed[key], expected, rtol=1e-5, atol=1e-7, err_msg=key)
