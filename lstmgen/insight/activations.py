"""Record what every unit does while a model reads a text: h, the cell state c, and the gates.

Shapes: T positions (tokens read, one stream), H hidden size, V vocabulary size, K next tokens
kept per position.

``record`` reads a token stream through the whole model as ``score`` does, with the model's own
code: ``LanguageModel.logits(..., record=)`` runs each layer's training ``forward`` (the same
steps, the <eod> resets of ``model.reset_at_eod`` included) and hands back what its cache holds
(``Cell.record``). So the recording is the states the model has, never a second implementation
of its steps. It reads CHUNK positions at a time, carrying the state, and keeps, per position,
the K most likely next tokens. What each cell records (each (T, H)):

    lstm, peephole_lstm   h, c, tanh(c), and the gates i, f, g, o
    gru                   h, and r (reset), u (update), n (candidate)
    gru_cudnn             h, and r (reset), z (update, the share of the old state kept), n
    rnn                   h

``ACTIVATION`` names the quantity the paper (Karpathy, Johnson & Fei-Fei 2015) colours text
by: tanh(c) for the LSTMs; a GRU or an RNN has no cell state, so h. ``GATES`` names the
sigmoid gates whose saturation is measured (g and n are tanh candidates, not gates).
"""

from dataclasses import dataclass
from typing import Dict, List

import numpy as np

ACTIVATION = {"lstm": "tanh(c)", "peephole_lstm": "tanh(c)", "gru": "h", "gru_cudnn": "h", "rnn": "h"}
GATES = {"lstm": ("i", "f", "o"), "peephole_lstm": ("i", "f", "o"), "gru": ("r", "u"), "gru_cudnn": ("r", "z"),
         "rnn": ()}
CHUNK = 1024  # positions read at once: bounds the logits to CHUNK x V and the cells' caches to CHUNK steps

Record = Dict[str, np.ndarray]  # quantity name -> (T, H)


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
    T = len(ids) - 1
    state = model.init_state(1)
    chunks = []  # per chunk: per layer, quantity -> (c, 1, H)
    top_ids, top_probs, next_probs = [], [], np.empty(T)
    for t0 in range(0, T, CHUNK):
        x = ids[t0:min(t0 + CHUNK, T)][:, None]  # (c, 1)
        layers = []
        logits, state = model.logits(params, x, state, record=layers)  # (c, V)
        chunks.append(layers)
        best, probs, logp = _top_tokens(logits.astype(np.float64), top)
        top_ids.append(best)
        top_probs.append(probs)
        next_probs[t0:t0 + len(x)] = np.exp(logp[np.arange(len(logp)), ids[t0 + 1:t0 + len(x) + 1]])
    K = min(top, model.vocab_size)
    return Recording(model.cells[0].name, _joined(chunks, model),
                     np.concatenate(top_ids) if top_ids else np.zeros((0, K), np.int64),
                     np.concatenate(top_probs) if top_probs else np.zeros((0, K)), next_probs)


def _joined(chunks: List[List[Record]], model) -> List[Record]:
    """The chunks' records of each layer, quantity -> (T, H) of the one stream, tanh(c) added."""
    layers = []
    for l, cell in enumerate(model.cells):
        if chunks:
            rec = {q: np.concatenate([c[l][q][:, 0] for c in chunks]) for q in chunks[0][l]}
        else:
            rec = {q: np.zeros((0, model.hidden_size), model.dtype) for q in ("h", *cell.state_names, *cell.gates)}
        if "c" in rec:
            rec["tanh(c)"] = np.tanh(rec["c"])
        layers.append(rec)
    return layers
