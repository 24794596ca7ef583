"""See inside a trained model: ``lstmgen cells`` and ``lstmgen score --html``.

A text is read as ``score`` reads it (one stream, from ``<eod>``, from a zero state):

    ids:        <eod> T h e _ c a t <eod>
    read:       <eod> T h e _ c a t            positions 0..T-1 (``activations.record``)
    shown:            T h e _ c a t            positions 1..T-1, each coloured by the state
                                               after reading it; its hover lists the
                                               predictions for the token after it

``analyse`` records every layer (``activations``), computes the text's features
(``text_features``), ranks the units that follow them (``unit_finder``) and measures gate
saturation (``gate_saturation``); ``to_json``, ``page_payload`` and ``ranking_table`` present
the result. ``surprise_payload`` is the data of the surprise page.

Shapes: T positions shown, H units per layer, L layers, K next tokens kept per position.
"""

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import activations, unit_finder, gate_saturation, html_pages, text_features
from ..errors import ConfigError, DataError
from ..runs.loading import Run, read_run
from ..evaluation.metrics import bits, text_ids
from ..evaluation.score import cut_documents, read_text_or_file, score_ids

MAX_CHARS = html_pages.PAGE_CHARS  # characters read by default: what a page holds
TOP_TOKENS = 5  # next tokens listed per position on the pages


@dataclass
class Reading:
    run: Run
    ids: np.ndarray  # [<eod>, the documents' tokens, each document followed by <eod>]
    characters: int  # of the text read
    total_characters: int  # of the whole text, before the cut to max_chars

    @property
    def truncated(self) -> bool:
        return self.characters < self.total_characters

    def cut_note(self, option: str = "--max-chars") -> str:
        """'Showing the first 10,000 of 300,000 characters (--max-chars to change).', or '' if whole."""
        return f"Showing the first {self.characters:,} of {self.total_characters:,} characters ({option} to " \
               "change)." if self.truncated else ""

    def pieces(self, start: int, stop: Optional[int] = None) -> List[str]:
        """The text each of ``ids[start:stop]`` adds on screen (a word model's spacing included)."""
        decoder = self.run.tokenizer.stream_decoder()
        return [decoder.feed(int(i)) for i in self.ids[start:stop]]


def read_text(run: Run, source: str, max_chars: Optional[int] = None, csv_column=None) -> Reading:
    """The token stream of ``source`` (a text, or the file it names), cut to ``max_chars``."""
    docs, total = cut_documents(read_text_or_file(source, run.config.data.encoding, csv_column), max_chars)
    tok = run.tokenizer
    ids = text_ids(tok, docs)
    return Reading(run, ids, sum(len(d) for d in docs), total)


def check_units(num_layers: int, hidden_size: int, layer: Optional[int], units: Sequence[int]) -> int:
    """The layer ``--unit`` refers to (``layer``, or the last), after checking both exist."""
    if layer is not None and not 0 <= layer < num_layers:
        raise ConfigError(f"layer {layer} does not exist: the model has {num_layers} layer(s), 0..{num_layers - 1}")
    where = num_layers - 1 if layer is None else layer
    for unit in units:
        if not 0 <= unit < hidden_size:
            raise ConfigError(f"unit {unit} does not exist: layer {where} has {hidden_size} units, 0..{hidden_size - 1}")
    return where


@dataclass
class Analysis:
    reading: Reading
    pieces: List[str]  # (T,) the text of each shown position
    layers: List[Dict[str, np.ndarray]]  # per layer: quantity -> (T, H), shown positions only
    recording: activations.Recording  # all positions read (predictions, activation name)
    ranking: List[dict]  # per feature: {"feature", "description", "constant", "top": [...]}
    correlations: Dict[str, Optional[np.ndarray]]  # feature -> r (L, H), or None if constant
    saturation: gate_saturation.Saturation  # per layer: gate -> {"left", "right"}; [] for an RNN
    chosen: List[Tuple[int, int]]  # the (layer, unit) asked for with --unit
    layer: Optional[int]  # the layer asked for with --layer

    @property
    def cell(self) -> str:
        return self.recording.cell

    @property
    def activation(self) -> str:
        return self.recording.activation


def analyse(run_dir, source: str, *, which: str = "best", layer: Optional[int] = None, units: Sequence[int] = (),
            top: int = 5, max_chars: Optional[int] = MAX_CHARS) -> Analysis:
    """Read ``source`` with the run, record every unit, rank the units per feature (only
    ``layer``'s if given) and measure gate saturation."""
    return analyse_run(read_run(Path(run_dir), which), source, layer=layer, units=units, top=top, max_chars=max_chars)


def analyse_run(run: Run, source: str, *, layer: Optional[int] = None, units: Sequence[int] = (), top: int = 5,
                max_chars: Optional[int] = MAX_CHARS) -> Analysis:
    """``analyse`` with a loaded run."""
    model = run.model
    where = check_units(model.num_layers, model.hidden_size, layer, units)
    reading = read_text(run, source, max_chars)
    if len(reading.ids) < 3:
        raise DataError("nothing to show: the text holds no tokens")
    rec = activations.record(model, run.params, reading.ids, TOP_TOKENS)
    layers = [{q: v[1:] for q, v in r.items()} for r in rec.layers]  # drop the first <eod>
    pieces = reading.pieces(1, -1)
    features = text_features.token_features(pieces, run.tokenizer.level)
    corr = unit_finder.correlations([r[rec.activation] for r in layers], features)
    ranking = []
    for name, r in corr.items():
        entry = {"feature": name, "description": text_features.FEATURES[name], "constant": r is None, "top": []}
        if r is not None:
            entry["top"] = unit_finder.rank(r, top, None if layer is None else [layer])
        ranking.append(entry)
    sat = gate_saturation.saturation(layers, activations.GATES[rec.cell])
    return Analysis(reading, pieces, layers, rec, ranking, corr, sat, [(where, u) for u in units], layer)


def _rounded(values, digits: int = 4) -> list:
    return [round(float(v), digits) for v in values]


def to_json(a: Analysis) -> dict:
    """The finder's ranking, the chosen units' correlations and the gate saturation figures."""
    run = a.reading.run
    return {
        "run_dir": str(run.path.parent.parent), "checkpoint": run.path.name, "cell": a.cell,
        "activation": a.activation, "num_layers": len(a.layers), "hidden_size": run.model.hidden_size,
        "tokens": len(a.pieces), "characters": a.reading.characters, "truncated": a.reading.truncated,
        "features": [dict(f, top=[dict(e, r=round(e["r"], 4)) for e in f["top"]]) for f in a.ranking],
        "units": [{"layer": l, "unit": u,
                   "r": {name: None if r is None else round(float(r[l, u]), 4) for name, r in a.correlations.items()}}
                  for l, u in a.chosen],
        "saturation": {
            "gates": list(activations.GATES[a.cell]), "left_below": gate_saturation.LEFT,
            "right_above": gate_saturation.RIGHT,
            "layers": [{g: {"left": _rounded(f["left"]), "right": _rounded(f["right"])} for g, f in layer.items()}
                       for layer in a.saturation]},
    }


def ranking_table(a: Analysis) -> str:
    """The finder's ranking for the terminal: one line per feature."""
    lines = [f"units whose {a.activation} follows a feature of the text (Pearson's r over {len(a.pieces):,} "
             f"positions; L = layer, # = unit):"]
    width = max(len(f["feature"]) for f in a.ranking)
    for f in a.ranking:
        units = "constant in this text" if f["constant"] else \
            "  ".join(f"L{e['layer']}#{e['unit']} {e['r']:+.2f}" for e in f["top"])
        lines.append(f"  {f['feature']:<{width}}  {units}")
    for l, u in a.chosen:
        rs = "  ".join(f"{name} {r[l, u]:+.2f}" for name, r in a.correlations.items() if r is not None)
        lines.append(f"  chosen L{l}#{u}: {rs}")
    if a.cell in ("gru", "gru_cudnn", "rnn"):
        lines.append(f"  (a {a.cell} has no cell state c: these are correlations of h)")
    return "\n".join(lines)


def _local_vocab(tok, *id_arrays):
    """The tokens the page names (``<eod>`` by that name), in a short list, and each array's
    ids renumbered into it."""
    used = np.unique(np.concatenate([np.asarray(a, np.int64).ravel() for a in id_arrays]))
    names = [tok.EOD if i == tok.eod_id else tok.token_text(int(i)) for i in used]
    return names, [np.searchsorted(used, a).ravel().tolist() for a in id_arrays]


def _per_mille(p) -> list:
    return np.rint(np.asarray(p) * 1000).astype(np.int64).ravel().tolist()


def _subtitle(run: Run, detail: str) -> str:
    m = run.config.model
    return f"{run.path.parent.parent} ({run.path.name}, step {run.step:,}): {m.cell}, {m.num_layers} x " \
           f"{m.hidden_size}, {run.tokenizer.level} tokens; {detail}"


def page_payload(a: Analysis) -> dict:
    """The data of the cells page (``html_pages.cells_html``)."""
    run, rec = a.reading.run, a.recording
    shown = a.reading.ids[1:-1]  # (T,)
    tokens, (ids, top) = _local_vocab(run.tokenizer, shown, rec.top_ids[1:])
    gates = activations.GATES[a.cell]
    names = [a.activation] + [q for q in a.layers[0] if q not in ("c", a.activation)]
    quantities = [{"name": q, "lo": 0 if q in gates else -1, "hi": 1} for q in names]
    featured = {(e["layer"], e["unit"]) for f in a.ranking for e in f["top"]} | set(a.chosen)
    blocks = {}
    for l, layer in enumerate(a.layers):
        blocks[f"{l}/{a.activation}"] = dict(html_pages.quantised(layer[a.activation]), units=None)
        units = sorted(u for fl, u in featured if fl == l)
        for q in names[1:]:
            if units:
                blocks[f"{l}/{q}"] = dict(html_pages.quantised(layer[q][:, units]), units=units)
    if a.chosen:
        start = a.chosen[0]
    else:
        best = max((f["top"][0] for f in a.ranking if f["top"]), key=lambda e: abs(e["r"]), default=None)
        start = (best["layer"], best["unit"]) if best else (a.layer or 0, 0)
    note = "" if a.activation == "tanh(c)" else \
        f"A {a.cell} has no cell state c: the colours show the hidden state h (the paper colours LSTMs by tanh(c))."
    note += " " + a.reading.cut_note()
    return {
        "title": f"lstmgen cells: {run.path.parent.parent.name}",
        "subtitle": _subtitle(run, f"{len(a.pieces):,} positions; colour: {a.activation} of one unit"),
        "note": note.strip(), "pieces": a.pieces, "tokens": tokens, "ids": ids, "K": rec.top_ids.shape[1],
        "top": top, "top_p": _per_mille(rec.top_probs[1:]), "next_p": _per_mille(rec.next_probs[1:]),
        "layers": len(a.layers), "hidden": run.model.hidden_size, "activation": a.activation,
        "quantities": quantities, "blocks": blocks, "ranking": a.ranking, "chosen": [list(c) for c in a.chosen],
        "start": {"layer": start[0], "unit": start[1], "quantity": a.activation},
    }


def write_cells_page(a: Analysis, path) -> None:
    html_pages.write_page(html_pages.cells_html(page_payload(a)), path)


def surprise_payload(run_dir, source: str, *, which: str = "best", csv_column=None,
                     max_chars: Optional[int] = MAX_CHARS) -> dict:
    """The data of the surprise page: every token of ``source`` (its first ``max_chars``
    characters) with its surprisal in bits and the tokens the model expected there
    (``score_ids``, as ``score`` reads the text)."""
    run = read_run(Path(run_dir), which)
    reading = read_text(run, source, max_chars, csv_column)
    scores = score_ids(run.model, run.params, reading.ids, TOP_TOKENS)
    targets = reading.ids[1:]  # (T,)
    surprisal = bits(-scores.logprobs)  # (T,)
    tokens, (ids, top) = _local_vocab(run.tokenizer, targets, scores.top_ids)
    chars = run.tokenizer.num_chars(targets)
    worst = np.argsort(-surprisal, kind="stable")[:20]
    summary = f"{len(targets):,} tokens, {chars:,} characters, {surprisal.sum():,.1f} bits in all, " \
              f"{surprisal.sum() / max(1, chars):.3f} bits per character. The most surprising tokens (click to find):"
    return {
        "title": f"lstmgen score: {run.path.parent.parent.name}",
        "subtitle": _subtitle(run, "colour: surprisal of each token, -log2 p(token | the text before)"),
        "note": reading.cut_note(), "truncated": reading.truncated, "pieces": reading.pieces(1), "tokens": tokens,
        "ids": ids, "K": scores.top_ids.shape[1], "top": top, "top_p": _per_mille(np.exp(scores.top_logprobs)),
        "bits": _rounded(surprisal, 3),  # the page computes p = 2^-bits
        "cap_bits": max(4, math.ceil(float(np.percentile(surprisal, 99)))),
        "worst": [[int(k), round(float(surprisal[k]), 2)] for k in worst], "summary": summary,
    }


def write_surprise_page(run_dir, source: str, path, *, which: str = "best", csv_column=None,
                        max_chars: Optional[int] = MAX_CHARS) -> dict:
    """Write the surprise page; returns its payload (for the command's one-line summary)."""
    payload = surprise_payload(run_dir, source, which=which, csv_column=csv_column, max_chars=max_chars)
    html_pages.write_page(html_pages.surprise_html(payload), path)
    return payload
