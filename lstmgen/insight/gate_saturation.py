"""How often each gate is saturated: the scatter plots of Karpathy, Johnson & Fei-Fei (2015).

Shapes: T positions, H units per layer. A gate value below 0.1 is left-saturated (the gate is
shut), above 0.9 right-saturated (open). For each unit of each gate (the sigmoid gates of
``activations.GATES``: i, f, o for LSTMs, r and u (or z) for GRUs; an RNN has none) we count
the fraction of positions spent in each. In the paper's picture, one dot per unit: a forget
gate's dot far up the right axis is a unit that remembers for long stretches; dots near the
origin are gates that respond to the input and are rarely fully open or shut.

``save_png`` draws one panel per layer (rows) and gate (columns) with matplotlib, the optional
extra ``lstmgen[plot]`` (imported only there; ``ImportError`` when missing); ``text_table``
sums the same figures up for the terminal.
"""

from pathlib import Path
from typing import Dict, List, Sequence

import numpy as np

LEFT, RIGHT = 0.1, 0.9

Saturation = List[Dict[str, Dict[str, np.ndarray]]]  # per layer: gate -> {"left": (H,), "right": (H,)}


def saturation(layers: Sequence[Dict[str, np.ndarray]], gates: Sequence[str]) -> Saturation:
    """Per layer and gate, each unit's fraction of positions below LEFT and above RIGHT ([]
    without gates)."""
    if not gates:
        return []
    return [{g: {"left": (rec[g] < LEFT).mean(axis=0), "right": (rec[g] > RIGHT).mean(axis=0)} for g in gates}
            for rec in layers]


def text_table(sat: Saturation) -> str:
    """One row per layer and gate: mean fractions, and how many units are mostly shut, mostly
    open (more than half the positions), or never saturated (under 10% either way)."""
    head = f"{'layer':>5}  {'gate':>4}  {'left':>6}  {'right':>6}  {'mostly shut':>11}  {'mostly open':>11}  " \
           f"{'unsaturated':>11}"
    lines = [head]
    for l, gates in enumerate(sat):
        for g, f in gates.items():
            left, right = f["left"], f["right"]
            lines.append(f"{l:>5}  {g:>4}  {left.mean():>6.3f}  {right.mean():>6.3f}  {int((left > 0.5).sum()):>11}  "
                         f"{int((right > 0.5).sum()):>11}  {int(((left < 0.1) & (right < 0.1)).sum()):>11}")
    lines.append("left/right: mean fraction of positions with the gate below 0.1 / above 0.9; "
                 "unit counts out of each layer's units")
    return "\n".join(lines)


def save_png(sat: Saturation, path, title: str = "") -> None:
    """The scatter of every unit's left- against right-saturated fraction, a panel per layer and gate."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never opens a window
    import matplotlib.pyplot as plt

    gates = list(sat[0])
    rows, cols = len(sat), len(gates)
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3 * rows), squeeze=False, sharex=True, sharey=True)
    for l, layer in enumerate(sat):
        for k, g in enumerate(gates):
            ax = axes[l, k]
            ax.plot([0, 1], [1, 0], color="0.7", linewidth=0.8)  # left + right = 1: always saturated
            ax.scatter(layer[g]["left"], layer[g]["right"], s=8, alpha=0.6, color=f"C{k}")
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_title(f"layer {l}, gate {g}", fontsize="small")
            if l == rows - 1:
                ax.set_xlabel("fraction left-saturated (< 0.1)")
            if k == 0:
                ax.set_ylabel("fraction right-saturated (> 0.9)")
    if title:
        fig.suptitle(title, fontsize="small")
    fig.tight_layout()
    tmp = Path(path).with_name(f".{Path(path).name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)  # a reader never sees half a picture
