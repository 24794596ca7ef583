"""The language model: embedding -> stacked recurrent cells -> linear softmax head.

Shapes: T time steps, N batch (parallel streams), E embed_dim, H hidden_size, V vocab size.
Token ids are time-major ``(T, N)``. Parameters and gradients are dicts with identical keys,
so the optimiser, clipping and checkpoints loop over keys:

    embed.W      (V, E)         one row per token
    layers.L.W   (D_L + H, 4H)  the fused LSTM weight of layer L (D_0 = E, D_L = H above)
    layers.L.b   (4H,)
    head.W       (H, V)         absent with tie_weights: the head uses embed.W^T
    head.proj    (H, E)         only with tie_weights and E != H: h_t -> embedding space
    head.b       (V,)

Cells with more parameters add them under their own names (peephole_lstm: ``layers.L.p``,
gru_cudnn: ``layers.L.b_hn``), and W is (D_L + H, kH) with k = 4 (LSTMs), 3 (GRUs), 1 (RNN).

The carried recurrent state is a dict too: ``layers.L.h`` and (LSTMs only) ``layers.L.c``, each (N, H).
Generation reads one token per stream at a time through a ``Stepper`` (``stepper(params, N)``),
which reuses its buffers: a state it returns is overwritten two calls later, so a caller that
keeps one keeps ``Stepper.snapshot(state)`` (read-only copies; see sample.py).
Dropout, training only, each kind its own key (0 = off), in the order applied:

    embed_dropout   whole embedding rows of the tokens of the window (one (V,) mask)
    input_dropout   locked: the embedding output, one (1, N, E) mask for all T steps
    dropout         standard: the input of every layer above the first and the last
                    layer's output, a fresh mask for every element of (T, N, H)
    hidden_dropout  locked: the input of every layer above the first, one (1, N, H) mask each
    output_dropout  locked: the last layer's output before the head, one (1, N, H) mask
All masks are drawn per window from the ``rng`` passed to ``loss_and_grads``.

Documents and the carried state (``reset_at_eod``): every document in a token stream is
followed by ``<eod>``, so the next document's first input is that ``<eod>``. With
reset_at_eod, a stream that reads ``<eod>`` reads it from a zero state, as sampling starts a
document; training, evaluation, scoring and sampling all apply the rule (``_eod_mask``), and no
gradient flows back through a reset. Without it the state of one document carries into the next.

Weight tying (``tie_weights``, Press & Wolf 2017; Inan et al. 2017) makes the head reuse
the embedding: logits = (h head.proj) embed.W^T + head.b, where head.proj (H, E) exists only
when E != H (otherwise logits = h embed.W^T + head.b). The tied embed.W then gets gradient
from both ends, and is initialised uniform(±1/√E) instead of N(0, 1) so that the first
logits are small.
"""

import threading
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from .layers import (
    cross_entropy_backward,
    cross_entropy_forward,
    embedding_backward,
    embedding_forward,
    head_backward,
    head_forward,
)
from .dropout import dropout_mask, locked_mask, token_mask
from .gru import GRU, GRUCuDNN
from .init import cell_params, head_bias
from .lstm import LSTM
from .ops import into
from .peephole_lstm import PeepholeLSTM
from .rnn import RNN
from .vocab_space import Tokens, vocab_table
from .workspace import Workspace

_TABLE_FLOATS = 2**20  # sampling looks up layer 0's x W_x + b in a (V, 4H) table up to this size
_VOCAB_SPACE_ROWS = 1  # a window's layer 0 works in vocabulary space when T*N >= this * V (nn/vocab_space.py)

CELLS = {cls.name: cls for cls in (LSTM, PeepholeLSTM, GRU, GRUCuDNN, RNN)}

Arrays = Dict[str, np.ndarray]


class LanguageModel:
    """Holds the architecture (not the weights): every method takes ``params`` explicitly."""

    def __init__(self, cell: str, vocab_size: int, embed_dim: int, hidden_size: int, num_layers: int,
                 dropout: float = 0.0, dtype=np.float32, *, embed_dropout: float = 0.0,
                 input_dropout: float = 0.0, hidden_dropout: float = 0.0, output_dropout: float = 0.0,
                 tie_weights: bool = False, init: str = "orthogonal", reset_at_eod: bool = True, eod_id: int = 1,
                 vocab_space: bool = True):
        self.vocab_size, self.embed_dim, self.hidden_size = vocab_size, embed_dim, hidden_size
        self.num_layers, self.dropout, self.dtype = num_layers, dropout, np.dtype(dtype)
        self.embed_dropout, self.input_dropout = embed_dropout, input_dropout
        self.hidden_dropout, self.output_dropout = hidden_dropout, output_dropout
        self.tie_weights, self.init = tie_weights, init
        self.reset_at_eod, self.eod_id = reset_at_eod, eod_id  # eod_id: the tokenizers' <eod> (Tokenizer.eod_id)
        self.vocab_space = vocab_space  # layer 0's input products in vocabulary space where they pay (_embed)
        cls = CELLS[cell]
        self.cells = [cls(embed_dim if l == 0 else hidden_size, hidden_size) for l in range(num_layers)]
        self._local = threading.local()  # per thread: the (T*N, V) logits and (T*N, H) dh, kept between windows

    @classmethod
    def from_config(cls, model_cfg, vocab_size: int, dtype=np.float32) -> "LanguageModel":
        m = model_cfg
        return cls(m.cell, vocab_size, m.embed_dim, m.hidden_size, m.num_layers, m.dropout, dtype,
                   embed_dropout=m.embed_dropout, input_dropout=m.input_dropout, hidden_dropout=m.hidden_dropout,
                   output_dropout=m.output_dropout, tie_weights=m.tie_weights, init=m.init,
                   reset_at_eod=m.reset_at_eod)

    # ---- parameters and state -------------------------------------------------------------
    def param_shapes(self) -> Dict[str, Tuple[int, ...]]:
        shapes = {"embed.W": (self.vocab_size, self.embed_dim)}
        for l, cell in enumerate(self.cells):
            shapes.update({f"layers.{l}.{k}": s for k, s in cell.param_shapes().items()})
        if not self.tie_weights:
            shapes["head.W"] = (self.hidden_size, self.vocab_size)
        elif self.embed_dim != self.hidden_size:
            shapes["head.proj"] = (self.hidden_size, self.embed_dim)
        shapes["head.b"] = (self.vocab_size,)
        return shapes

    def init_params(self, rng: np.random.Generator) -> Arrays:
        """Embedding N(0, 1) (tied: uniform(+-1/sqrt(E))); cells and head bias by the scheme
        ``init`` (nn/init.py); head weight uniform(+-1/sqrt(H))."""
        V, E, H = self.vocab_size, self.embed_dim, self.hidden_size
        if self.tie_weights:
            params = {"embed.W": rng.uniform(-1 / np.sqrt(E), 1 / np.sqrt(E), (V, E)).astype(self.dtype)}
        else:
            params = {"embed.W": rng.standard_normal((V, E)).astype(self.dtype)}
        for l, cell in enumerate(self.cells):
            layer = cell_params(cell, rng, self.init, self.dtype)
            params.update({f"layers.{l}.{k}": v for k, v in layer.items()})
        bound = 1.0 / np.sqrt(H)
        for key, shape in self.param_shapes().items():
            if key in ("head.W", "head.proj"):
                params[key] = rng.uniform(-bound, bound, shape).astype(self.dtype)
        params["head.b"] = head_bias(rng, self.init, H, V, self.dtype)
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

    def _eod_mask(self, x: np.ndarray) -> Optional[np.ndarray]:
        """For ids x (T, N): the cells' (T, N, 1) keep mask, 0 where a stream reads <eod> (it
        starts that step from a zero state), or None when nothing is reset."""
        if not self.reset_at_eod:
            return None
        reset = x == self.eod_id  # (T, N)
        return (~reset)[..., None].astype(self.dtype) if reset.any() else None

    def _embed(self, params: Arrays, x: np.ndarray, plain: bool = True):
        """Layer 0's input for ids x (T, N): the embedding rows (T, N, E), or, where nothing
        scales them (``plain``: no embedding or input dropout) and V is small beside T*N, the
        ids themselves as ``Tokens``: layer 0 then projects them through a (V, kH) table and
        its backward gives the embedding's gradient (V, E) directly (nn/vocab_space.py)."""
        if plain and self.vocab_space and x.size >= _VOCAB_SPACE_ROWS * self.vocab_size:
            return Tokens(x, params["embed.W"])
        return embedding_forward(params["embed.W"], x)  # (T, N, E)

    # ---- the head: separate, or tied to the embedding -----------------------------------------
    def _head(self, params: Arrays, h: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """h (..., H) -> logits (M, V), M = the product of the leading axes (into ``out`` if given)."""
        if not self.tie_weights:
            return head_forward(params["head.W"], params["head.b"], h, out)
        hp = h.reshape(-1, self.hidden_size)  # (M, H)
        if "head.proj" in params:
            hp = hp @ params["head.proj"]  # (M, E)
        logits = np.matmul(hp, params["embed.W"].T, out=out)  # (M, V)
        logits += params["head.b"]
        return logits

    def _buffer(self, name: str, shape: Tuple[int, ...]) -> np.ndarray:
        """A buffer kept between calls (no page faults for the large logits of every window)."""
        workspace = self._local.__dict__.setdefault("workspace", Workspace())
        return workspace.buffer(name, shape, self.dtype)

    def _head_backward(self, params: Arrays, h: np.ndarray, dlogits: np.ndarray, grads: Arrays,
                       out: Optional[Arrays] = None) -> np.ndarray:
        """Backprop of ``_head``: fills the head's grads (tied: ``grads["head.embed.W"]``, to be
        added to the embedding's; untied: written into ``out``'s arrays if given) and returns
        dh shaped like h."""
        if not self.tie_weights:
            into_ = (None, None) if out is None else (out["head.W"], out["head.b"])
            dh, grads["head.W"], grads["head.b"] = head_backward(params["head.W"], h, dlogits,
                                                                 self._buffer("dh", h.shape), *into_)
            return dh
        hflat = h.reshape(-1, self.hidden_size)  # (M, H)
        hp = hflat @ params["head.proj"] if "head.proj" in params else hflat  # (M, E)
        grads["head.embed.W"] = dlogits.T @ hp  # (V, E)
        grads["head.b"] = dlogits.sum(axis=0)  # (V,)
        dhp = dlogits @ params["embed.W"]  # (M, E)
        if "head.proj" in params:
            grads["head.proj"] = hflat.T @ dhp  # (H, E)
            dhp = dhp @ params["head.proj"].T  # (M, H)
        return dhp.reshape(h.shape)

    # ---- training: forward and backward over one window ------------------------------------
    def draw_masks(self, rng: np.random.Generator, T: int, N: int) -> "Masks":
        """The dropout masks of one window for all N streams, drawn from ``rng`` in the order
        they are applied (the module docstring); a kind that is off draws nothing."""
        E, H, p, dtype = self.embed_dim, self.hidden_size, self.dropout, self.dtype
        embed = token_mask(rng, self.vocab_size, self.embed_dropout, dtype)  # (V,)
        inputs = locked_mask(rng, N, E, self.input_dropout, dtype)  # (1, N, E)
        layers = [None]
        for _ in range(1, self.num_layers):
            mask = dropout_mask(rng, (T, N, H), p, dtype)  # (T, N, H)
            locked = locked_mask(rng, N, H, self.hidden_dropout, dtype)  # (1, N, H)
            layers.append(locked if mask is None else mask if locked is None else mask * locked)
        mask = dropout_mask(rng, (T, N, H), p, dtype)  # (T, N, H)
        locked = locked_mask(rng, N, H, self.output_dropout, dtype)  # (1, N, H)
        output = locked if mask is None else mask if locked is None else mask * locked
        return Masks(embed, inputs, layers, output)

    def loss_and_grads(self, params: Arrays, x: np.ndarray, y: np.ndarray, state: Arrays,
                       rng: Optional[np.random.Generator] = None, streams: Optional[slice] = None,
                       out: Optional[Arrays] = None, masks: Optional["Masks"] = None
                       ) -> Tuple[float, Arrays, Arrays]:
        """Mean cross-entropy (nats per token) of targets y (T, N) given ids x (T, N).

        Returns the loss, gradients keyed like ``params``, and the state after the window
        (gradients do not flow into earlier windows: truncated BPTT). Dropout needs ``rng``,
        or the window's ``masks`` already drawn (``draw_masks``).

        ``streams`` (data parallelism: over threads, ``nn/shards.py``; over processes,
        ``parallel/trainer.py``): compute only streams a:b of the batch; ``state`` holds those
        streams. The dropout masks are drawn for all N streams (the same random numbers as
        without ``streams``) and cut to a:b, and the loss and gradients are those streams'
        share of the whole batch's mean (divided by T*N, not T*(b-a)), so the shares of the
        parts of a partition of the streams sum to the whole.

        ``out``: arrays keyed and shaped like ``params`` (the views of the data-parallel flat
        buffer) to write the gradients into; the large ones are computed there in place, and
        the gradients returned are ``out``'s arrays.
        """
        T, N = x.shape
        if masks is None:  # no rng: no dropout
            masks = self.draw_masks(rng, T, N) if rng is not None else Masks(None, None, [None] * self.num_layers, None)
        if streams is not None:
            x, y = x[:, streams], y[:, streams]  # (T, N_r) each
            masks = masks.cut(streams)
        h_top, caches, new_state, in_vocab_space = self._forward(params, x, state, masks)
        logits = self._head(params, h_top, self._buffer("logits", (x.size, self.vocab_size)))  # (T*N_r, V)
        nll, probs = cross_entropy_forward(logits, y.reshape(-1))
        dlogits = cross_entropy_backward(probs, y.reshape(-1), 1.0 / (T * N))  # (T*N_r, V), the whole batch's mean
        grads = self._backward(params, x, h_top, dlogits, caches, masks, in_vocab_space, out)
        return nll / (T * N), into(out, grads), new_state

    def _forward(self, params: Arrays, x: np.ndarray, state: Arrays, masks: "Masks"):
        """Embedding (token and locked dropout), cells (standard and locked dropout on inputs
        above the first layer), standard and locked dropout on the output: -> the head's input
        h_top (T, N, H), the cells' caches, the new state, and whether layer 0 read Tokens."""
        h = self._embed(params, x, plain=masks.embed is None and masks.input is None)  # (T, N, E) or Tokens
        in_vocab_space = isinstance(h, Tokens)
        if masks.embed is not None:
            h = h * masks.embed[x][..., None]  # whole rows of dropped tokens are zero
        if masks.input is not None:
            h = h * masks.input
        caches, new_state = [], {}
        keep = self._eod_mask(x)  # (T, N, 1) or None
        for l, cell in enumerate(self.cells):
            h_in = h * masks.layers[l] if masks.layers[l] is not None else h
            h, st, cache = cell.forward(self._layer(params, l), h_in, self._layer_state(state, l), keep)  # (T, N, H)
            self._store_state(new_state, l, st)
            caches.append(cache)
        h_top = h * masks.output if masks.output is not None else h  # (T, N, H)
        return h_top, caches, new_state, in_vocab_space

    def _backward(self, params: Arrays, x: np.ndarray, h_top: np.ndarray, dlogits: np.ndarray, caches: list,
                  masks: "Masks", in_vocab_space: bool, out: Optional[Arrays]) -> Arrays:
        """The steps of ``_forward`` in reverse, from dlogits (T*N, V): the gradients."""
        grads = {}
        dh = self._head_backward(params, h_top, dlogits, grads, out)
        if masks.output is not None:
            dh *= masks.output  # backprop through output dropout
        for l in reversed(range(self.num_layers)):
            dh, _, layer_grads = self.cells[l].backward(self._layer(params, l), dh, None, caches[l],
                                                        out and self._layer(out, l))
            grads.update({f"layers.{l}.{k}": v for k, v in layer_grads.items()})
            if masks.layers[l] is not None:
                dh *= masks.layers[l]  # backprop through dropout between layers
        if masks.input is not None:
            dh *= masks.input  # backprop through input dropout
        if masks.embed is not None:
            dh *= masks.embed[x][..., None]  # backprop through token dropout
        if in_vocab_space:  # layer 0 gave the embedding's gradient (V, E), in its workspace
            grads["embed.W"] = dh.copy()
        else:
            grads["embed.W"] = embedding_backward(params["embed.W"], x, dh, out and out["embed.W"])
        if self.tie_weights:
            grads["embed.W"] += grads.pop("head.embed.W")  # the tied head's share
        return grads

    # ---- evaluation and sampling: no caches, no dropout ---------------------------------------
    def logits(self, params: Arrays, x: np.ndarray, state: Arrays, out: Optional[np.ndarray] = None,
               record: Optional[list] = None) -> Tuple[np.ndarray, Arrays]:
        """Logits (T*N, V) for ids x (T, N) (written into ``out`` if given), and the state after.

        ``record``, a list: each layer runs training's ``forward`` (the same steps, <eod> resets
        included) and appends what it computed at every step, ``Cell.record``'s dict of
        quantity -> (T, N, H) (h, the gates, and c for the LSTMs), to it: the states the model has."""
        h = self._embed(params, x)  # (T, N, E) or Tokens
        new_state = {}
        keep = self._eod_mask(x)  # (T, N, 1) or None
        for l, cell in enumerate(self.cells):
            layer, layer_state = self._layer(params, l), self._layer_state(state, l)
            if record is None:
                h, st = cell.forward_inference(layer, h, layer_state, keep)
            else:
                h, st, cache = cell.forward(layer, h, layer_state, keep)
                record.append(cell.record(cache))
                h = record[-1]["h"]  # (T, N, H) the copy: the cache's buffers are given back
            self._store_state(new_state, l, st)
        return self._head(params, h, out), new_state

    def nll(self, params: Arrays, x: np.ndarray, y: np.ndarray, state: Arrays) -> Tuple[float, Arrays]:
        """Summed negative log-likelihood (nats) of y (T, N) given x, and the state after."""
        logits, new_state = self.logits(params, x, state, self._buffer("eval_logits", (x.size, self.vocab_size)))
        nll, _ = cross_entropy_forward(logits, y.reshape(-1))
        return nll, new_state

    def stepper(self, params: Arrays, N: int) -> "Stepper":
        """A ``Stepper``: one token per stream for N streams, reused for a whole generation."""
        return Stepper(self, params, N)

    def step(self, params: Arrays, ids: np.ndarray, state: Arrays) -> Tuple[np.ndarray, Arrays]:
        """One token per stream: ids (N,) -> logits (N, V), and the state after it. Makes a
        stepper for this one call (a reference for tests): loops use ``stepper`` once."""
        return self.stepper(params, len(ids))(ids, state)


@dataclass
class Masks:
    """The dropout masks of one window (None where that kind is off), drawn for all N streams
    by ``LanguageModel.draw_masks``; a layer's standard and locked masks come multiplied."""

    embed: Optional[np.ndarray]  # (V,) whole token rows (embed_dropout)
    input: Optional[np.ndarray]  # (1, N, E) locked, on the embedding output (input_dropout)
    layers: List[Optional[np.ndarray]]  # per layer: None for layer 0, above (T, N, H), (1, N, H) or None
    output: Optional[np.ndarray]  # (T, N, H), (1, N, H) or None, on the last layer's output

    def cut(self, streams: slice) -> "Masks":
        """The masks of streams a:b (views)."""
        part = lambda m: None if m is None else m[:, streams]  # noqa: E731
        return Masks(self.embed, part(self.input), [part(m) for m in self.layers], part(self.output))


class Stepper:
    """One token per stream for N streams: ``logits, state = stepper(ids, state)``, ids (N,),
    logits (N, V), state ``layers.L.<name>`` -> (N, H) as ``LanguageModel.init_state``.

    Every layer's step is made once (``Cell.stepper``), and for an LSTM first layer small
    enough, a (V, 4H) table of x W_x + b of every token, so a step allocates nothing but
    its logits. The price: each layer writes its new state into one of two buffers in turn,
    so the state a call returns is overwritten by the second call after it. A caller that
    keeps a state longer (a search's beams, a conversation, an activation view) keeps
    ``Stepper.snapshot(state)`` instead.
    """

    def __init__(self, model: LanguageModel, params: Arrays, N: int):
        self.model, self.params, self.N = model, params, N
        self.steps = [cell.stepper(model._layer(params, l), N) for l, cell in enumerate(model.cells)]
        self.names = [[f"layers.{l}.{name}" for name in cell.state_names] for l, cell in enumerate(model.cells)]
        self.embed = params["embed.W"]  # (V, E), or the (V, 4H) table below
        W0 = params["layers.0.W"]
        if isinstance(model.cells[0], LSTM) and self.embed.shape[0] * W0.shape[1] <= _TABLE_FLOATS:
            self.embed = vocab_table(self.embed, W0[:model.embed_dim], params["layers.0.b"])  # (V, 4H) x W_x + b per token
            self.steps[0] = model.cells[0].stepper(model._layer(params, 0), N, projected=True)

    def __call__(self, ids: np.ndarray, state: Arrays) -> Tuple[np.ndarray, Arrays]:
        keep = self.model._eod_mask(ids[None])  # (1, N, 1) or None
        if keep is not None:  # streams that read <eod> start from a zero state
            state = {k: v * keep[0] for k, v in state.items()}
        h = self.embed[ids]  # (N, E), or (N, 4H) from the table
        new_state = {}
        for layer_step, keys in zip(self.steps, self.names):
            h, st = layer_step(h, [state[k] for k in keys])
            new_state.update(zip(keys, st))
        return self.model._head(self.params, h), new_state  # (N, V)

    @staticmethod
    def snapshot(state: Arrays) -> Arrays:
        """A copy of ``state`` that no later step changes: read-only arrays, valid for as long
        as it is kept, and accepted wherever a state is (``stepper``, ``logits``, ``sample_steps``)."""
        kept = {}
        for k, v in state.items():
            kept[k] = np.array(v, copy=True)
            kept[k].flags.writeable = False
        return kept
