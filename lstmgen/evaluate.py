"""Score text with a trained run: loss (nats per token), perplexity, bits per character and byte.

    loss            = summed -ln p(token) / tokens
    perplexity      = exp(loss)                       (per word with a word tokenizer)
    bits_per_char   = summed -log2 p(token) / characters those tokens stand for
    bits_per_byte   = summed -log2 p(token) / UTF-8 bytes those tokens stand for

Bits per character and per byte divide by the original text, not by tokens, so models with
different tokenizers can be compared on the same text: the characters (bytes) of the scored
documents, each end-of-document marker counting one, less those of the few tokens that are
not scored (the first, which is only read, and at most N - 1 at the end; measured with the
tokenizer's ``num_chars``/``num_bytes``). A word tokenizer drops spaces, which the model then
never has to predict: its figures are a little flattering.
"""

import math
from pathlib import Path
from typing import Optional

import numpy as np

from .corpus import corpus_options, load_configured_corpus, read_documents
from .data import eval_windows
from .errors import DataError
from .loading import load_run


def evaluate_ids(model, params, ids: np.ndarray, batch_size: int, seq_len: int, part=(0, 1)):
    """Summed NLL (nats) over every target of ``ids``, and the targets scored. ``part = (rank,
    P)``: only rank's share of the streams (``data.eval_windows``); the P parts sum to the whole."""
    total, count, state = 0.0, 0, None
    for x, y in eval_windows(ids, batch_size, seq_len, part):
        if state is None:
            state = model.init_state(x.shape[1])
        nll, state = model.nll(params, x, y, state)
        total += nll
        count += y.size
    return total, count


def evaluate_run(run_dir, corpus: Optional[str] = None, *, which: str = "best",
                 csv_column=None, batch_size: Optional[int] = None) -> dict:
    """Evaluate a run directory on ``corpus`` (default: the run's own validation split)."""
    run = load_run(Path(run_dir), which)
    cfg = run.config
    if corpus is None:
        docs = load_configured_corpus(cfg.data).val
        source = f"{cfg.data.corpus} (validation split)"
    else:
        options = corpus_options(cfg.data)
        if csv_column is not None:  # a column named on the command line replaces the run's template
            options.update(csv_column=csv_column, template=None)
        docs = read_documents(corpus, **options)
        source = corpus
    ids = run.tokenizer.encode_documents(docs) if docs else np.zeros(0, np.int32)
    nll, tokens = evaluate_ids(run.model, run.params, ids, batch_size or cfg.train.batch_size, cfg.train.seq_len)
    if tokens == 0:
        raise DataError(f"corpus {source} has nothing to evaluate (fewer than two tokens)")
    # the characters and bytes of the scored targets: the whole text less the unscored tokens
    unscored = np.concatenate([ids[:1], ids[1 + tokens:]])
    chars = sum(len(d) for d in docs) + len(docs) - run.tokenizer.num_chars(unscored)
    num_bytes = sum(len(d.encode("utf-8", "surrogatepass")) for d in docs) + len(docs) - run.tokenizer.num_bytes(unscored)
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
        "bytes": int(num_bytes),
        "bits_per_byte": nll / math.log(2) / max(1, num_bytes),
        "tokenizer": run.tokenizer.level,
    }
