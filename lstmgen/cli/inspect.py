"""``lstmgen inspect``: describe a run without training or sampling."""

import json

import click

from .common import loss_text
from .options import RUN_DIR, checkpoint_option, json_option


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:,} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024


@click.command("inspect")
@RUN_DIR
@checkpoint_option("describe", default="last")
@json_option("Print one JSON object instead of a report.")
def inspect_cmd(run_dir, which, as_json):
    """Describe a run: config, parameters per layer, tokenizer, steps, losses, disk size."""
    from ..runs.inspect import inspect_run

    info = inspect_run(run_dir, which)
    if as_json:
        info.pop("config_yaml")
        click.echo(json.dumps(info, ensure_ascii=False))
        return
    click.echo(f"run:            {info['run_dir']} ({info['checkpoint']}, step {info['step']:,}, "
               f"epoch {info['epoch']}, {info['elapsed_s'] or 0:.1f} s of training)")
    loss = lambda k: "-" if info[f"{k}_val_loss"] is None else loss_text(  # noqa: E731
        info[f"{k}_val_loss"], info[f"{k}_val_bits_per_char"])
    click.echo(f"validation:     last {loss('last')}, best {loss('best')} "
               f"(best checkpoint: {info['best_checkpoint']})")
    t = info["tokenizer"]
    click.echo(f"tokenizer:      {t['level']}, {t['vocab_size']} tokens: {' '.join(t['specials'])} "
               f"{json.dumps(''.join(t['first_tokens']), ensure_ascii=False)}"
               + (" ..." if t["vocab_size"] > 2 + len(t["first_tokens"]) else ""))
    click.echo(f"parameters:     {info['num_params']:,} ({info['dtype']})")
    for group, count in info["params_per_layer"].items():
        shapes = ", ".join(f"{k} {tuple(v)}" for k, v in info["param_shapes"].items() if k.rsplit(".", 1)[0] == group)
        click.echo(f"  {group:<12} {count:>12,}   {shapes}")
    click.echo(f"disk:           {_bytes(info['disk_bytes'])} in all; "
               + ", ".join(f"{k} {_bytes(v)}" for k, v in info["checkpoint_bytes"].items()))
    click.echo("config:")
    for line in info["config_yaml"].splitlines():
        click.echo(f"  {line}")

