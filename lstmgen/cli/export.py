"""``lstmgen export``: a run as files for other tools, ONNX (onnxruntime) or PyTorch (safetensors)."""

from pathlib import Path

import click

from .common import UserError
from .options import RUN_DIR


@click.command()
@RUN_DIR
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="The file to write: model.onnx, or model.safetensors (its config goes to model.json beside it).")
@click.option("--format", "fmt", default=None, type=click.Choice(["onnx", "torch"]),
              help="onnx: ONNX's LSTM/GRU/RNN operators, for onnxruntime; torch: torch.nn weights in safetensors. "
                   "Default: from the output's suffix (.safetensors: torch, else onnx).")
@click.option("--checkpoint", "which", default="best", show_default=True, metavar="best|last|STEP",
              help="Which checkpoint of the run to export: best, last, or the step of a kept one.")
def export(run_dir, output, fmt, which):
    """Export a run for other tools: ONNX (onnxruntime) or PyTorch (safetensors). See docs/export.md."""
    from ..export import export as export_run

    if which not in ("best", "last") and not (which.isascii() and which.isdigit()):
        raise UserError(f"--checkpoint {which!r}: expected best, last or a step number", 2)
    done = export_run(run_dir, output, fmt=fmt, which=which)
    if done.note:
        click.echo(f"note: {done.note}", err=True)
    size = lambda n: f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"  # noqa: E731
    sizes = ", ".join(f"{p} ({size(p.stat().st_size)})" for p in done.files)
    click.echo(f"wrote {sizes} from {done.checkpoint.name} (step {done.step:,}, {done.format})")
