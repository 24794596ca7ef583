"""What the commands share besides their options: the user-error exception, the notes about a
run's checkpoint, and how a loss is written."""

import click


class UserError(click.ClickException):
    """A user's mistake: printed as 'Error: ...' on stderr, no traceback."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def loss_text(nats: float, bits_per_char) -> str:
    """1.2228 nats/token (1.780 bits/char): a loss with its unit, and the tokenizer-free figure."""
    return f"{nats:.4f} nats/token" + (f" = {bits_per_char:.3f} bits/char" if bits_per_char is not None else "")


def say_checkpoint(run_dir, which: str) -> None:
    """A note on stderr when the checkpoint a command reads needs one (``loading.checkpoint_note``):
    no best yet, or a newer last checkpoint that best leaves out."""
    from ..runs.loading import checkpoint_note

    note = checkpoint_note(run_dir, which)[1]
    if note:
        click.echo(f"note: {note}", err=True)


def say_unevaluated(run_dir) -> None:
    """After Ctrl-C between two evaluations: the commands that read 'best' leave this checkpoint out."""
    from ..runs.loading import unevaluated_last

    newer = unevaluated_last(run_dir)
    if newer is not None:
        click.echo(f"note: step {newer['last_step']:,} is not evaluated: sample, eval, score and serve read the "
                   f"best checkpoint (step {newer['best_step']:,}); --checkpoint last reads this one", err=True)
