"""The sample command's strategies and stop rules end to end, and --interactive through a pty."""

import contextlib
import json
import os
import select
import subprocess
import sys
import time

import pytest

from lstmgen.cli import cli
from tests.helpers import ROOT, run


def samples(*args):
    result = run("sample", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines()]


def test_new_commands_have_help():
    for name in ("score", "novelty", "inspect", "plot"):
        command = cli.commands[name]
        result = run(name, "--help")
        assert result.exit_code == 0 and f"Usage: cli {name} [OPTIONS]" in result.output
        assert " ".join(command.help.split()) in " ".join(result.output.split())  # the command's own text
        for param in command.params:  # every argument and option it takes, by name
            shown = param.opts[0] if param.param_type_name == "option" else param.name.upper()
            assert shown in result.output, (name, shown)


def test_json_holds_text_tokens_and_logprobs(char_run):
    [s] = samples(char_run, "--prime", "The", "--length", "30", "--seed", "1")
    assert s["prime"] == "The" and len(s["text"]) == 30 and "".join(s["tokens"]) == s["text"]
    assert len(s["logprobs"]) == 30 and all(lp <= 0 for lp in s["logprobs"])
    assert s["stopped_by"] == "length"


@pytest.mark.parametrize("options", [
    [],
    ["--temperature", "0.7", "--top-k", "5", "--top-p", "0.9"],
    ["--repetition-penalty", "1.3", "--no-repeat-ngram-size", "3"],
    ["--beam-width", "3", "--num-samples", "2", "--length-penalty", "0.5"],
])
def test_every_strategy_repeats_under_its_seed(char_run, options):
    a = samples(char_run, "--length", "25", "--seed", "4", "--num-samples", "2", *options)
    b = samples(char_run, "--length", "25", "--seed", "4", "--num-samples", "2", *options)
    assert a == b and len(a) == 2 and a[0]["text"] != a[1]["text"]


def test_stop_strings_and_max_chars_end_every_sample(char_run):
    for s in samples(char_run, "--length", "300", "--seed", "2", "--num-samples", "4", "--stop", ".", "--stop", "mat"):
        assert s["stopped_by"] == "stop" and (s["text"].endswith(".") or s["text"].endswith("mat"))
        assert "." not in s["text"][:-1] and "mat" not in s["text"][:-1]
    for s in samples(char_run, "--length", "300", "--seed", "2", "--num-samples", "3", "--max-chars", "17"):
        assert len(s["text"]) == 17 and s["stopped_by"] == "max_chars"
    text = run("sample", char_run, "--prime", "A", "--length", "300", "--seed", "2", "--stop", " ").output
    assert text.startswith("A") and text.endswith(" \n") and text.count(" ") == 1


def test_stop_at_eod_ends_the_document(char_run):
    free = samples(char_run, "--length", "400", "--seed", "3", "--num-samples", "3")
    ended = samples(char_run, "--length", "400", "--seed", "3", "--num-samples", "3", "--stop-at-eod")
    for f, e in zip(free, ended):  # the same draws, cut where the model ended the document
        assert f["text"].startswith(e["text"])
        if e["stopped_by"] == "eod":
            assert f["tokens"][len(e["tokens"])] == "\n"
    beam = samples(char_run, "--length", "120", "--beam-width", "2", "--stop-at-eod", "--stop", "house")
    assert beam[0]["stopped_by"] in ("eod", "stop", "length") and "score" in beam[0]


def test_show_probs_lists_the_k_most_likely_tokens(char_run):
    [s] = samples(char_run, "--prime", "The cat", "--length", "0", "--show-probs", "4")
    probs = [t["prob"] for t in s["top"]]
    assert len(probs) == 4 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-9
    text = run("sample", char_run, "--prime", "The cat", "--length", "0", "--show-probs", "4").output
    assert text.count("\n") == 4 + 3 and text.endswith("\nThe cat\n")


def test_contradictory_options_are_usage_errors(char_run):
    result = run("sample", char_run, "--beam-width", "2", "--num-samples", "3")
    assert result.exit_code == 2 and "--num-samples 3 is more than --beam-width 2" in result.output
    assert run("sample", char_run, "--interactive", "--beam-width", "2").exit_code == 2
    assert run("sample", char_run, "--stop", "").exit_code == 2


def _pty():
    """The standard library's pty module, or a skip where there are no pseudo-terminals (Windows)."""
    pytest.importorskip("termios")
    import pty
    return pty


def _take_terminal():
    """In the child: a new session whose controlling terminal is the pty on stdin, so that the
    terminal turns Ctrl-C into SIGINT for it."""
    import fcntl
    import termios

    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _take_terminal_ignoring_ctrl_c():
    """``_take_terminal``, and SIGINT ignored, as a shell's background job or a launcher passes it on."""
    import signal

    _take_terminal()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _read_until(fd, needle, what, timeout=60.0):
    """The terminal's output up to and including ``needle``; fails naming ``what`` did not happen."""
    out, end = b"", time.monotonic() + timeout
    while needle not in out:
        ready, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            raise AssertionError(f"{what} did not happen within {timeout:.0f} s: no {needle!r} in the "
                                 f"{len(out):,} bytes the terminal showed, which end {out[-300:]!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            chunk = b""
        if not chunk:
            raise AssertionError(f"{what} did not happen: the session closed the terminal after {out[-300:]!r}")
        out += chunk
    return out.decode("utf-8", "replace")


@contextlib.contextmanager
def _interactive(run_dir, *options, preexec_fn=None):
    """``lstmgen sample --interactive`` on a pseudo-terminal: yields the terminal's main side;
    on leaving, Ctrl-D at the prompt must end the session with exit code 0."""
    main, child = _pty().openpty()
    proc = subprocess.Popen([sys.executable, "-m", "lstmgen", "sample", str(run_dir), "--interactive", *options],
                            stdin=child, stdout=child, stderr=child, close_fds=True, preexec_fn=preexec_fn, cwd=ROOT)
    os.close(child)
    try:
        yield main
        os.write(main, b"\x04")  # Ctrl-D at the prompt leaves
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("the session did not leave within 60 s of Ctrl-D at the prompt") from None
        assert proc.returncode == 0, f"Ctrl-D at the prompt left with exit code {proc.returncode}"
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)


def test_interactive_loop_through_a_pseudo_terminal(char_run):
    with _interactive(char_run, "--seed", "1", "--length", "300", "--stop", ".") as main:
        assert "interactive" in _read_until(main, b"> ", "the first prompt")
        os.write(main, b":temp 0.5\n")
        assert "temperature=0.5" in _read_until(main, b"> ", "the prompt after :temp")
        os.write(main, b":bogus\n")
        assert "unknown command ':bogus'" in _read_until(main, b"> ", "the prompt after :bogus")
        os.write(main, b"The cat\n")
        reply = _read_until(main, b"> ", "the prompt after a continuation").replace("\r", "")
        line = reply.split("The cat\n", 1)[1].split("\n")[0]  # the terminal echoes the typed line
        assert line.endswith(".") and line.count(".") == 1
        os.write(main, b":reset\n")
        assert "state reset" in _read_until(main, b"> ", "the prompt after :reset")


def _interrupt_a_continuation(main):
    """Start an endless continuation, wait until it streams, press Ctrl-C: the prompt must come back."""
    _read_until(main, b"> ", "the first prompt")
    os.write(main, b"The\n")
    _read_until(main, b"The\r\n", "the terminal's echo of the line")
    ready, _, _ = select.select([main], [], [], 60.0)
    assert ready and os.read(main, 1), "the continuation did not start streaming within 60 s"
    os.write(main, b"\x03")  # Ctrl-C, turned into SIGINT by the terminal
    return _read_until(main, b"[interrupted]\r\n> ", "the continuation ending on Ctrl-C with the prompt back")


def test_ctrl_c_ends_a_continuation_but_not_the_session(char_run):
    with _interactive(char_run, "--length", "10000000", preexec_fn=_take_terminal) as main:
        _interrupt_a_continuation(main)
        os.write(main, b":settings\n")  # the session goes on
        assert "carry=on" in _read_until(main, b"> ", "the prompt after :settings")


def test_ctrl_c_reaches_a_session_started_with_sigint_ignored(char_run):
    # the cause of a lost Ctrl-C (issue 26): Python installs its SIGINT handler only where SIGINT is
    # at its default, and a process started with it ignored (a shell's background job) keeps that
    with _interactive(char_run, "--length", "10000000", preexec_fn=_take_terminal_ignoring_ctrl_c) as main:
        _interrupt_a_continuation(main)


TGKILL = {"x86_64": 234, "aarch64": 131}.get(os.uname().machine)  # the syscall's number


def test_ctrl_c_at_the_prompt_ends_the_session_whichever_thread_the_kernel_gives_it(char_run):
    # the kernel may hand SIGINT to any thread of the process; given to one that is not the main
    # thread (an OpenBLAS worker) while the prompt waits, it must end the session at once, not
    # after the next Enter
    import ctypes
    import signal

    if TGKILL is None:
        pytest.skip(f"tgkill's number on {os.uname().machine} is not known here")
    main, child = _pty().openpty()
    proc = subprocess.Popen([sys.executable, "-m", "lstmgen", "sample", str(char_run), "--interactive"],
                            stdin=child, stdout=child, stderr=child, close_fds=True, preexec_fn=_take_terminal,
                            cwd=ROOT, env={**os.environ, "OPENBLAS_NUM_THREADS": "2"})
    os.close(child)
    try:
        _read_until(main, b"> ", "the first prompt")
        others = sorted(int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid)
        if not others:
            pytest.skip("the session runs no thread besides its main one")
        assert ctypes.CDLL(None, use_errno=True).syscall(TGKILL, proc.pid, others[0], signal.SIGINT) == 0
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError("Ctrl-C at the prompt, taken by a thread other than the main one, did not end "
                                 "the session within 60 s") from None
        assert proc.returncode == 130
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(main)
