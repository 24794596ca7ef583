"""Score text with a trained run: loss (nats per token), perplexity, bits per character.

    loss            = summed -ln p(token) / tokens
    perplexity      = exp(loss)
    bits_per_char   = summed -log2 p(token) / characters those tokens stand for

Bits per character divides by characters, not tokens, so models with different tokenizers
can be compared on the same text. The end-of-document marker counts as one character.
"""

import math
from pathlib import Path
from typing import Optional

import numpy as np

from .corpus import load_corpus, read_documents
from .errors import DataError
from .loading import load_run
from .train import evaluate_ids


def evaluate_run(run_dir, corpus: Optional[str] = None, *, which: str = "best",
                 csv_column=None, batch_size: Optional[int] = None) -> dict:
    """Evaluate a run directory on ``corpus`` (default: the run's own validation split)."""
    run = load_run(Path(run_dir), which)
    cfg = run.config
    if corpus is None:
        docs = load_corpus(cfg.data.corpus, csv_column=cfg.data.csv_column, val_fraction=cfg.data.val_fraction,
                           encoding=cfg.data.encoding).val
        source = f"{cfg.data.corpus} (validation split)"
    else:
        docs = read_documents(corpus, csv_column=csv_column, encoding=cfg.data.encoding)
        source = corpus
    ids = run.tokenizer.encode_documents(docs) if docs else np.zeros(0, np.int32)
    nll, tokens = evaluate_ids(run.model, run.params, ids, batch_size or cfg.train.batch_size, cfg.train.seq_len)
    if tokens == 0:
        raise DataError(f"corpus {source} has nothing to evaluate (fewer than two tokens)")
    chars = run.tokenizer.num_chars(ids[1 : 1 + tokens])  # the characters of the scored targets
    loss = nll / tokens
    return {
        "run_dir": str(run_dir),
        "checkpoint": run.path.name,
        "corpus": source,
        "tokens": int(tokens),
        "characters": int(chars),
        "unknown_characters": int(sum(run.tokenizer.count_unknown(d) for d in docs)),
        "loss": loss,
        "perplexity": math.exp(min(loss, 700.0)),
        "bits_per_char": nll / math.log(2) / max(1, chars),
    }
