"""Record what every unit does while a model reads a text: h, the cell state c, and the gates.

Shapes: T positions (tokens read, one stream), D input size, H hidden size, V vocabulary size,
K next tokens kept per position.

``trace`` runs one layer's cell over a whole sequence, one step at a time, one line per
equation, with the cell's own parameters (its equations are in the cell's module docstring),
and keeps every intermediate value. It is a second, naive implementation beside the cells'
fused ``forward``: slower, and independent of their buffers, so the tests compare its h and
final state with ``forward_inference``'s. What each cell records (each (T, H)):

    lstm, peephole_lstm   h, c, tanh(c), and the gates i, f, g, o
    gru                   h, and r (reset), u (update), n (candidate)
    gru_cudnn             h, and r (reset), z (update, the share of the old state kept), n
    rnn                   h

``ACTIVATION`` names the quantity the paper (Karpathy, Johnson & Fei-Fei 2015) colours text
by: tanh(c) for the LSTMs; a GRU or an RNN has no cell state, so h. ``GATES`` names the
sigmoid gates whose saturation is measured (g and n are tanh candidates, not gates).

``record`` reads a token stream through the whole model (embedding, every layer, the head) as
``score`` does and keeps, per position, the K most likely next tokens.
"""

from dataclasses import dataclass
from typing import Dict, List

import numpy as np

ACTIVATION = {"lstm": "tanh(c)", "peephole_lstm": "tanh(c)", "gru": "h", "gru_cudnn": "h", "rnn": "h"}
GATES = {"lstm": ("i", "f", "o"), "peephole_lstm": ("i", "f", "o"), "gru": ("r", "u"), "gru_cudnn": ("r", "z"),
         "rnn": ()}
CHUNK = 1024  # positions sent through the head at once: bounds the logits to CHUNK x V

Record = Dict[str, np.ndarray]  # quantity name -> (T, H)


def _sigmoid(a):
    return 0.5 * (1.0 + np.tanh(0.5 * a))  # σ(a), never overflows


def _empty(names, T, H, dtype) -> Record:
    return {name: np.empty((T, H), dtype) for name in names}


def _trace_lstm(params, x, state):
    """lstm and peephole_lstm (p = 0 is the plain LSTM): x (T, D), (h0, c0) each (H,)."""
    W, b = params["W"], params["b"]
    T, D = x.shape
    H = W.shape[1] // 4
    p = params.get("p", np.zeros(3 * H, W.dtype))  # (3H,) peepholes p_i, p_f, p_o
    p_i, p_f, p_o = p[:H], p[H:2 * H], p[2 * H:]
    h, c = state
    ax = x @ W[:D] + b  # (T, 4H) the input part of every step
    rec = _empty(("h", "c", "i", "f", "g", "o"), T, H, W.dtype)
    for t in range(T):
        a = ax[t] + h @ W[D:]  # (4H,)
        i = _sigmoid(a[:H] + p_i * c)
        f = _sigmoid(a[H:2 * H] + p_f * c)
        g = np.tanh(a[2 * H:3 * H])
        c = f * c + i * g
        o = _sigmoid(a[3 * H:] + p_o * c)
        h = o * np.tanh(c)
        for name, v in (("h", h), ("c", c), ("i", i), ("f", f), ("g", g), ("o", o)):
            rec[name][t] = v
    rec["tanh(c)"] = np.tanh(rec["c"])
    return rec, (h, c)


def _trace_gru(params, x, state):
    """Cho et al.'s GRU: x (T, D), (h0,) (H,)."""
    W, b = params["W"], params["b"]
    T, D = x.shape
    H = W.shape[1] // 3
    h, = state
    ax = x @ W[:D] + b  # (T, 3H)
    Wh = W[D:]  # (H, 3H)
    rec = _empty(("h", "r", "u", "n"), T, H, W.dtype)
    for t in range(T):
        r = _sigmoid(ax[t, :H] + h @ Wh[:, :H])
        u = _sigmoid(ax[t, H:2 * H] + h @ Wh[:, H:2 * H])
        n = np.tanh(ax[t, 2 * H:] + (r * h) @ Wh[:, 2 * H:])
        h = (1 - u) * h + u * n
        for name, v in (("h", h), ("r", r), ("u", u), ("n", n)):
            rec[name][t] = v
    return rec, (h,)


def _trace_gru_cudnn(params, x, state):
    """The cuDNN GRU: x (T, D), (h0,) (H,)."""
    W, b, b_hn = params["W"], params["b"], params["b_hn"]
    T, D = x.shape
    H = W.shape[1] // 3
    h, = state
    ax = x @ W[:D] + b  # (T, 3H)
    rec = _empty(("h", "r", "z", "n"), T, H, W.dtype)
    for t in range(T):
        ah = h @ W[D:]  # (3H,)
        r = _sigmoid(ax[t, :H] + ah[:H])
        z = _sigmoid(ax[t, H:2 * H] + ah[H:2 * H])
        n = np.tanh(ax[t, 2 * H:] + r * (ah[2 * H:] + b_hn))
        h = (1 - z) * n + z * h
        for name, v in (("h", h), ("r", r), ("z", z), ("n", n)):
            rec[name][t] = v
    return rec, (h,)


def _trace_rnn(params, x, state):
    """The tanh RNN: x (T, D), (h0,) (H,)."""
    W, b = params["W"], params["b"]
    T, D = x.shape
    h, = state
    ax = x @ W[:D] + b  # (T, H)
    rec = _empty(("h",), T, W.shape[1], W.dtype)
    for t in range(T):
        h = np.tanh(ax[t] + h @ W[D:])
        rec["h"][t] = h
    return rec, (h,)


_TRACES = {"lstm": _trace_lstm, "peephole_lstm": _trace_lstm, "gru": _trace_gru, "gru_cudnn": _trace_gru_cudnn,
           "rnn": _trace_rnn}


def trace(cell, params, x: np.ndarray, state: tuple):
    """One layer over one stream: x (T, D), state (one (H,) array per ``cell.state_names``) ->
    the record (quantity -> (T, H)) and the state after the last step."""
    return _TRACES[cell.name](params, x, tuple(state))


@dataclass
class Recording:
    cell: str  # model.cell
    layers: List[Record]  # per layer: quantity -> (T, H)
    top_ids: np.ndarray  # (T, K) the most likely next tokens after each position, most likely first
    top_probs: np.ndarray  # (T, K) their probabilities
    next_probs: np.ndarray  # (T,) the probability of the token that did come next

    @property
    def activation(self) -> str:
        return ACTIVATION[self.cell]


def _top_tokens(logits: np.ndarray, k: int):
    """logits (M, V) -> the k most likely ids (M, k) and their probabilities, and the log-normaliser."""
    z = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(z).sum(axis=1, keepdims=True))  # (M, 1)
    k = min(k, z.shape[1])
    top = np.argpartition(-z, k - 1, axis=1)[:, :k]  # (M, k) unordered
    order = np.argsort(-np.take_along_axis(z, top, axis=1), axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    return top, np.exp(np.take_along_axis(z, top, axis=1) - log_norm), z - log_norm


def record(model, params, ids: np.ndarray, top: int = 5) -> Recording:
    """Read ``ids[:-1]`` from a zero state (one stream) and record every layer at every position;
    the predictions at position t are for ``ids[t + 1]``."""
    ids = np.asarray(ids, np.int64)
    x = params["embed.W"][ids[:-1]]  # (T, E)
    layers = []
    for l, cell in enumerate(model.cells):
        state = [s[0] for s in cell.init_state(1, model.dtype)]
        rec, _ = trace(cell, model._layer(params, l), x, state)
        layers.append(rec)
        x = rec["h"]  # (T, H) the next layer's input
    T = len(ids) - 1
    top_ids, top_probs, next_probs = [], [], np.empty(T)
    for t0 in range(0, T, CHUNK):
        logits = model._head(params, x[t0:t0 + CHUNK]).astype(np.float64)  # (c, V)
        best, probs, logp = _top_tokens(logits, top)
        top_ids.append(best)
        top_probs.append(probs)
        next_probs[t0:t0 + CHUNK] = np.exp(logp[np.arange(len(logp)), ids[t0 + 1:t0 + CHUNK + 1]])
    K = min(top, model.vocab_size)
    return Recording(model.cells[0].name, layers,
                     np.concatenate(top_ids) if top_ids else np.zeros((0, K), np.int64),
                     np.concatenate(top_probs) if top_probs else np.zeros((0, K)), next_probs)
