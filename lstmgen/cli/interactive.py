"""``lstmgen sample --interactive``: the terminal around ``generation/interactive.py``'s session:
the prompt, the streamed continuations, Ctrl-C and Ctrl-D."""

import os
import select
import signal
import sys

import click


class _CtrlC:
    """Ctrl-C (SIGINT) in the interactive session. At the prompt it raises KeyboardInterrupt (the
    session ends, exit 130); during a continuation it only sets ``pressed``, which the loop reads
    before every piece it writes, so a Ctrl-C at any moment of a continuation (mid-write, as it
    ends) ends that continuation and nothing else. Installed for the session whatever the process
    inherited: started with SIGINT ignored (a shell's background job, a launcher), Python installs
    no handler of its own and Ctrl-C would never reach the session.

    The kernel may hand SIGINT to any thread (an OpenBLAS worker, say) while the main thread
    waits at the prompt in ``read()``, which then goes on waiting: so at a terminal the prompt
    waits in ``select`` on the input and the signal wake-up pipe, and a Ctrl-C acts at once."""

    def __init__(self):
        self.streaming = False  # True from the line read to the prompt shown again
        self.pressed = False  # Ctrl-C came during this continuation
        self._wakeup = None  # (read end, write end) of the signal wake-up pipe, at a terminal

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handle)
        if sys.stdin.isatty():
            self._wakeup = os.pipe()
            for fd in self._wakeup:
                os.set_blocking(fd, False)
            self._previous_fd = signal.set_wakeup_fd(self._wakeup[1])
        return self

    def read_line(self, prompt: str) -> str:
        """``input(prompt)``; at a terminal, a Ctrl-C while it waits raises KeyboardInterrupt at once."""
        if self._wakeup is None:
            return input(prompt)
        sys.stdout.write(prompt)
        sys.stdout.flush()
        while sys.stdin not in select.select([sys.stdin, self._wakeup[0]], [], [])[0]:
            os.read(self._wakeup[0], 512)  # a signal's byte; its handler runs now (Ctrl-C: raises)
        return input()

    def _handle(self, signum, frame):
        if not self.streaming:
            raise KeyboardInterrupt
        self.pressed = True

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)
        if self._wakeup is not None:
            signal.set_wakeup_fd(self._previous_fd)
            for fd in self._wakeup:
                os.close(fd)


def run_session(session):
    """The prompt loop over ``api.Model.session``: read a line, stream its continuation, until
    Ctrl-D (or Ctrl-C at the prompt)."""
    click.echo("interactive: type a line to prime the model; ':help' lists the commands; Ctrl-D leaves.")
    out = sys.stdout
    with _CtrlC() as ctrl_c:
        while True:
            ctrl_c.streaming = False
            try:
                line = ctrl_c.read_line("> ")
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

