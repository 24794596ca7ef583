"""The language model: embedding -> stacked recurrent cells -> linear softmax head.

Shapes: T time steps, N batch (parallel streams), E embed_dim, H hidden_size, V vocab size.
Token ids are time-major ``(T, N)``. Parameters and gradients are dicts with identical keys,
so the optimiser, clipping and checkpoints loop over keys:

    embed.W      (V, E)         one row per token
    layers.L.W   (D_L + H, 4H)  the fused LSTM weight of layer L (D_0 = E, D_L = H above)
    layers.L.b   (4H,)
    head.W       (H, V)
    head.b       (V,)

The carried recurrent state is a dict too: ``layers.L.h`` and ``layers.L.c``, each (N, H).
Dropout (``model.dropout``, training only) is applied to the input of every layer above the
first and to the output of the last layer, with a fresh mask per window.
"""

from typing import Dict, Optional, Tuple

import numpy as np

from .nn.layers import (
    cross_entropy_backward,
    cross_entropy_forward,
    dropout_mask,
    embedding_backward,
    embedding_forward,
    head_backward,
    head_forward,
)
from .nn.gru import GRU, GRUCuDNN
from .nn.lstm import LSTM
from .nn.peephole_lstm import PeepholeLSTM
from .nn.rnn import RNN

CELLS = {cls.name: cls for cls in (LSTM, PeepholeLSTM, GRU, GRUCuDNN, RNN)}

Arrays = Dict[str, np.ndarray]


class LanguageModel:
    """Holds the architecture (not the weights): every method takes ``params`` explicitly."""

    def __init__(self, cell: str, vocab_size: int, embed_dim: int, hidden_size: int, num_layers: int,
                 dropout: float = 0.0, dtype=np.float32):
        self.vocab_size, self.embed_dim, self.hidden_size = vocab_size, embed_dim, hidden_size
        self.num_layers, self.dropout, self.dtype = num_layers, dropout, np.dtype(dtype)
        cls = CELLS[cell]
        self.cells = [cls(embed_dim if l == 0 else hidden_size, hidden_size) for l in range(num_layers)]

    @classmethod
    def from_config(cls, model_cfg, vocab_size: int, dtype=np.float32) -> "LanguageModel":
        m = model_cfg
        return cls(m.cell, vocab_size, m.embed_dim, m.hidden_size, m.num_layers, m.dropout, dtype)

    # ---- parameters and state -------------------------------------------------------------
    def param_shapes(self) -> Dict[str, Tuple[int, ...]]:
        shapes = {"embed.W": (self.vocab_size, self.embed_dim)}
        for l, cell in enumerate(self.cells):
            shapes.update({f"layers.{l}.{k}": s for k, s in cell.param_shapes().items()})
        shapes.update({"head.W": (self.hidden_size, self.vocab_size), "head.b": (self.vocab_size,)})
        return shapes

    def init_params(self, rng: np.random.Generator) -> Arrays:
        """Embedding N(0, 1); cells by their own scheme; head uniform(+-1/sqrt(H)), bias 0."""
        params = {"embed.W": rng.standard_normal((self.vocab_size, self.embed_dim)).astype(self.dtype)}
        for l, cell in enumerate(self.cells):
            params.update({f"layers.{l}.{k}": v for k, v in cell.init_params(rng, self.dtype).items()})
        bound = 1.0 / np.sqrt(self.hidden_size)
        params["head.W"] = rng.uniform(-bound, bound, (self.hidden_size, self.vocab_size)).astype(self.dtype)
        params["head.b"] = np.zeros(self.vocab_size, self.dtype)
        return params

    def num_params(self) -> int:
        return int(sum(np.prod(s) for s in self.param_shapes().values()))

    def init_state(self, N: int) -> Arrays:
        """Zero recurrent state for N streams: ``layers.L.<name>`` -> (N, H)."""
        state = {}
        for l, cell in enumerate(self.cells):
            for name, arr in zip(cell.state_names, cell.init_state(N, self.dtype)):
                state[f"layers.{l}.{name}"] = arr
        return state

    def _layer(self, params: Arrays, l: int) -> Arrays:
        prefix = f"layers.{l}."
        return {k[len(prefix):]: v for k, v in params.items() if k.startswith(prefix)}

    def _layer_state(self, state: Arrays, l: int) -> tuple:
        return tuple(state[f"layers.{l}.{name}"] for name in self.cells[l].state_names)

    def _store_state(self, state: Arrays, l: int, values: tuple) -> None:
        for name, v in zip(self.cells[l].state_names, values):
            state[f"layers.{l}.{name}"] = v

    # ---- training: forward and backward over one window ------------------------------------
    def loss_and_grads(self, params: Arrays, x: np.ndarray, y: np.ndarray, state: Arrays,
                       rng: Optional[np.random.Generator] = None) -> Tuple[float, Arrays, Arrays]:
        """Mean cross-entropy (nats per token) of targets y (T, N) given ids x (T, N).

        Returns the loss, gradients keyed like ``params``, and the state after the window
        (gradients do not flow into earlier windows: truncated BPTT). Dropout needs ``rng``.
        """
        T, N = x.shape
        p = self.dropout if rng is not None else 0.0
        new_state = {}
        # forward: embedding, cells (dropout on inputs above the first layer), dropout, head
        h = embedding_forward(params["embed.W"], x)  # (T, N, E)
        caches, masks = [], []
        for l, cell in enumerate(self.cells):
            mask = dropout_mask(rng, h.shape, p, self.dtype) if l > 0 else None
            h_in = h * mask if mask is not None else h
            h, st, cache = cell.forward(self._layer(params, l), h_in, self._layer_state(state, l))  # (T, N, H)
            self._store_state(new_state, l, st)
            caches.append(cache)
            masks.append(mask)
        out_mask = dropout_mask(rng, h.shape, p, self.dtype)
        h_top = h * out_mask if out_mask is not None else h  # (T, N, H)
        logits = head_forward(params["head.W"], params["head.b"], h_top)  # (T*N, V)
        nll, probs = cross_entropy_forward(logits, y.reshape(-1))
        loss = nll / (T * N)

        # backward: the same steps in reverse
        grads = {}
        dlogits = cross_entropy_backward(probs, y.reshape(-1), 1.0 / (T * N))  # (T*N, V)
        dh, grads["head.W"], grads["head.b"] = head_backward(params["head.W"], h_top, dlogits)
        if out_mask is not None:
            dh *= out_mask  # backprop through output dropout
        for l in reversed(range(self.num_layers)):
            dh, _, layer_grads = self.cells[l].backward(self._layer(params, l), dh, None, caches[l])
            grads.update({f"layers.{l}.{k}": v for k, v in layer_grads.items()})
            if masks[l] is not None:
                dh *= masks[l]  # backprop through dropout between layers
        grads["embed.W"] = embedding_backward(params["embed.W"], x, dh)
        return loss, grads, new_state

    # ---- evaluation and sampling: no caches, no dropout ---------------------------------------
    def logits(self, params: Arrays, x: np.ndarray, state: Arrays) -> Tuple[np.ndarray, Arrays]:
        """Logits (T*N, V) for ids x (T, N), and the state after the window."""
        h = embedding_forward(params["embed.W"], x)  # (T, N, E)
        new_state = {}
        for l, cell in enumerate(self.cells):
            h, st = cell.forward_inference(self._layer(params, l), h, self._layer_state(state, l))
            self._store_state(new_state, l, st)
        return head_forward(params["head.W"], params["head.b"], h), new_state

    def nll(self, params: Arrays, x: np.ndarray, y: np.ndarray, state: Arrays) -> Tuple[float, Arrays]:
        """Summed negative log-likelihood (nats) of y (T, N) given x, and the state after."""
        logits, new_state = self.logits(params, x, state)
        nll, _ = cross_entropy_forward(logits, y.reshape(-1))
        return nll, new_state

    def step(self, params: Arrays, ids: np.ndarray, state: Arrays) -> Tuple[np.ndarray, Arrays]:
        """One token per stream: ids (N,) -> logits (N, V), and the state after it."""
        h = params["embed.W"][ids]  # (N, E)
        new_state = {}
        for l, cell in enumerate(self.cells):
            h, st = cell.step(self._layer(params, l), h, self._layer_state(state, l))
            self._store_state(new_state, l, st)
        return h @ params["head.W"] + params["head.b"], new_state  # (N, V)
