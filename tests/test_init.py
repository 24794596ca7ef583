"""The initialisation schemes of ``model.init`` (nn/init.py): what each sets, against its definition.

``pytorch`` is compared with PyTorch itself (moments and ranges of freshly built nn.LSTM /
nn.GRU / nn.Linear) when torch is importable; the others with their papers' formulas.
"""

import inspect

import numpy as np
import pytest

from lstmgen.runs.config import load_config
from lstmgen.runs.defaults import ModelConfig
from lstmgen.errors import ConfigError
from lstmgen.nn.model import CELLS, LanguageModel
from lstmgen.nn.init import CHRONO_T_MAX, SCHEMES, cell_params

from tests.helpers import ROOT

V, E, H = 11, 6, 400  # H large enough for moments to within a few per cent


def init(cell, scheme, H=H, seed=0):
    model = LanguageModel(cell, V, E, H, num_layers=2, init=scheme, dtype=np.float64)
    return model.init_params(np.random.default_rng(seed))


def gate(params, cell, name, layer=0):
    k = CELLS[cell].gates.index(name)
    return params[f"layers.{layer}.b"][k * H:(k + 1) * H]


@pytest.mark.parametrize("cell", sorted(CELLS))
@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_every_scheme_gives_every_parameter_finite_and_shaped(cell, scheme):
    model = LanguageModel(cell, V, E, 8, num_layers=2, init=scheme)
    params = model.init_params(np.random.default_rng(0))
    assert {k: v.shape for k, v in params.items()} == model.param_shapes()
    assert all(v.dtype == np.float32 and np.isfinite(v).all() for v in params.values())


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_pytorch_biases_are_sums_of_two_uniforms(cell):
    p = init(cell, "pytorch")
    bound = 1 / np.sqrt(H)
    b = np.concatenate([init(cell, "pytorch", seed=s)["layers.1.b"] for s in range(4)])  # (4kH,)
    one_draw = np.zeros(b.shape, bool)
    if cell == "gru_cudnn":  # b[2H:] is bias_ih_n alone; bias_hh_n is b_hn
        one_draw.reshape(4, 3 * H)[:, 2 * H:] = True
        assert np.abs(p["layers.1.b_hn"]).max() <= bound
        assert np.var(p["layers.1.b_hn"]) == pytest.approx(bound**2 / 3, rel=0.15)
    assert np.abs(b).max() <= 2 * bound and np.abs(b[one_draw]).max(initial=0) <= bound
    assert np.var(b[~one_draw]) == pytest.approx(2 * bound**2 / 3, rel=0.1)  # two independent draws
    assert np.abs(p["head.b"]).max() <= bound and np.abs(p["head.b"]).max() > 0
    assert np.abs(p["layers.0.W"]).max() <= bound


@pytest.mark.parametrize("cell, twin", [("lstm", "LSTM"), ("gru_cudnn", "GRU"), ("rnn", "RNN")])
def test_pytorch_scheme_is_pytorchs(cell, twin):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    ref = getattr(torch.nn, twin)(E, H, 1)
    head = torch.nn.Linear(H, V)
    ours = init(cell, "pytorch")
    W = np.concatenate([ref.weight_ih_l0.detach().numpy().T, ref.weight_hh_l0.detach().numpy().T])  # (E+H, kH)
    b_ih, b_hh = ref.bias_ih_l0.detach().numpy(), ref.bias_hh_l0.detach().numpy()
    b = b_ih + b_hh
    if cell == "gru_cudnn":
        b = b_ih + np.concatenate([b_hh[:2 * H], np.zeros(H)])
        assert np.std(ours["layers.0.b_hn"]) == pytest.approx(np.std(b_hh[2 * H:]), rel=0.15)
    assert np.std(ours["layers.0.W"]) == pytest.approx(np.std(W), rel=0.02)
    assert np.std(ours["layers.0.b"]) == pytest.approx(np.std(b), rel=0.1)
    assert np.abs(ours["layers.0.b"]).max() <= 2 / np.sqrt(H) and np.abs(b).max() <= 2 / np.sqrt(H)
    assert np.std(ours["head.b"]) == pytest.approx(np.std(head.bias.detach().numpy()), rel=0.5)  # V = 11 draws
    assert np.std(ours["embed.W"]) == pytest.approx(1.0, rel=0.15)  # nn.Embedding: N(0, 1)


@pytest.mark.parametrize("cell, forget, sign", [("lstm", "f", 1), ("peephole_lstm", "f", 1), ("gru_cudnn", "z", 1),
                                                ("gru", "u", -1)])
def test_forget_bias_sets_the_forget_gate_to_one(cell, forget, sign):
    p = init(cell, "forget_bias")
    for layer in (0, 1):
        np.testing.assert_array_equal(gate(p, cell, forget, layer), sign * np.ones(H))
    others = [g for g in CELLS[cell].gates if g != forget]
    for g in others:  # the other gates keep PyTorch's biases
        assert np.abs(gate(p, cell, g)).max() <= 2 / np.sqrt(H) and np.std(gate(p, cell, g)) > 0
    assert np.abs(p["head.b"]).max() > 0


@pytest.mark.parametrize("cell, forget, sign", [("lstm", "f", 1), ("peephole_lstm", "f", 1), ("gru_cudnn", "z", 1),
                                                ("gru", "u", -1)])
def test_chrono_spreads_the_forget_time_scales(cell, forget, sign):
    p = init(cell, "chrono")
    bf = sign * gate(p, cell, forget)
    assert bf.min() >= 0 and bf.max() <= np.log(CHRONO_T_MAX - 1)
    # log(U[1, T_max - 1]): the time scales exp(b_f) are uniform, so their mean is T_max / 2
    assert np.exp(bf).mean() == pytest.approx(CHRONO_T_MAX / 2, rel=0.1)
    if CELLS[cell].input_gate:
        np.testing.assert_array_equal(gate(p, cell, "i"), -gate(p, cell, "f"))


def test_uniform_keeps_zero_biases_and_the_forget_gate_at_one():
    p = init("lstm", "uniform")
    np.testing.assert_array_equal(gate(p, "lstm", "f"), np.ones(H))
    for g in "igo":
        np.testing.assert_array_equal(gate(p, "lstm", g), np.zeros(H))
    np.testing.assert_array_equal(p["head.b"], np.zeros(V))
    np.testing.assert_array_equal(init("gru_cudnn", "uniform")["layers.0.b_hn"], np.zeros(H))


@pytest.mark.parametrize("scheme", ["xavier", "orthogonal"])
def test_weight_schemes_keep_pytorchs_biases(scheme):
    """xavier and orthogonal change W only; their biases are PyTorch's (checked by distribution)."""
    p = init("lstm", scheme)
    assert np.abs(p["layers.0.b"]).max() <= 2 / np.sqrt(H)
    assert np.var(p["layers.0.b"]) == pytest.approx(2 / (3 * H), rel=0.15)
    assert np.abs(p["head.b"]).max() > 0


def test_rnn_has_no_forget_gate_so_its_schemes_are_pytorchs():
    for scheme in ("forget_bias", "chrono"):
        np.testing.assert_array_equal(init("rnn", scheme)["layers.0.b"], init("rnn", "pytorch")["layers.0.b"])


def test_unknown_schemes_are_refused():
    with pytest.raises(ConfigError, match=r"'model.init' is 'he'; expected one of: " + ", ".join(SCHEMES)):
        load_config(None, ["model.init=he"])
    with pytest.raises(ValueError, match="unknown initialisation scheme 'he'"):
        cell_params(CELLS["lstm"](2, 3), np.random.default_rng(0), "he", np.float32)


def test_the_model_the_config_and_the_default_run_share_one_default():
    default = inspect.signature(LanguageModel).parameters["init"].default
    assert default == ModelConfig().init == "orthogonal"  # chosen by benchmarks/quality.py: docs/initialisation.md
    assert load_config(ROOT / "configs" / "default.yaml").model.init == default
