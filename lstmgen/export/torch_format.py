"""A loaded run as ``torch.nn`` weights: the tensors of ``Embedding``, ``LSTM``/``GRU``/``RNN``
and ``Linear`` under the names ``load_state_dict`` expects, for a safetensors file.

Shapes: E embed_dim, H hidden_size, V vocabulary size, D_K the input size of layer K (E, then H).

    embed.weight        (V, E)       torch.nn.Embedding(V, E)
    rnn.weight_ih_lK    (kH, D_K)    torch.nn.LSTM/GRU/RNN(E, H, L): lstmgen's W[:D].T
    rnn.weight_hh_lK    (kH, H)      W[D:].T
    rnn.bias_ih_lK      (kH,)        b
    rnn.bias_hh_lK      (kH,)        0, except GRU's candidate block: b_hn
    proj.weight         (E, H)       only tied with E != H: torch.nn.Linear(H, E, bias=False), head.proj.T
    head.weight         (V, H)       torch.nn.Linear(H, V): head.W.T; absent when tied (it is embed.weight)
    head.bias           (V,)

PyTorch's gate orders are lstmgen's (LSTM i, f, g, o; GRU r, z, n), so only the rows and
columns are transposed. The cells PyTorch has no module for are refused: the peephole LSTM,
and Cho's GRU (``gru``), whose reset gate acts before the recurrent product (torch.nn.GRU's
acts after it, which is lstmgen's ``gru_cudnn``).
"""

from typing import Dict

import numpy as np

MODULE = {"lstm": "LSTM", "gru_cudnn": "GRU", "rnn": "RNN"}  # cells with a torch.nn twin
TORCH_ORDER = {"lstm": "ifgo", "gru_cudnn": "rzn", "rnn": "h"}  # tests swap an entry to check a wrong layout is caught


def tensors(model, params: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
    """The torch.nn names and arrays (float32, contiguous) of ``model``'s weights ``params``."""
    from .onnx_graph import reorder

    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    out = {"embed.weight": f32(params["embed.W"])}
    for l, cell in enumerate(model.cells):
        D, H = cell.input_size, cell.hidden_size
        have, want = cell.gates, TORCH_ORDER[cell.name]
        W, b = params[f"layers.{l}.W"], params[f"layers.{l}.b"]  # (D+H, kH), (kH,)
        bias_hh = np.zeros_like(b)
        if f"layers.{l}.b_hn" in params:
            n = have.index("n")
            bias_hh[n * H:(n + 1) * H] = params[f"layers.{l}.b_hn"]
        out[f"rnn.weight_ih_l{l}"] = f32(reorder(W[:D].T, have, want))  # (kH, D)
        out[f"rnn.weight_hh_l{l}"] = f32(reorder(W[D:].T, have, want))  # (kH, H)
        out[f"rnn.bias_ih_l{l}"] = f32(reorder(b, have, want))
        out[f"rnn.bias_hh_l{l}"] = f32(reorder(bias_hh, have, want))
    if "head.proj" in params:
        out["proj.weight"] = f32(params["head.proj"].T)  # (E, H)
    if "head.W" in params:
        out["head.weight"] = f32(params["head.W"].T)  # (V, H)
    out["head.bias"] = f32(params["head.b"])
    return out


def serialize(arrays: Dict[str, np.ndarray], metadata: Dict[str, str]) -> bytes:
    """The safetensors bytes of ``arrays`` with string ``metadata`` in its header (no pickle)."""
    from safetensors.numpy import save

    return save(arrays, metadata=metadata)
