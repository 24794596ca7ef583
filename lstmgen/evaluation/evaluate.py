"""Score text with a trained run: loss (nats per token), perplexity, bits per character and byte.

    loss            = summed -ln p(token) / tokens
    perplexity      = exp(loss)                       (per word with a word tokenizer)
    bits_per_char   = summed -log2 p(token) / characters those tokens stand for
    bits_per_byte   = summed -log2 p(token) / UTF-8 bytes those tokens stand for

Bits per character and per byte divide by the original text, not by tokens, so models with
different tokenizers can be compared on the same text: the characters (bytes) of the scored
documents, each end-of-document marker counting one (``metrics.text_size``). A word tokenizer
drops spaces, which the model then never has to predict: its figures are a little flattering.

The text is read as ``score`` reads it (``metrics.text_ids``): from a start <eod>, every token
scored, the closing <eod> included. With N streams (``batch_size``, default the run's
``train.batch_size``) the targets are cut into N columns that each start from a zero state
and the few left over continue the last column (``data.eval_windows``); with one stream the
total equals ``score``'s.
"""

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ..data.corpus import check_format_options, corpus_options, load_configured_corpus, read_documents
from ..data.batches import eval_windows
from ..nn.shards import Shards
from ..errors import ConfigError, DataError
from ..runs.loading import read_run
from .metrics import bits, bits_per_char, text_ids, text_size


def evaluate_ids(model, params, ids: np.ndarray, batch_size: int, seq_len: int, part=(0, 1),
                 max_targets: Optional[int] = None, shards: int = 1):
    """Summed NLL (nats) over every target of ``ids`` (at most about ``max_targets`` of them,
    spread over the text: ``batches.eval_windows``), and the targets scored. ``part = (rank, P)``:
    only rank's share of the streams; the P parts sum to the whole. ``shards``: each window's
    columns cut as a training step cuts its streams (``train.shards``, nn/shards.py), computed by
    the worker threads; the same sums whatever the threads."""
    total, count, state = 0.0, 0, None
    scorer = Shards(model, shards)
    for x, y in eval_windows(ids, batch_size, seq_len, part, max_targets):
        if state is None:
            state = model.init_state(x.shape[1])
        elif x.shape[1] < len(next(iter(state.values()))):  # the tail continues the last column
            state = {k: v[-x.shape[1]:] for k, v in state.items()}
        nll, state = scorer.nll(params, x, y, state)
        total += nll
        count += y.size
    return total, count


def _read_text(run, corpus: Optional[str], csv_column):
    """The documents to score, where they come from, and their ids."""
    cfg = run.config
    if corpus is None:
        if csv_column is not None:
            raise ConfigError("data.csv_column is set, but no corpus is given: it names a column of the corpus "
                              "to score (the validation split is read as the run was trained)")
        docs = load_configured_corpus(cfg.data).val
        source = f"{cfg.data.corpus} (validation split)"
    else:
        options = corpus_options(cfg.data)
        if csv_column is not None:  # a column named on the command line replaces the run's template
            check_format_options(corpus, csv_column=csv_column)
            options.update(csv_column=csv_column, template=None)
        docs = read_documents(corpus, **options)
        source = corpus
    if not docs:
        raise DataError(f"corpus {source} has nothing to evaluate (no documents)")
    return docs, source, text_ids(run.tokenizer, docs)


def read_eval_text(run_dir, corpus: Optional[str] = None, *, which: str = "best", csv_column=None,
                   batch_size: Optional[int] = None) -> "EvalText":
    """The run and the text ``evaluate_run`` scores, with the window shape (N, T) it scores in."""
    run = read_run(Path(run_dir), which)
    docs, source, ids = _read_text(run, corpus, csv_column)
    return EvalText(run, docs, source, ids, batch_size or run.config.train.batch_size, run.config.train.seq_len)


@dataclass
class EvalText:
    run: object  # runs.loading.Run
    docs: list
    source: str
    ids: np.ndarray
    batch_size: int  # N
    seq_len: int  # T


def evaluate_run(run_dir, corpus: Optional[str] = None, *, which: str = "best",
                 csv_column=None, batch_size: Optional[int] = None) -> dict:
    """Evaluate a run directory on ``corpus`` (default: the run's own validation split)."""
    text = read_eval_text(run_dir, corpus, which=which, csv_column=csv_column, batch_size=batch_size)
    nll, tokens = evaluate_ids(text.run.model, text.run.params, text.ids, text.batch_size, text.seq_len,
                               shards=text.run.config.train.shards)  # the columns cut as the run's validation
    return eval_report(run_dir, text, nll, tokens)


def eval_report(run_dir, text: EvalText, nll: float, tokens: int) -> dict:
    """The figures of ``evaluate_run`` from the summed NLL (nats) of the ``tokens`` scored."""
    if tokens == 0:
        raise DataError(f"corpus {text.source} has nothing to evaluate (fewer than two tokens)")
    run, docs = text.run, text.docs
    chars, num_bytes = text_size(docs)  # every target is scored
    loss = nll / tokens
    return {
        "run_dir": str(run_dir),
        "checkpoint": run.path.name,
        "corpus": text.source,
        "tokens": int(tokens),
        "characters": int(chars),
        "unknown_characters": int(sum(run.tokenizer.count_unknown(d) for d in docs)),
        "loss": loss,
        "perplexity": math.exp(min(loss, 700.0)),
        "bits_per_char": bits_per_char(nll, max(1, chars)),
        "bytes": int(num_bytes),
        "bits_per_byte": bits(nll) / max(1, num_bytes),
        "tokenizer": run.tokenizer.level,
    }
