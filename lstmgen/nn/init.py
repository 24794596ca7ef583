"""Initialisation schemes of a whole model, chosen by ``model.init``.

A fused weight W of shape (D+H, kH) holds k gate blocks W[:, jH:(j+1)H]; rows W[:D] are the
input part W_x, rows W[D:] the recurrent part W_h; b (kH,) holds the gates' biases in the
cell's order (``Cell.gates``). The embedding is N(0, 1) under every scheme (tied to the head:
uniform(±1/√E)), the head weight uniform(±1/√H). The schemes differ in W, the biases and the
head bias:

  scheme       W                               biases b                           head bias
  pytorch      uniform(±1/√H)                  bias_ih + bias_hh, each ±1/√H      uniform(±1/√H)
  forget_bias  uniform(±1/√H)                  as pytorch, forget gate 1          uniform(±1/√H)
  chrono       uniform(±1/√H)                  as pytorch, chrono forget/input    uniform(±1/√H)
  xavier       Xavier per gate block           as pytorch                         uniform(±1/√H)
  orthogonal   W_h orthogonal, W_x Xavier      as pytorch                         uniform(±1/√H)
  uniform      uniform(±1/√H)                  0, forget gate 1                   0
So every scheme but ``uniform`` is PyTorch's with one thing changed; ``uniform`` is lstmgen's
first scheme (torch-rnn's), kept so that the runs made with it can be repeated.

- ``pytorch`` is exactly PyTorch's default for nn.Embedding, nn.LSTM / nn.GRU / nn.RNN and
  nn.Linear: every weight and both bias vectors uniform(±1/√H), so the fused b = bias_ih +
  bias_hh is the sum of two such draws (gru_cudnn: see ``GRUCuDNN.pytorch_biases``).
- ``forget_bias``: Jozefowicz et al. (2015): the forget gate's bias 1, so that the cell keeps
  its memory and gradients flow back in time from the start. "Forget gate" means the gate whose
  σ(sign · a) is the share of the old state kept (``Cell.forget_gate``): the LSTM's f, the update
  gate of gru_cudnn (z) and of gru (u, with sign -1: its bias is set to -1). The rnn has none.
- ``chrono``: Tallec & Ollivier (2018), "Can recurrent neural networks warp time?": the forget
  gate's bias log(U[1, T_max - 1]) per unit, so that the units start with memory time scales
  spread between 1 and T_max steps, and the LSTM input gate's bias its negative; T_max =
  ``CHRONO_T_MAX``.
- ``xavier``: Glorot & Bengio (2010): uniform(±√(6 / (D + H + H))) per gate block, fan-in D + H.
- ``orthogonal``: Saxe et al. (2014): each H×H recurrent block W_h a random orthogonal matrix
  (so repeated multiplication neither grows nor shrinks the state at the start), the input
  blocks W_x Xavier-uniform (fan-in D, fan-out H).
- ``uniform``: the cell's own ``init_params`` (lstmgen's first scheme, torch-rnn's).
The peephole LSTM's peepholes start at zero under every scheme (training starts from an LSTM).
"""

import numpy as np

# model.init value -> its one-line help (the choices of config.py; docs/initialisation.md compares them)
SCHEMES = {
    "pytorch": "PyTorch's defaults: weights and both bias vectors uniform ±1/√H, head bias too",
    "forget_bias": "as pytorch, but the forget gate's bias 1 (Jozefowicz et al. 2015)",
    "chrono": "as pytorch, but chrono forget/input-gate biases (Tallec & Ollivier 2018)",
    "xavier": "as pytorch, but weights Glorot-uniform per gate block",
    "orthogonal": "as pytorch, but orthogonal recurrent blocks and Xavier input blocks",
    "uniform": "lstmgen's first scheme: weights ±1/√H, biases 0 but the forget gate's 1, head bias 0",
}
CHRONO_T_MAX = 100  # chrono's longest time scale in steps (tokens): about a train.seq_len


def orthogonal(rng, n, dtype):
    """A random (n, n) orthogonal matrix: QR of a Gaussian matrix, signs fixed so it is uniform."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return (q * np.sign(np.diag(r))).astype(dtype)  # (n, n)


def fused_weight(rng, scheme, D, H, k, dtype):
    """A (D+H, kH) fused weight under ``xavier`` or ``orthogonal``."""
    W = np.empty((D + H, k * H), dtype)  # (D+H, kH)
    for j in range(k):
        block = W[:, j * H:(j + 1) * H]  # (D+H, H)
        if scheme == "xavier":
            bound = np.sqrt(6.0 / (D + H + H))
            block[...] = rng.uniform(-bound, bound, (D + H, H))
        elif scheme == "orthogonal":
            bound = np.sqrt(6.0 / (D + H))
            block[:D] = rng.uniform(-bound, bound, (D, H))
            block[D:] = orthogonal(rng, H, dtype)
        else:
            raise ValueError(f"unknown initialisation scheme {scheme!r}; expected xavier or orthogonal")
    return W


def _gate(cell, name):
    """The slice of gate ``name`` on the fused kH axis."""
    j, H = cell.gates.index(name), cell.hidden_size
    return slice(j * H, (j + 1) * H)


def cell_params(cell, rng, scheme, dtype):
    """The parameters of one cell under ``scheme`` (see the module docstring)."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown initialisation scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    params = cell.init_params(rng, dtype)  # W uniform(±1/√H) and the cell's own biases
    H = cell.hidden_size
    if scheme in ("xavier", "orthogonal"):
        D, kH = params["W"].shape[0] - H, params["W"].shape[1]
        params["W"] = fused_weight(rng, scheme, D, H, kH // H, dtype)
    if scheme == "uniform":
        return params
    params.update(cell.pytorch_biases(rng, dtype))
    if cell.forget_gate is None:
        return params
    gate, sign = cell.forget_gate
    b = params["b"]  # (kH,)
    if scheme == "forget_bias":
        b[_gate(cell, gate)] = sign * 1.0
    elif scheme == "chrono":
        forget = np.log(rng.uniform(1.0, CHRONO_T_MAX - 1.0, H))  # (H,) time scales 1 .. T_max - 1
        b[_gate(cell, gate)] = sign * forget
        if cell.input_gate is not None:
            b[_gate(cell, cell.input_gate)] = -forget
    return params


def head_bias(rng, scheme, H, V, dtype):
    """The head's bias (V,): uniform(±1/√H) as nn.Linear under PyTorch's biases, else 0."""
    if scheme != "uniform":
        return rng.uniform(-1.0 / np.sqrt(H), 1.0 / np.sqrt(H), V).astype(dtype)
    return np.zeros(V, dtype)
