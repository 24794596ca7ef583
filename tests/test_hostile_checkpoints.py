"""Checkpoints are untrusted input: each way of breaking one is a one-line CheckpointError that
names the file, for ``sample`` (the weights only) and for ``train --resume`` (everything), and
nothing in them is ever unpickled or executed.
"""

import json
import pathlib
import pickle

import numpy as np
import pytest

from tests.helpers import assert_user_error, run


class Trap:
    """Unpickling this creates a file: proof that something ran code from a checkpoint."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return pathlib.Path.touch, (pathlib.Path(self.path),)


def load(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def rewrite_npz(name, change):
    def mutate(folder, tmp):
        arrays = load(folder / name)
        change(arrays, tmp)
        np.savez(folder / name, **arrays)
    return mutate


def truncate(name):
    def mutate(folder, tmp):
        data = (folder / name).read_bytes()
        (folder / name).write_bytes(data[: len(data) // 2])
    return mutate


def write(name, text):
    def mutate(folder, tmp):
        (folder / name).write_text(text.replace("SENTINEL", str(tmp / "sentinel")))
    return mutate


def edit_json(name, change):
    def mutate(folder, tmp):
        data = json.loads((folder / name).read_text())
        change(data)
        (folder / name).write_text(json.dumps(data))
    return mutate


def first_key(arrays, prefix):
    return next(k for k in arrays if k.startswith(prefix))


CASES = {  # name: (mutation of every checkpoint folder, command that must refuse it, words the message holds)
    "pickle-trap-in-model": (rewrite_npz("model.npz", lambda a, tmp: a.update(
        {"embed.W": np.array([Trap(tmp / "sentinel")], dtype=object)})), "sample", ["model.npz", "refused"]),
    "pickle-file-as-model": (lambda f, tmp: (f / "model.npz").write_bytes(
        pickle.dumps({"embed.W": Trap(tmp / "sentinel")})), "sample", ["model.npz", "not an .npz"]),
    "object-array-in-optimizer": (rewrite_npz("optimizer.npz", lambda a, tmp: a.update(
        {first_key(a, "m:") if "m:embed.W" in a else first_key(a, "buf:"): np.array([Trap(tmp / "sentinel")],
                                                                                   dtype=object)})),
        "resume", ["optimizer.npz", "refused"]),
    "int-weights": (rewrite_npz("model.npz", lambda a, tmp: a.update({"head.W": a["head.W"].astype(np.int32)})),
                    "sample", ["model.npz", "head.W", "int32", "floating point"]),
    "float64-moments": (rewrite_npz("optimizer.npz", lambda a, tmp: a.update(
        {k: v.astype(np.float64) for k, v in a.items()})), "resume", ["optimizer.npz", "float64"]),
    "nan-weights": (rewrite_npz("model.npz", lambda a, tmp: a["head.b"].__setitem__(0, np.nan)),
                    "sample", ["model.npz", "head.b", "NaN"]),
    "wrong-state-shape": (rewrite_npz("state.npz", lambda a, tmp: a.update({"layers.0.h": a["layers.0.h"][:1]})),
                          "resume", ["state.npz", "layers.0.h", "shape"]),
    "missing-array": (rewrite_npz("model.npz", lambda a, tmp: a.pop("head.b")), "sample", ["model.npz", "head.b"]),
    "tokenizer-larger-than-weights": (edit_json("tokenizer.json", lambda d: d["vocab"].append("\u263a")),
                                      "sample", ["tokenizer.json", "model.npz", "do not belong together"]),
    "tokenizer-smaller-than-weights-on-resume": (edit_json("tokenizer.json", lambda d: d["vocab"].pop()),
                                                 "resume", ["tokenizer.json", "model.npz"]),
    "tokenizer-not-a-vocabulary": (write("tokenizer.json", '{"level": "char", "vocab": [1, 2]}'),
                                   "sample", ["tokenizer.json", "list of strings"]),
    "truncated-model": (truncate("model.npz"), "sample", ["model.npz", "truncated"]),
    "truncated-state": (truncate("state.npz"), "resume", ["state.npz", "truncated"]),
    "truncated-trainer": (truncate("trainer.json"), "resume", ["trainer.json", "JSON"]),
    "truncated-tokenizer": (truncate("tokenizer.json"), "sample", ["tokenizer.json", "JSON"]),
    "trainer-step-not-a-number": (edit_json("trainer.json", lambda d: d.update(step="twelve")),
                                  "resume", ["trainer.json", "'step'"]),
    "trainer-missing-accumulator": (edit_json("trainer.json", lambda d: d.pop("log_accumulator")),
                                    "resume", ["trainer.json", "'log_accumulator' is missing"]),
    "trainer-bad-rng": (edit_json("trainer.json", lambda d: d.update(rng={"bit_generator": "Evil"})),
                        "resume", ["trainer.json"]),
    "trainer-window-past-the-data": (edit_json("trainer.json", lambda d: d.update(window=10**6)),
                                     "resume", ["trainer.json", "past the end"]),
    "trainer-a-list": (write("trainer.json", "[1, 2, 3]"), "resume", ["trainer.json", "JSON object"]),
    "trainer-nested-too-deeply": (write("trainer.json", "[" * 100_000), "resume", ["trainer.json", "JSON"]),
    "yaml-nested-too-deeply": (write("config.yaml", "[" * 100_000), "sample", ["config.yaml", "nested too deeply"]),
    "yaml-python-tag": (write("config.yaml", "model: !!python/object/apply:os.system ['touch SENTINEL']\n"),
                        "sample", ["config.yaml", "not valid YAML"]),
    "yaml-a-list": (write("config.yaml", "- model\n- train\n"), "sample", ["config.yaml", "mapping"]),
    "yaml-wrong-type": (write("config.yaml", "model:\n  hidden_size: big\n"),
                        "sample", ["config.yaml", "model.hidden_size", "'big'"]),
    "yaml-not-utf8": (lambda f, tmp: (f / "config.yaml").write_bytes(b"model: \xff\xfe\n"), "sample", ["config.yaml"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_broken_checkpoint_is_a_clear_error_naming_the_file(run_copy, tmp_path, case):
    mutate, command, needles = CASES[case]
    for folder in (run_copy / "checkpoints").glob("step-*"):
        mutate(folder, tmp_path)
    args = ["sample", run_copy, "--length", "5"] if command == "sample" else \
        ["train", "--out", run_copy, "--resume", "--set", "train.max_steps=44"]
    result = run(*args)
    assert_user_error(result, 1, *needles)
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert not (tmp_path / "sentinel").exists(), "a checkpoint ran code"


@pytest.mark.parametrize("pointer", ["truncated", "escapes", "not-an-object"])
def test_broken_pointer_file(run_copy, pointer):
    path = run_copy / "checkpoints" / "last.json"
    text = path.read_text()
    path.write_text({"truncated": text[: len(text) // 2], "escapes": '{"format_version": 1, "checkpoint": "../.."}',
                     "not-an-object": '"step-00000012"'}[pointer])
    for args in (["sample", run_copy, "--checkpoint", "last"], ["train", "--out", run_copy, "--resume"]):
        assert_user_error(run(*args), 1, "last.json")
