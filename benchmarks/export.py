"""`lstmgen export` and onnxruntime beside lstmgen: export time and file size, scoring and
batch-1 sampling tokens/s, side by side in one run.

Prints figures; asserts nothing. The model has the default config's shape (2 x 256 LSTM,
embedding 64) with random weights (speed does not depend on what they are), and a char
vocabulary of the printable ASCII characters (V = 102). Scoring reads a 4,000-token text in one
stream (lstmgen: ``score_ids``, 256 tokens per call; onnxruntime: the whole text in one call,
and 256 per call); sampling draws 500 tokens one at a time from <eod> at temperature 1 (lstmgen:
``sample_steps``; onnxruntime: the loop of docs/export.md). Both use their default threads.
Needs the export extra and onnxruntime. Run it alone (the machine's cores are shared):
``flock /tmp/lstmgen-bench.lock python benchmarks/export.py``.
"""

import string
import tempfile
from pathlib import Path

import numpy as np

from lstmgen.runs import checkpoint as ckpt
from lstmgen.runs.config import Config
from lstmgen.export import export
from lstmgen.runs.loading import read_run
from lstmgen.nn.model import LanguageModel
from lstmgen.generation.sampling import Settings, sample_steps
from lstmgen.evaluation.score import score_ids
from lstmgen.tokenizers import build_tokenizer

from generation import timed  # benchmarks/generation.py: the best of a few runs, in seconds

T_SCORE, T_SAMPLE, CHUNK = 4000, 500, 256




def write_run(folder: Path) -> Path:
    cfg = Config()
    tok = build_tokenizer("char", [string.printable])
    model = LanguageModel.from_config(cfg.model, tok.vocab_size)
    params = model.init_params(np.random.default_rng(0))
    ckpt.write_run_files(folder, cfg, tok.to_dict())
    ckpt.save_checkpoint(folder, ["last", "best"], step=1, params=params, optimizer_arrays={}, state_arrays={},
                         trainer={"step": 1}, cfg=cfg, tokenizer_dict=tok.to_dict())
    return folder


def ort_sample(session, meta, length, seed=0):
    H, eod, unk = int(meta["hidden_size"]), int(meta["eod_id"]), int(meta["unk_id"])
    names = [i.name for i in session.get_inputs()[1:]]
    zero = {n: np.zeros((1, H), np.float32) for n in names}
    rng, state, token = np.random.default_rng(seed), zero, eod
    for _ in range(length):
        logprobs, *new = session.run(None, {"ids": np.array([[token]], np.int64), **state})
        p = np.exp(logprobs[0, 0].astype(np.float64))
        p[unk] = 0
        cdf = np.cumsum(p)
        token = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
        state = zero if token == eod else dict(zip(names, new))


def ort_score(session, ids, chunk):
    names = [i.name for i in session.get_inputs()[1:]]
    state = {n: np.zeros((1, i.shape[1]), np.float32) for n, i in zip(names, session.get_inputs()[1:])}
    for t0 in range(0, len(ids), chunk):
        _, *new = session.run(None, {"ids": ids[t0:t0 + chunk, None], **state})
        state = dict(zip(names, new))


def main():
    import onnxruntime as ort

    folder = Path(tempfile.mkdtemp(prefix="lstmgen-export-bench-"))
    run_dir = write_run(folder / "run")
    run = read_run(run_dir)
    print(f"model: 2 x 256 LSTM, E = 64, V = {run.model.vocab_size}, {run.model.num_params():,} parameters; "
          f"onnxruntime {ort.__version__}; best of 3 runs each")

    for name in ("model.onnx", "model.safetensors"):
        s = timed(lambda: export(run_dir, folder / name))
        files = export(run_dir, folder / name).files
        size = sum(p.stat().st_size for p in files)
        print(f"export   {' + '.join(p.name for p in files):<30} {s:.3f} s, {size / 1e6:.2f} MB on disk"
              f" (weights: {run.model.num_params() * 4 / 1e6:.2f} MB in float32)")

    session = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    rng = np.random.default_rng(1)
    ids = rng.integers(2, run.model.vocab_size, T_SCORE).astype(np.int64)

    s_lstmgen = timed(lambda: score_ids(run.model, run.params, ids))
    s_whole = timed(lambda: ort_score(session, ids, len(ids)))
    s_chunk = timed(lambda: ort_score(session, ids, CHUNK))
    print(f"score    {T_SCORE} tokens: lstmgen {T_SCORE / s_lstmgen:,.0f} tokens/s (chunks of {CHUNK}); "
          f"onnxruntime {T_SCORE / s_chunk:,.0f} tokens/s (chunks of {CHUNK}), "
          f"{T_SCORE / s_whole:,.0f} tokens/s (one call)")

    def lstmgen_sample():
        for _ in sample_steps(run.model, run.params, np.array([1], np.int32), settings=Settings(), num_samples=1,
                              rng=np.random.default_rng(0), banned=[0], length=T_SAMPLE):
            pass

    s_lstmgen = timed(lstmgen_sample)
    s_ort = timed(lambda: ort_sample(session, meta, T_SAMPLE))
    print(f"sample   batch 1, {T_SAMPLE} tokens: lstmgen {T_SAMPLE / s_lstmgen:,.0f} tokens/s; "
          f"onnxruntime {T_SAMPLE / s_ort:,.0f} tokens/s")


if __name__ == "__main__":
    main()
