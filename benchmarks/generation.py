"""Speed of generation and analysis: sampling, beam search, score, the novelty index.

Prints figures; asserts nothing. The model has the default config's shape (2 x 384 LSTM,
embedding 64) with random weights: speed does not depend on what the weights are. The
vocabulary and the novelty corpus are those of ``builtin:python-docs``; one beam-search line
uses a smaller model (V = 100, 2 x 256, width 5) with the layer-0 table on and off. Run it alone (the
machine's cores are shared): ``flock /tmp/lstmgen-bench.lock python benchmarks/generation.py``.
"""

import time

import numpy as np

import lstmgen.nn.model as model_module
from lstmgen.generation.beam import beam_search
from lstmgen.runs.config import Config
from lstmgen.data.corpus import load_corpus
from lstmgen.nn.model import LanguageModel
from lstmgen.evaluation.novelty import NgramIndex, novelty
from lstmgen.generation.sampling import Settings, sample_steps
from lstmgen.evaluation.score import score_ids
from lstmgen.tokenizers import build_tokenizer


def timed(f, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    cfg = Config()
    corpus = load_corpus(cfg.data.corpus, val_fraction=cfg.data.val_fraction)
    tok = build_tokenizer("char", corpus.train)
    model = LanguageModel.from_config(cfg.model, tok.vocab_size)
    params = model.init_params(np.random.default_rng(0))
    start = np.array([tok.eod_id], np.int32)
    L = 200
    print(f"model: {model.num_params():,} parameters, V = {tok.vocab_size}; best of 3 runs each")

    penalties = dict(repetition_penalty=1.2, no_repeat_ngram_size=4)
    for M, settings in [(1, Settings()), (16, Settings()), (1, Settings(**penalties)),
                        (16, Settings(top_k=10, top_p=0.9, **penalties))]:
        def go():
            for _ in sample_steps(model, params, start, settings=settings, num_samples=M,
                                  rng=np.random.default_rng(0), banned=[0], length=L):
                pass
        s = timed(go)
        print(f"sample   M={M:<3} {settings}: {L} steps in {s:.3f} s = {M * L / s:,.0f} tokens/s")

    for B in (1, 4, 8):
        s = timed(lambda: beam_search(model, params, start, width=B, length=L, banned=[0]))
        print(f"beam     B={B:<3} {L} steps in {s:.3f} s = {L / s:,.0f} steps/s")

    # the case of issue 11: one stepper per search; its (V, 4H) layer-0 table on and off
    small = LanguageModel("lstm", 100, 64, 256, 2, reset_at_eod=False)
    small_params = small.init_params(np.random.default_rng(0))
    table = model_module._TABLE_FLOATS
    for on in (True, False):
        model_module._TABLE_FLOATS = table if on else 0
        s = timed(lambda: beam_search(small, small_params, start, width=5, length=L, banned=[0]))
        print(f"beam     B=5   V=100, 2x256, layer-0 table {'on ' if on else 'off'}: {s / L * 1000:.2f} ms per step")
    model_module._TABLE_FLOATS = table

    ids = tok.encode_documents(corpus.val)[:20000]
    s = timed(lambda: score_ids(model, params, ids, top=5))
    print(f"score    {len(ids) - 1:,} tokens (--top 5) in {s:.3f} s = {(len(ids) - 1) / s:,.0f} tokens/s")

    train_ids = tok.encode_documents(corpus.train)
    ns = (5, 10, 20, 50)
    s = timed(lambda: NgramIndex(train_ids, ns), repeat=1)
    index = NgramIndex(train_ids, ns)
    print(f"novelty  index of {len(train_ids):,} training tokens for n = {ns}: {s:.3f} s")
    samples = [np.random.default_rng(i).integers(2, tok.vocab_size, 500) for i in range(10)]
    s = timed(lambda: novelty(index, samples, ns))
    print(f"novelty  lookup of 10 samples x 500 tokens for 4 n: {s * 1000:.1f} ms")


if __name__ == "__main__":
    main()
