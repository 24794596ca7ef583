"""Carry the recurrent state across <eod>, or reset it: validation loss both ways.

    python benchmarks/eod_state.py                                  # data/comments.csv, char level
    python benchmarks/eod_state.py --corpus builtin:python-docstrings --steps 300

For each seed it trains the same small model twice on a corpus of many short documents, once
with ``model.reset_at_eod: false`` (a stream's state flows from one document into the next)
and once with ``true`` (a stream reads each <eod> from a zero state, as sampling starts a
document), then scores the validation split of each run under both rules. Printed: validation
loss (nats per token) for every (training rule, evaluation rule) pair, and its mean over seeds.
A quality measurement, not a timing: run it with one BLAS thread (OPENBLAS_NUM_THREADS=1).
"""

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lstmgen.runs.config import load_config  # noqa: E402
from lstmgen.data.corpus import load_configured_corpus  # noqa: E402
from lstmgen.runs.loading import read_run  # noqa: E402
from lstmgen.nn.model import LanguageModel  # noqa: E402
from lstmgen.training.trainer import evaluate_ids, train  # noqa: E402

RULES = {"carry": False, "reset": True}


def val_loss(run, reset: bool) -> float:
    """Validation loss of a trained run, scored with the carry or the reset rule."""
    cfg = run.config
    model = LanguageModel.from_config(dataclasses.replace(cfg.model, reset_at_eod=reset), run.tokenizer.vocab_size)
    ids = run.tokenizer.encode_documents(load_configured_corpus(cfg.data).val)
    nll, tokens = evaluate_ids(model, run.params, ids, cfg.train.batch_size, cfg.train.seq_len)
    return nll / tokens


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=str(ROOT / "data" / "comments.csv"))
    ap.add_argument("--csv-column", default="body", help="CSV column of the text (ignored for other corpora)")
    ap.add_argument("--level", default="char", choices=["char", "word", "bpe"])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    sets = [f"data.corpus={args.corpus}", f"tokenizer.level={args.level}", f"model.hidden_size={args.hidden}",
            "model.num_layers=1", "model.dropout=0.0", "train.batch_size=32", "train.seq_len=64",
            f"train.max_steps={args.steps}", f"train.eval_interval={args.steps}", "train.lr_schedule=constant"]
    if args.corpus.endswith((".csv", ".tsv")):
        sets.append(f"data.csv_column={args.csv_column}")
    losses = {(tr, ev): [] for tr in RULES for ev in RULES}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in args.seeds:
            for tr, reset in RULES.items():
                cfg = load_config(None, sets + [f"train.seed={seed}", f"model.reset_at_eod={str(reset).lower()}"])
                run_dir = Path(tmp) / f"{tr}-{seed}"
                train(cfg, run_dir)
                run = read_run(run_dir, "last")
                for ev, ev_reset in RULES.items():
                    losses[tr, ev].append(val_loss(run, ev_reset))
                print(f"seed {seed} trained with {tr}: " + ", ".join(
                    f"val loss scored with {ev} {losses[tr, ev][-1]:.4f}" for ev in RULES), file=sys.stderr)
    result = {f"train_{tr}/eval_{ev}": {"mean": statistics.mean(v), "per_seed": v} for (tr, ev), v in losses.items()}
    if args.json:
        print(json.dumps({"args": vars(args), "val_loss": result}, indent=1))
        return
    print(f"corpus {args.corpus}, {args.level} level, 1x{args.hidden} LSTM, {args.steps} steps, seeds {args.seeds}")
    print(f"{'trained with':<13} {'scored with carry':>18} {'scored with reset':>18}")
    for tr in RULES:
        print(f"{tr:<13} " + " ".join(f"{result[f'train_{tr}/eval_{ev}']['mean']:>18.4f}" for ev in RULES))


if __name__ == "__main__":
    main()
