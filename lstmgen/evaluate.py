"""Score text with a trained run: loss (nats per token), perplexity, bits per character and byte.

    loss            = summed -ln p(token) / tokens
    perplexity      = exp(loss)                       (per word with a word tokenizer)
    bits_per_char   = summed -log2 p(token) / characters those tokens stand for
    bits_per_byte   = summed -log2 p(token) / UTF-8 bytes those tokens stand for

Bits per character and per byte divide by the original text, not by tokens, so models with
different tokenizers can be compared on the same text: the characters (bytes) of the scored
documents, each end-of-document marker counting one (``score.text_size``). A word tokenizer
drops spaces, which the model then never has to predict: its figures are a little flattering.

The text is read as ``score`` reads it (``score.text_ids``): from a start <eod>, every token
scored, the closing <eod> included. With N streams (``batch_size``, default the run's
``train.batch_size``) the targets are cut into N columns that each start from a zero state
and the few left over continue the last column (``data.eval_windows``); with one stream the
total equals ``score``'s.
"""

import math
from pathlib import Path
from typing import Optional

from .corpus import corpus_options, load_configured_corpus, read_documents
from .errors import DataError
from .loading import load_run
from .score import text_ids, text_size
from .train import evaluate_ids


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
    if not docs:
        raise DataError(f"corpus {source} has nothing to evaluate (no documents)")
    ids = text_ids(run.tokenizer, docs)
    nll, tokens = evaluate_ids(run.model, run.params, ids, batch_size or cfg.train.batch_size, cfg.train.seq_len)
    chars, num_bytes = text_size(docs)
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
