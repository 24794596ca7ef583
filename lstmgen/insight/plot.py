"""Training curves: train and validation loss (and learning rate) of one or more runs.

``read_curves`` reads a run's ``metrics.jsonl``; ``text_chart`` draws the losses as a small
character grid for the terminal (no dependency); ``save_png`` draws them with matplotlib, the
optional extra ``lstmgen[plot]``, and raises ``ImportError`` when it is missing. The x axis
is the optimiser step, or the training tokens seen (step x batch_size x seq_len).

The y axis is the loss in nats per token, or (``y="bits-per-char"``) the validation loss in
bits per character, which does not depend on the tokenizer: runs with different tokenizers are
compared on it (a word model's nats per word and a character model's nats per character are
not comparable). Training loss is logged per token only, so that view shows validation alone.
"""

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Sequence

from ..runs import checkpoint as ckpt
from ..runs.config import read_saved_config
from ..errors import CheckpointError

INSTALL_HINT = "matplotlib is not installed; install it with: pip install 'lstmgen[plot]'"


@dataclass
class Curves:
    name: str  # the run directory, as given
    step: List[int]
    tokens: List[int]
    train_loss: List[float]
    val_loss: List[float]  # NaN where the line has no evaluation
    learning_rate: List[float]
    val_bits_per_char: List[float] = field(default_factory=list)  # NaN where not evaluated (or an older run)
    level: str = "?"  # the tokenizer level, from the run's config


def read_curves(run_dir) -> Curves:
    run_dir = Path(run_dir)
    path = ckpt.metrics_path(run_dir)
    if not path.is_file():
        raise CheckpointError(f"'{run_dir}' has no {path.name}; is it a run directory?")
    try:
        cfg = read_saved_config(run_dir / "config.yaml")
        per_step, level = cfg.train.batch_size * cfg.train.seq_len, cfg.tokenizer.level
    except Exception:  # an unreadable config only costs the tokens axis
        per_step, level = 0, "?"
    c = Curves(str(run_dir), [], [], [], [], [], [], level)
    for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
        try:
            r = json.loads(line)
            step, train, val, lr = int(r["step"]), float(r["train_loss"]), r.get("val_loss"), r.get("learning_rate")
        except (ValueError, KeyError, TypeError):
            raise CheckpointError(f"{path}: line {number} is not a metrics record") from None
        c.step.append(step)
        c.tokens.append(step * per_step)
        c.train_loss.append(train)
        c.val_loss.append(float(val) if val is not None else math.nan)
        c.learning_rate.append(float(lr) if lr is not None else math.nan)
        bpc = r.get("val_bits_per_char")
        c.val_bits_per_char.append(float(bpc) if isinstance(bpc, (int, float)) else math.nan)
    if not c.step:
        raise CheckpointError(f"{path} is empty: the run has not logged a step yet")
    return c


def _x(c: Curves, x: str) -> List[float]:
    return c.tokens if x == "tokens" else c.step


def default_y(runs: Sequence[Curves]) -> str:
    """bits-per-char when the runs' tokenizers differ (their losses per token do not compare)."""
    return "bits-per-char" if len({c.level for c in runs}) > 1 else "loss"


def _series(c: Curves, y: str):
    """(train, validation) values of one run on the y axis; train is None in bits per char."""
    if y == "bits-per-char":
        if all(math.isnan(v) for v in c.val_bits_per_char):
            raise CheckpointError(f"'{c.name}' logged no validation bits per character (a run without "
                                  "evaluations, or from an older lstmgen); plot it with --y loss")
        return None, c.val_bits_per_char
    return c.train_loss, c.val_loss


Y_LABELS = {"loss": "loss (nats/token)", "bits-per-char": "validation bits per character"}


def text_chart(runs: Sequence[Curves], x: str = "step", width: int = 64, height: int = 16, y: str = "loss") -> str:
    """The losses on a ``height`` x ``width`` grid of characters: run k's train loss is the
    k-th lower-case letter, its validation loss the upper-case one (a later mark wins a cell)."""
    points = []  # (x, loss, mark)
    for k, c in enumerate(runs):
        lower = "abcdefghijklmnopqrstuvwxyz"[k % 26]
        train, val = _series(c, y)
        for i, (xv, va) in enumerate(zip(_x(c, x), val)):
            if train is not None:
                points.append((xv, train[i], lower))
            if not math.isnan(va):
                points.append((xv, va, lower.upper()))
    if not points:
        raise CheckpointError("nothing to plot: the runs logged no validation loss yet")
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    grid = [[" "] * width for _ in range(height)]
    for xv, yv, mark in points:
        col = round((xv - x0) / (x1 - x0) * (width - 1)) if x1 > x0 else 0
        row = round((y1 - yv) / (y1 - y0) * (height - 1)) if y1 > y0 else height - 1
        grid[row][col] = mark
    label = 9
    lines = []
    for r, cells in enumerate(grid):
        value = y1 - (y1 - y0) * r / max(1, height - 1)
        tick = f"{value:>{label}.3f}" if r in (0, height // 2, height - 1) else " " * label
        lines.append(f"{tick} |{''.join(cells)}")
    lines.append(" " * label + " +" + "-" * width)
    left, right = f"{x0:,}", f"{x1:,}"
    lines.append(" " * (label + 2) + left + " " * max(1, width - len(left) - len(right)) + right)
    lines.append(" " * (label + 2) + f"{Y_LABELS[y]} against {'training tokens' if x == 'tokens' else 'step'}")
    for k, c in enumerate(runs):
        lower = "abcdefghijklmnopqrstuvwxyz"[k % 26]
        lr = [v for v in c.learning_rate if not math.isnan(v)]
        lr_text = f"; learning rate {lr[0]:.3g} -> {lr[-1]:.3g}" if lr else ""
        marks = f"{lower.upper()} validation" if y == "bits-per-char" else f"{lower} train, {lower.upper()} validation"
        lines.append(f"  {marks}: {c.name} ({c.level} tokens){lr_text}")
    return "\n".join(lines)


def save_png(runs: Sequence[Curves], path, x: str = "step", y: str = "loss") -> None:
    """Loss (train solid, validation dashed, one colour per run) above the learning rate."""
    import matplotlib

    matplotlib.use("Agg")  # files only; never opens a window
    import matplotlib.pyplot as plt

    fig, (ax_loss, ax_lr) = plt.subplots(2, 1, figsize=(8, 6), sharex=True, height_ratios=[3, 1])
    for k, c in enumerate(runs):
        color = f"C{k % 10}"
        xs = _x(c, x)
        train, val_values = _series(c, y)
        if train is not None:
            ax_loss.plot(xs, train, color=color, label=f"{c.name} train")
        val = [(xv, v) for xv, v in zip(xs, val_values) if not math.isnan(v)]
        if val:
            ax_loss.plot(*zip(*val), color=color, linestyle="--", marker="o", markersize=3,
                         label=f"{c.name} validation")
        ax_lr.plot(xs, c.learning_rate, color=color)
    ax_loss.set_ylabel(Y_LABELS[y])
    ax_loss.legend(fontsize="small")
    ax_loss.grid(alpha=0.3)
    ax_lr.set_ylabel("learning rate")
    ax_lr.set_xlabel("training tokens" if x == "tokens" else "step")
    ax_lr.grid(alpha=0.3)
    fig.tight_layout()
    tmp = Path(path).with_name(f".{Path(path).name}.tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    tmp.replace(path)  # a reader never sees half a picture
