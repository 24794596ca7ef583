"""How fast the tokenizers learn and encode, in pure Python/NumPy.

    python benchmarks/tokenizers.py [--mb 1] [--merges 4000]

Text: the standard library's own source files (read at run time, sorted by path), so the
figures are for real, varied text with a large distinct-word count. The first ``--mb`` MB
train the tokenizers; the next ``--mb`` MB, which they have not seen, are encoded (so the
BPE's per-word memory starts cold). Prints, for char, word and bpe: learning time, encoding
MB/s and the number of tokens. Timings on a shared machine are noisy: run it twice.
"""

import argparse
import sys
import sysconfig
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing
from lstmgen.tokenizers import build_tokenizer  # noqa: E402


def stdlib_text(n_bytes):
    """At least ``n_bytes`` of UTF-8 text from the standard library's .py files."""
    parts, size = [], 0
    for path in sorted(Path(sysconfig.get_path("stdlib")).rglob("*.py")):
        if "site-packages" in path.parts or "test" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        parts.append(text)
        size += len(text.encode("utf-8"))
        if size >= n_bytes:
            break
    return "".join(parts)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=1.0, help="MB of text to learn from, and again to encode")
    parser.add_argument("--merges", type=int, default=4000, help="BPE merges to learn")
    args = parser.parse_args()
    n = int(args.mb * 1e6)
    data = stdlib_text(2 * n).encode("utf-8")
    train_text = data[:n].decode("utf-8", "ignore")
    test_text = data[n : 2 * n].decode("utf-8", "ignore")
    mb = len(test_text.encode("utf-8")) / 1e6
    print(f"learn on {len(train_text.encode()) / 1e6:.2f} MB, encode {mb:.2f} MB unseen (stdlib source)")
    print(f"{'tokenizer':<10} {'vocab':>6} {'learn s':>8} {'encode MB/s':>12} {'tokens':>10} {'round trip':>10}")
    for level, settings in [("char", {}), ("word", {"max_vocab": 8000}), ("bpe", {"vocab_size": 258 + args.merges})]:
        t0 = time.perf_counter()
        tok = build_tokenizer(level, [train_text], **settings)
        learn = time.perf_counter() - t0
        t0 = time.perf_counter()
        ids = tok.encode(test_text)
        encode = time.perf_counter() - t0
        exact = "exact" if tok.decode(ids) == test_text else "lossy"
        print(f"{level:<10} {tok.vocab_size:>6} {learn:>8.2f} {mb / encode:>12.2f} {len(ids):>10,} {exact:>10}")


if __name__ == "__main__":
    main()
