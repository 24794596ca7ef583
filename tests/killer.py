"""Run ``lstmgen ARGS...`` in this process and SIGKILL it at a chosen point (for test_kill_resume.py).

    python tests/killer.py WHERE:N lstmgen-args...

kills the process with SIGKILL (no cleanup, no ``finally``) the N-th time (1-based) WHERE
happens in this process. The hooks are installed here, from the outside: lstmgen itself has no
test hook. WHERE is one of, in the order a run meets them:

    corpus         start-up: the corpus has been read (in memory), nothing is tokenised yet
    tokenizer      start-up: the tokenizer has been learnt (in memory, or for the token cache)
    token_cache    start-up: a token-cache entry is half written (train.bin done, val.bin
                   empty), under its temporary name
    run_files      start-up is done: config.yaml and tokenizer.json are written, the first
                   checkpoint (step 0) is not
    step           a training step, after its forward and backward pass, before the update
    model.npz      half-way through writing that file of a checkpoint (half its bytes are on disk);
    optimizer.npz  likewise
    state.npz      likewise
    rename         a checkpoint folder is complete under its temporary name, not yet renamed
    last.json      the folder is renamed into place; the 'last' pointer is not yet replaced
    best.json      'last' points to the new folder; the 'best' pointer is not yet replaced
    metrics.jsonl  half-way through appending a line to metrics.jsonl (half the line is on disk)
    prune          folders no pointer names are about to be removed (when a run resumes, and
                   after each checkpoint's pointers are replaced)
"""

import importlib
import io
import os
import signal
import sys

from lstmgen.runs import checkpoint as ckpt
from lstmgen.data import token_cache
from lstmgen.cli import main
from lstmgen.nn.shards import Shards

train_module = importlib.import_module("lstmgen.training.trainer")  # the module; `lstmgen.train` is the API's function


def _die():
    os.kill(os.getpid(), signal.SIGKILL)


def install(where: str, n: int) -> None:
    count = [0]

    def hit() -> bool:
        count[0] += 1
        return count[0] == n

    def after(real):
        """``real``, and the process killed when it has returned for the n-th time."""

        def wrapped(*args, **kwargs):
            result = real(*args, **kwargs)
            if hit():
                _die()
            return result

        return wrapped

    if where == "corpus":
        train_module.load_configured_corpus = after(train_module.load_configured_corpus)
    elif where == "tokenizer":
        train_module.build_tokenizer = token_cache.build_tokenizer = after(train_module.build_tokenizer)
    elif where == "token_cache":
        real_entry = token_cache._write_entry

        def write_entry(folder, tokenizer, train_texts, val_texts, *args):
            def dying():  # train.bin is written when val.bin asks for its first text
                if hit():
                    _die()
                yield from val_texts

            return real_entry(folder, tokenizer, train_texts, dying(), *args)

        token_cache._write_entry = write_entry
    elif where == "run_files":
        ckpt.write_run_files = after(ckpt.write_run_files)
    elif where == "step":
        Shards.loss_and_grads = after(Shards.loss_and_grads)  # one call per step
    elif where.endswith(".npz"):
        real_npz = ckpt._write_npz

        def write_npz(path, arrays):
            if path.name == where and hit():
                buf = io.BytesIO()
                real_npz_bytes(buf, arrays)
                with open(path, "wb") as f:
                    f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
                    f.flush()
                    os.fsync(f.fileno())
                _die()
            return real_npz(path, arrays)

        ckpt._write_npz = write_npz
    elif where == "rename":
        real_rename = os.rename

        def rename(src, dst, *args, **kwargs):
            if os.path.basename(str(src)).startswith(".step-") and hit():
                _die()
            return real_rename(src, dst, *args, **kwargs)

        ckpt.os.rename = rename
    elif where in ("last.json", "best.json"):
        real_write = ckpt.atomic_write_text

        def atomic_write_text(path, text):
            if os.path.basename(str(path)) == where and hit():
                _die()
            return real_write(path, text)

        ckpt.atomic_write_text = atomic_write_text
    elif where == "metrics.jsonl":
        real_open = open

        class HalfLine:
            def __init__(self, f):
                self.f = f

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.f.close()

            def write(self, text):
                if hit():
                    self.f.write(text[: len(text) // 2])
                    self.f.flush()
                    os.fsync(self.f.fileno())
                    _die()
                return self.f.write(text)

        def open_(path, *args, **kwargs):  # found before the builtin by train.py's log()
            f = real_open(path, *args, **kwargs)
            return HalfLine(f) if os.path.basename(str(path)) == "metrics.jsonl" else f

        train_module.open = open_
    elif where == "prune":
        real_prune = ckpt._prune

        def prune(root):
            if hit():
                _die()
            return real_prune(root)

        ckpt._prune = prune
    else:
        raise SystemExit(f"killer.py: unknown kill point {where!r}")


def real_npz_bytes(buf, arrays):
    import numpy as np

    np.savez(buf, **arrays)


if __name__ == "__main__":
    where, _, n = sys.argv[1].partition(":")
    install(where, int(n))
    sys.argv = ["lstmgen"] + sys.argv[2:]
    main()
