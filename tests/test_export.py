"""`lstmgen export`: onnxruntime and torch.nn, given the exported files, compute what lstmgen
computes (log-probabilities, final states, greedy and seeded samples); a wrong gate layout is
caught; bad input is one line and leaves nothing behind; the two snippets of docs/export.md run.
Skipped without onnx, onnxruntime or safetensors; the torch checks without torch."""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

import lstmgen
from lstmgen.errors import CheckpointError
from lstmgen.runs import checkpoint as ckpt
from lstmgen.cli import cli
from lstmgen.runs.config import load_config
from lstmgen.runs.loading import read_run
from lstmgen.nn.model import LanguageModel
from lstmgen.evaluation.metrics import text_ids
from lstmgen.evaluation.score import score_documents
from lstmgen.tokenizers import build_tokenizer, tokenizer_from_dict
from tests.helpers import ROOT, write_corpus

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
pytest.importorskip("safetensors")
from lstmgen import export as ex  # noqa: E402
from lstmgen.export import onnx_graph, torch_format  # noqa: E402

TRAIN_DOCS = ["The cat sat on the mat.", "A dog ran to the big red house!", "the end, 1 2 3"]
HELD_OUT = ["the dog sat on a red mat.", "a cat ran"]  # two documents: the state is zeroed at <eod>
CELLS = ["lstm", "peephole_lstm", "gru", "gru_cudnn", "rnn"]
HEADS = {"untied": (False, 6), "tied": (True, 8), "tied+proj": (True, 6)}  # tie_weights, embed_dim (H = 8)
TOL = 1e-5


def make_run(path, cell="lstm", layers=2, head="untied", level="char", hidden=8, step=7, docs=TRAIN_DOCS):
    """A run directory with one checkpoint of random weights: the initial ones plus noise (so
    that biases and peepholes, zero at first, matter too)."""
    tie, embed = HEADS[head]
    cfg = load_config(None, [f"model.cell={cell}", f"model.num_layers={layers}", f"model.embed_dim={embed}",
                             f"model.hidden_size={hidden}", f"model.tie_weights={str(tie).lower()}",
                             f"tokenizer.level={level}", "tokenizer.vocab_size=300"])
    tok = build_tokenizer(level, docs, **({"vocab_size": 300} if level == "bpe" else {}))
    model = LanguageModel.from_config(cfg.model, tok.vocab_size)
    rng = np.random.default_rng(len(cell) * 10 + layers)
    params = {k: (v + rng.standard_normal(v.shape) * 0.3).astype(np.float32)
              for k, v in model.init_params(rng).items()}
    ckpt.write_run_files(path, cfg, tok.to_dict())
    ckpt.save_checkpoint(path, ["last", "best"], step=step, params=params, optimizer_arrays={}, state_arrays={},
                         trainer={"step": step}, cfg=cfg, tokenizer_dict=tok.to_dict())
    return path


def lstmgen_reference(run_dir):
    """lstmgen's per-token log-probabilities of HELD_OUT (``score``) and its final state."""
    run = read_run(run_dir)
    logprobs = np.array([row["logprob"] for row in score_documents(run, HELD_OUT)["tokens"]])
    ids = text_ids(run.tokenizer, HELD_OUT)
    _, state = run.model.logits(run.params, ids[:-1, None], run.model.init_state(1))
    return ids, logprobs, state


def documents(ids, eod):
    """The inputs ids[:-1] cut before every <eod> (where the caller zeroes the state)."""
    x = ids[:-1]
    starts = [i for i in range(len(x)) if x[i] == eod] + [len(x)]
    return [x[a:b] for a, b in zip(starts, starts[1:])]


def onnx_score(path, ids):
    """onnxruntime alone: log-probabilities of ids[1:] and the final state, one document at a time."""
    session = ort.InferenceSession(str(path))
    meta = session.get_modelmeta().custom_metadata_map
    names, H = [i.name for i in session.get_inputs()[1:]], int(meta["hidden_size"])
    out = []
    for doc in documents(ids, int(meta["eod_id"])):
        state = {n: np.zeros((1, H), np.float32) for n in names}  # zeroed at <eod>
        logprobs, *new = session.run(None, {"ids": doc[:, None].astype(np.int64), **state})
        out.append(logprobs[:, 0])
    logp = np.concatenate(out)  # (t, V)
    return logp[np.arange(len(logp)), ids[1:]], dict(zip(names, new))


def assert_matches(logprobs, state, ref_logprobs, ref_state):
    assert np.abs(logprobs - ref_logprobs).max() <= TOL
    assert set(state) == set(ref_state)
    for k in ref_state:
        assert np.abs(state[k].reshape(ref_state[k].shape) - ref_state[k]).max() <= TOL, k


def export(run_dir, out, *args):
    result = CliRunner().invoke(cli, ["export", str(run_dir), "-o", str(out), *args])
    assert result.exit_code == 0, result.output
    return result


# ---- ONNX: every cell, head and depth -----------------------------------------------------------
@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("head", list(HEADS))
@pytest.mark.parametrize("cell", CELLS)
def test_onnxruntime_gives_lstmgens_logprobs_and_state(tmp_path, cell, head, layers):
    run = make_run(tmp_path / "run", cell, layers, head)
    ex.export(run, tmp_path / "m.onnx")
    onnx.checker.check_model(str(tmp_path / "m.onnx"), full_check=True)
    ids, ref_logprobs, ref_state = lstmgen_reference(run)
    assert_matches(*onnx_score(tmp_path / "m.onnx", ids), ref_logprobs, ref_state)


def test_the_graph_uses_the_recurrent_operators_and_states_its_opset_and_vocabulary(tmp_path):
    run = make_run(tmp_path / "run", "gru", 2, "tied+proj", level="bpe")
    export(run, tmp_path / "m.onnx")
    model = onnx.load(str(tmp_path / "m.onnx"))
    assert [o.version for o in model.opset_import] == [onnx_graph.OPSET] and model.ir_version == onnx_graph.IR_VERSION
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("GRU") == 2 and "Loop" not in ops and "Scan" not in ops and "Dropout" not in ops
    assert ops.count("Gather") == 1  # the embedding, read once; the tied head transposes the same initializer
    assert sum(i.name == "embed.W" for i in model.graph.initializer) == 1
    meta = {p.key: p.value for p in model.metadata_props}
    tok = read_run(run).tokenizer
    assert tokenizer_from_dict(json.loads(meta["tokenizer"])) == tok
    assert (meta["unk_id"], meta["eod_id"], meta["reset_at_eod"], meta["opset"]) == ("0", "1", "true", "17")
    assert "zero a stream's state before it reads <eod>" in meta["eod"]
    pieces = [bytes.fromhex(b) for b in json.loads(meta["token_bytes"])]
    ids = tok.encode("héllo wörld")
    assert b"".join(pieces[i] for i in ids).decode("utf-8") == tok.decode(ids)


def test_any_vocabulary_travels_even_lone_surrogates(tmp_path):
    run = make_run(tmp_path / "run", docs=[*TRAIN_DOCS, "é€😀 \ud800"])
    for name in ("m.onnx", "m.safetensors"):
        export(run, tmp_path / name)
    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "m.onnx")).metadata_props}
    config = json.loads((tmp_path / "m.json").read_text("utf-8"))
    tok = read_run(run).tokenizer
    assert tokenizer_from_dict(json.loads(meta["tokenizer"])) == tok == tokenizer_from_dict(config["tokenizer"])


def test_weights_over_the_onnx_limit_are_refused_naming_torch(tmp_path, monkeypatch):
    run = make_run(tmp_path / "run")
    monkeypatch.setattr(ex, "ONNX_LIMIT", 1000)
    assert "--format torch" in refused([run, "-o", tmp_path / "m.onnx"], 1)
    assert leftovers(tmp_path) == []


# ---- the control: a wrong gate layout must fail the same checks ----------------------------------
@pytest.mark.parametrize("cell, wrong", [("lstm", "ifgo"), ("gru_cudnn", "rzn"), ("peephole_lstm", "ifog")])
def test_an_export_with_its_gate_blocks_swapped_fails_the_check(tmp_path, monkeypatch, cell, wrong):
    run = make_run(tmp_path / "run", cell, 1, "untied")
    monkeypatch.setitem(onnx_graph.ONNX_ORDER, cell, wrong)
    ex.export(run, tmp_path / "m.onnx")
    ids, ref_logprobs, ref_state = lstmgen_reference(run)
    with pytest.raises(AssertionError):
        assert_matches(*onnx_score(tmp_path / "m.onnx", ids), ref_logprobs, ref_state)


# ---- greedy and seeded generation with onnxruntime alone -------------------------------------------
def onnx_greedy(path, length=200):
    """Greedy decoding from <eod> with onnxruntime and the model's metadata only: the token ids."""
    session = ort.InferenceSession(str(path))
    meta = session.get_modelmeta().custom_metadata_map
    unk, eod, H = int(meta["unk_id"]), int(meta["eod_id"]), int(meta["hidden_size"])
    names = [i.name for i in session.get_inputs()[1:]]
    zero = {n: np.zeros((1, H), np.float32) for n in names}
    state, token, ids = zero, eod, []
    for _ in range(length):
        logprobs, *new = session.run(None, {"ids": np.array([[token]], np.int64), **state})
        logprobs[0, 0, unk] = -np.inf
        token = int(np.argmax(logprobs[0, 0]))
        state = zero if token == eod and meta["reset_at_eod"] == "true" else dict(zip(names, new))
        ids.append(token)
    return ids


@pytest.fixture(scope="module", params=["char", "bpe"])
def trained_run(request, tmp_path_factory):
    """A briefly trained run (about 3 s): greedy decoding from random weights soon repeats one token."""
    import lstmgen

    folder = tmp_path_factory.mktemp(f"trained-{request.param}")
    lstmgen.train({"data": {"corpus": str(write_corpus(folder / "corpus.txt"))},
                   "tokenizer": {"level": request.param, "vocab_size": 300},
                   "model": {"embed_dim": 16, "hidden_size": 24, "num_layers": 2, "dropout": 0.0},
                   "train": {"batch_size": 8, "seq_len": 32, "max_steps": 150, "eval_interval": 150,
                             "learning_rate": 0.01, "sample_interval": 0}}, out=folder / "run")
    return folder / "run"


def test_greedy_onnxruntime_gives_lstmgen_sample_top_k_1(tmp_path, trained_run):
    run = trained_run
    export(run, tmp_path / "m.onnx")
    result = CliRunner().invoke(cli, ["sample", str(run), "--top-k", "1", "--length", "200", "--seed", "0",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    sampled = json.loads(result.output)
    ids = onnx_greedy(tmp_path / "m.onnx")
    tok = read_run(run).tokenizer
    assert [tok.token_text(i) for i in ids] == sampled["tokens"]
    assert len(set(ids)) > 5  # not one token over and over


# ---- the torch format -----------------------------------------------------------------------------
def torch_modules(path):
    """torch.nn modules holding the exported weights (the recipe of docs/export.md)."""
    torch = pytest.importorskip("torch")
    from safetensors.torch import load_file

    config = json.loads(path.with_suffix(".json").read_text("utf-8"))
    weights = load_file(str(path))
    V, E, H, L = (config[k] for k in ("vocab_size", "embed_dim", "hidden_size", "num_layers"))
    net = torch.nn.ModuleDict({"embed": torch.nn.Embedding(V, E),
                               "rnn": getattr(torch.nn, config["torch_module"])(E, H, L),
                               "head": torch.nn.Linear(E if config["tie_weights"] else H, V)})
    if config["projection"]:
        net["proj"] = torch.nn.Linear(H, E, bias=False)
    if config["tie_weights"]:
        weights["head.weight"] = weights["embed.weight"]
    net.load_state_dict(weights)
    return torch, net, config


def torch_score(path, ids):
    torch, net, config = torch_modules(path)
    out = []
    with torch.no_grad():
        for doc in documents(ids, config["eod_id"]):
            h, state = net["rnn"](net["embed"](torch.from_numpy(doc[:, None].astype(np.int64))))  # zero state
            h = net["proj"](h) if "proj" in net else h
            out.append(net["head"](h).log_softmax(-1)[:, 0].double().numpy())
    logp = np.concatenate(out)
    h, c = state if isinstance(state, tuple) else (state, None)
    final = {f"layers.{l}.h": h[l].numpy() for l in range(config["num_layers"])}
    if c is not None:
        final.update({f"layers.{l}.c": c[l].numpy() for l in range(config["num_layers"])})
    return logp[np.arange(len(logp)), ids[1:]], final


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("head", list(HEADS))
@pytest.mark.parametrize("cell", ["lstm", "gru_cudnn", "rnn"])
def test_torch_nn_modules_give_lstmgens_logprobs_and_state(tmp_path, cell, head, layers):
    run = make_run(tmp_path / "run", cell, layers, head)
    ex.export(run, tmp_path / "m.safetensors")
    ids, ref_logprobs, ref_state = lstmgen_reference(run)
    assert_matches(*torch_score(tmp_path / "m.safetensors", ids), ref_logprobs, ref_state)


def test_a_torch_export_with_its_gate_blocks_swapped_fails_the_check(tmp_path, monkeypatch):
    run = make_run(tmp_path / "run", "lstm", 1, "untied")
    monkeypatch.setitem(torch_format.TORCH_ORDER, "lstm", "iofg")
    ex.export(run, tmp_path / "m.safetensors")
    ids, ref_logprobs, ref_state = lstmgen_reference(run)
    with pytest.raises(AssertionError):
        assert_matches(*torch_score(tmp_path / "m.safetensors", ids), ref_logprobs, ref_state)


def test_the_torch_files_hold_no_pickle_and_say_what_they_are(tmp_path):
    run = make_run(tmp_path / "run", "gru_cudnn", 2, "tied+proj")
    export(run, tmp_path / "m.safetensors")
    raw = (tmp_path / "m.safetensors").read_bytes()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    config = json.loads((tmp_path / "m.json").read_text("utf-8"))
    assert json.loads(header["__metadata__"]["lstmgen"]) == config
    assert config["torch_module"] == "GRU" and config["projection"] and "head.weight" not in config["tensors"]
    assert set(config["tensors"]) == set(header) - {"__metadata__"}
    umask = os.umask(0)
    os.umask(umask)
    for name in ("m.safetensors", "m.json"):  # shared like any file the user writes, not private temporaries
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask


# ---- the snippets of docs/export.md, as printed ---------------------------------------------------
def doc_block(word):
    text = (ROOT / "docs" / "export.md").read_text("utf-8")
    blocks = [b for b in re.findall(r"```python\n(.*?)```", text, re.S) if word in b]
    assert len(blocks) == 1, f"docs/export.md should hold one python block with {word}"
    return blocks[0]


def test_the_docs_sampling_loop_runs_alone_and_prints_what_lstmgen_sample_prints(tmp_path):
    run = make_run(tmp_path / "run", "gru_cudnn", 2, "tied")
    export(run, tmp_path / "model.onnx")
    code = doc_block("onnxruntime")
    assert "lstmgen" not in code
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    sampled = CliRunner().invoke(cli, ["sample", str(run), "--seed", "0", "--length", "200"])
    assert sampled.exit_code == 0 and done.stdout == sampled.output
    assert done.stdout.count("\n") > 1  # <eod> was drawn (the vocabulary has no newline): the state was zeroed


def test_the_docs_torch_snippet_runs_and_scores_like_lstmgen(tmp_path, monkeypatch):
    torch = pytest.importorskip("torch")
    run = make_run(tmp_path / "run", "lstm", 2, "tied+proj")
    export(run, tmp_path / "model.safetensors")
    code = doc_block("safetensors.torch")
    assert "lstmgen" not in code
    monkeypatch.chdir(tmp_path)
    scope = {}
    exec(compile(code, "docs/export.md", "exec"), scope)
    loaded = read_run(run)
    ids = np.concatenate([[1], loaded.tokenizer.encode("the cat")])
    logits, _ = loaded.model.logits(loaded.params, ids[:, None], loaded.model.init_state(1))
    reference = torch.from_numpy(logits).double().log_softmax(-1).numpy()
    assert np.abs(scope["logprobs"][:, 0].double().numpy() - reference).max() <= TOL


# ---- bad input: one line, exit code, nothing left behind ------------------------------------------
def refused(args, code):
    result = CliRunner().invoke(cli, ["export", *map(str, args)])
    assert result.exit_code == code, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name not in ("run",))


def test_an_unfinished_run_is_refused(tmp_path):
    cfg = load_config()
    ckpt.write_run_files(tmp_path / "run", cfg, build_tokenizer("char", TRAIN_DOCS).to_dict())  # no checkpoint yet
    assert "checkpoint" in refused([tmp_path / "run", "-o", tmp_path / "m.onnx"], 1)
    assert "does not exist" in refused([tmp_path / "nowhere", "-o", tmp_path / "m.onnx"], 1)
    assert leftovers(tmp_path) == []


def test_a_missing_checkpoint_is_refused_naming_the_kept_steps(tmp_path):
    run = make_run(tmp_path / "run", step=7)
    line = refused([run, "-o", tmp_path / "m.onnx", "--checkpoint", "5"], 1)
    assert "no checkpoint of step 5" in line and "steps 7" in line
    refused([run, "-o", tmp_path / "m.onnx", "--checkpoint", "latest"], 2)
    export(run, tmp_path / "m.onnx", "--checkpoint", "7")
    assert leftovers(tmp_path) == ["m.onnx"]
    assert lstmgen.load(run, "7").run.step == 7  # the API reads a kept step as export does
    with pytest.raises(CheckpointError, match="no checkpoint of step 5"):
        lstmgen.load(run, "5")


def test_an_unwritable_output_is_refused_and_leaves_nothing(tmp_path):
    run = make_run(tmp_path / "run")
    assert "cannot write" in refused([run, "-o", tmp_path / "no" / "m.onnx"], 1)
    (tmp_path / "afile").write_text("x")
    assert "cannot write" in refused([run, "-o", tmp_path / "afile" / "m.safetensors"], 1)
    (tmp_path / "folder").mkdir()
    assert "is a folder" in refused([run, "-o", tmp_path / "folder"], 1)
    assert leftovers(tmp_path) == ["afile", "folder"] and not list((tmp_path / "folder").iterdir())


def test_a_write_that_fails_midway_leaves_the_previous_files(tmp_path, monkeypatch):
    run = make_run(tmp_path / "run")
    (tmp_path / "m.safetensors").write_bytes(b"old")
    (tmp_path / "m.json").write_bytes(b"old json")
    calls = []

    def full_disk(fd):  # the second file's fsync fails: the first is written but not yet renamed
        calls.append(fd)
        if len(calls) == 2:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(ex.os, "fsync", full_disk)
    with pytest.raises(ex.ExportError, match="No space left"):
        ex.export(run, tmp_path / "m.safetensors")
    assert (tmp_path / "m.safetensors").read_bytes() == b"old" and (tmp_path / "m.json").read_bytes() == b"old json"
    assert leftovers(tmp_path) == ["m.json", "m.safetensors"]


@pytest.mark.parametrize("cell", ["peephole_lstm", "gru"])
def test_a_cell_torch_cannot_hold_is_refused_naming_onnx(tmp_path, cell):
    run = make_run(tmp_path / "run", cell)
    line = refused([run, "-o", tmp_path / "m.safetensors"], 2)
    assert f"model.cell '{cell}'" in line and "--format onnx" in line
    assert leftovers(tmp_path) == []


def test_without_the_extra_the_command_names_the_install(tmp_path, monkeypatch):
    run = make_run(tmp_path / "run")
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnx" else find_spec(name, *a))
    line = refused([run, "-o", tmp_path / "m.onnx"], 1)
    assert "needs onnx" in line and "pip install 'lstmgen[export]'" in line
    assert leftovers(tmp_path) == []


def test_the_core_never_imports_the_export_packages():
    code = ("import sys, lstmgen.cli, lstmgen.export, lstmgen.export.onnx_graph, lstmgen.export.torch_format; "
            "print([m for m in ('onnx', 'safetensors', 'torch', 'onnxruntime') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
