"""``lstmgen sample --interactive``: the terminal around ``generation/interactive.py``'s session:
the prompt, the streamed continuations, Ctrl-C and Ctrl-D."""

import signal
import sys

import click


class _CtrlC:
    """Ctrl-C (SIGINT) in the interactive session. At the prompt it raises KeyboardInterrupt (the
    session ends, exit 130); during a continuation it only sets ``pressed``, which the loop reads
    before every piece it writes, so a Ctrl-C at any moment of a continuation (mid-write, as it
    ends) ends that continuation and nothing else. Installed for the session whatever the process
    inherited: started with SIGINT ignored (a shell's background job, a launcher), Python installs
    no handler of its own and Ctrl-C would never reach the session."""

    def __init__(self):
        self.streaming = False  # True from the line read to the prompt shown again
        self.pressed = False  # Ctrl-C came during this continuation

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if not self.streaming:
            raise KeyboardInterrupt
        self.pressed = True

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)


def run_session(session):
    """The prompt loop over ``api.Model.session``: read a line, stream its continuation, until
    Ctrl-D (or Ctrl-C at the prompt)."""
    click.echo("interactive: type a line to prime the model; ':help' lists the commands; Ctrl-D leaves.")
    out = sys.stdout
    with _CtrlC() as ctrl_c:
        while True:
            ctrl_c.streaming = False
            try:
                line = input("> ")
            except EOFError:
                out.write("\n")
                return
            ctrl_c.streaming, ctrl_c.pressed = True, False  # no signal check between these and input()
            if line.startswith(":"):
                click.echo(session.command(line))
                continue
            pieces = session.respond(line)
            for piece in pieces:
                if ctrl_c.pressed:
                    break
                out.write(piece)
                out.flush()
            pieces.close()
            out.write(" [interrupted]\n" if ctrl_c.pressed else "\n")  # Ctrl-C ends this continuation only
            out.flush()

