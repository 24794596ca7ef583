"""The whole model against PyTorch: the same weights in nn.Embedding + nn.LSTM + nn.Linear give
the same loss, logits and gradients (the README's loading recipe, checked). Skipped without torch."""

import numpy as np
import pytest

from lstmgen.nn.model import LanguageModel
from tests.helpers import rel_error

torch = pytest.importorskip("torch")


def to_torch(model, params):
    """The README's recipe: lstmgen weights -> torch modules (float64)."""
    V, E, H, L = model.vocab_size, model.embed_dim, model.hidden_size, model.num_layers
    embed = torch.nn.Embedding(V, E).double()
    lstm = torch.nn.LSTM(E, H, L).double()
    head = torch.nn.Linear(H, V).double()
    with torch.no_grad():
        embed.weight.copy_(torch.from_numpy(params["embed.W"]))
        for k in range(L):
            W, D = params[f"layers.{k}.W"], (E if k == 0 else H)
            getattr(lstm, f"weight_ih_l{k}").copy_(torch.from_numpy(W[:D].T.copy()))
            getattr(lstm, f"weight_hh_l{k}").copy_(torch.from_numpy(W[D:].T.copy()))
            getattr(lstm, f"bias_ih_l{k}").copy_(torch.from_numpy(params[f"layers.{k}.b"]))
            getattr(lstm, f"bias_hh_l{k}").zero_()
        head.weight.copy_(torch.from_numpy(params["head.W"].T.copy()))
        head.bias.copy_(torch.from_numpy(params["head.b"]))
    return embed, lstm, head


def test_same_loss_logits_and_gradients_as_torch():
    model = LanguageModel("lstm", vocab_size=11, embed_dim=6, hidden_size=8, num_layers=2, dtype=np.float64,
                          reset_at_eod=False)  # torch.nn.LSTM has no reset at <eod>
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    T, N = 7, 3
    x, y = rng.integers(0, 11, (T, N)), rng.integers(0, 11, (T, N))
    state = {k: rng.standard_normal(v.shape) * 0.3 for k, v in model.init_state(N).items()}
    loss, grads, new_state = model.loss_and_grads(params, x, y, state)
    logits, _ = model.logits(params, x, state)

    embed, lstm, head = to_torch(model, params)
    h0 = torch.from_numpy(np.stack([state[f"layers.{k}.h"] for k in range(2)]))
    c0 = torch.from_numpy(np.stack([state[f"layers.{k}.c"] for k in range(2)]))
    out, (hT, cT) = lstm(embed(torch.from_numpy(x)), (h0, c0))
    t_logits = head(out).reshape(T * N, 11)
    t_loss = torch.nn.functional.cross_entropy(t_logits, torch.from_numpy(y).reshape(-1))
    t_loss.backward()

    assert loss == pytest.approx(t_loss.item(), rel=1e-12)
    assert rel_error(logits, t_logits.detach().numpy()) <= 1e-10
    np.testing.assert_allclose(new_state["layers.1.h"], hT[1].detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(new_state["layers.0.c"], cT[0].detach().numpy(), rtol=1e-10)
    assert rel_error(grads["embed.W"], embed.weight.grad.numpy()) <= 1e-5
    assert rel_error(grads["head.W"], head.weight.grad.numpy().T) <= 1e-5
    assert rel_error(grads["head.b"], head.bias.grad.numpy()) <= 1e-5
    for k in range(2):
        D = 6 if k == 0 else 8
        dW = grads[f"layers.{k}.W"]
        assert rel_error(dW[:D], getattr(lstm, f"weight_ih_l{k}").grad.numpy().T) <= 1e-5
        assert rel_error(dW[D:], getattr(lstm, f"weight_hh_l{k}").grad.numpy().T) <= 1e-5
        assert rel_error(grads[f"layers.{k}.b"], getattr(lstm, f"bias_ih_l{k}").grad.numpy()) <= 1e-5
