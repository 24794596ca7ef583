"""How long ``lstmgen cells`` takes to write the page for 10,000 characters of a 2 x 256 LSTM.

    python benchmarks/cells_view.py                  # the default model size, 10,000 characters
    python benchmarks/cells_view.py --chars 20000 --cell gru --layers 3

The goal: the page is written in under 5 seconds. The model is the default config's shape
(char level, embedding 64, 2 layers of 256 units) with its random initial weights (the time
does not depend on what the weights learnt), held in memory; the text is generated. It times
each phase of ``cells_view.analyse_run`` plus the page (recording every unit, features and the
finder, gate saturation, the payload and the HTML file) and prints the figures and the page's
size. Figures depend on the machine and its load: run it alone, e.g. under
``flock /tmp/lstmgen-bench.lock``, and with ``OPENBLAS_NUM_THREADS=1`` for one core.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lstmgen.insight import activations, cells_view  # noqa: E402
from lstmgen.runs.config import load_config  # noqa: E402
from lstmgen.runs.loading import Run  # noqa: E402
from lstmgen.nn.model import LanguageModel  # noqa: E402
from lstmgen.tokenizers.char import CharTokenizer  # noqa: E402


def generated_text(chars: int, seed: int = 0) -> str:
    """Prose-like lines of random words, with quotes and brackets now and then."""
    rng = np.random.default_rng(seed)
    words = "the of a to in is that it for as with was on be by this are from or an which".split()
    lines, size = [], 0
    while size < chars:
        parts = [str(w) for w in rng.choice(words, rng.integers(6, 14))]
        if rng.random() < 0.3:
            parts[0] = f'"{parts[0]}'
            parts[-1] += '"'
        if rng.random() < 0.2:
            parts[1] = f"({parts[1]})"
        lines.append(" ".join(parts) + ".")
        size += len(lines[-1]) + 1
    return "\n".join(lines)[:chars]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chars", type=int, default=10_000)
    ap.add_argument("--cell", default="lstm")
    ap.add_argument("--hidden-size", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    text = generated_text(args.chars)
    tok = CharTokenizer.build([text])
    cfg = load_config(None, [f"model.cell={args.cell}", f"model.hidden_size={args.hidden_size}",
                             f"model.num_layers={args.layers}"])
    model = LanguageModel.from_config(cfg.model, tok.vocab_size)
    run = Run(Path("benchmark-run/checkpoints/step-00000000"), cfg, tok, model,
              model.init_params(np.random.default_rng(0)), 0)
    print(f"{args.cell} {args.layers} x {args.hidden_size}, {len(text):,} characters, best of {args.repeats}")
    with tempfile.TemporaryDirectory() as tmp:
        page, source = Path(tmp) / "cells.html", Path(tmp) / "text.txt"
        source.write_text(text, encoding="utf-8")
        best = {}
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            reading = cells_view.read_text(run, str(source))
            rec = activations.record(model, run.params, reading.ids, cells_view.TOP_TOKENS)
            t1 = time.perf_counter()
            analysis = cells_view.analyse_run(run, str(source))  # records again, then features, finder, saturation
            t2 = time.perf_counter()
            cells_view.write_cells_page(analysis, page)
            t3 = time.perf_counter()
            times = {"record (every unit, every position)": t1 - t0,
                     "analyse (record + features + finder + saturation)": t2 - t1,
                     "page (payload + HTML file)": t3 - t2, "total: analyse + page": t3 - t1}
            best = {k: min(v, best.get(k, v)) for k, v in times.items()}
        del rec
        for name, seconds in best.items():
            print(f"  {name:<52} {seconds:6.2f} s")
        print(f"  page size {page.stat().st_size / 1e6:.1f} MB; goal: total under 5 s -> "
              f"{'met' if best['total: analyse + page'] < 5 else 'NOT met'}")


if __name__ == "__main__":
    main()
