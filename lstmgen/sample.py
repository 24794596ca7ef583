"""Generate text from a trained model: temperature, top-k, top-p; greedy at temperature 0.

Generation starts from the end-of-document token (the model's "a document begins here"),
then reads the prime text, then draws one token per step for M streams at once. The unknown
token is never drawn. Randomness comes only from the ``numpy.random.Generator`` passed in,
so the same seed gives the same text.
"""

from typing import Iterator

import numpy as np


def next_token_probs(logits: np.ndarray, temperature: float = 1.0, top_k: int = 0, top_p: float = 1.0,
                     banned=()) -> np.ndarray:
    """Probabilities (M, V) of the next token from logits (M, V) after the chosen filters.

    ``temperature`` divides the logits (0 = greedy: all mass on the arg-max); ``top_k`` keeps
    the k most likely tokens (0 = all); ``top_p`` keeps the smallest set of most likely tokens
    whose probabilities add up to at least p (1 = all). ``banned`` ids get probability 0.
    """
    logits = logits.astype(np.float64)  # (M, V)
    if len(banned):
        logits[:, list(banned)] = -np.inf
    if temperature == 0:
        probs = np.zeros_like(logits)
        probs[np.arange(len(logits)), logits.argmax(axis=1)] = 1.0
        return probs
    logits = logits / temperature
    if 0 < top_k < logits.shape[1]:
        kth = np.partition(logits, -top_k, axis=1)[:, -top_k][:, None]  # (M, 1) k-th largest
        logits = np.where(logits < kth, -np.inf, logits)
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs /= probs.sum(axis=1, keepdims=True)
    if top_p < 1.0:
        order = np.argsort(-probs, axis=1, kind="stable")  # (M, V) most likely first
        sorted_p = np.take_along_axis(probs, order, axis=1)
        before = np.cumsum(sorted_p, axis=1) - sorted_p  # mass of the more likely tokens
        keep_sorted = before < top_p  # always keeps the most likely token
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        probs = np.where(keep, probs, 0.0)
        probs /= probs.sum(axis=1, keepdims=True)
    return probs


def draw(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One id per row of probs (M, V) by inverse-CDF sampling: ids (M,)."""
    cdf = np.cumsum(probs, axis=1)  # (M, V)
    u = rng.random(len(probs))[:, None] * cdf[:, -1:]  # (M, 1)
    return np.minimum((cdf <= u).sum(axis=1), probs.shape[1] - 1)


def generate(model, params, tokenizer, *, prime: str = "", length: int = 200, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, num_samples: int = 1,
             rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Yield ``length`` steps of generated ids, each (num_samples,)."""
    context = np.concatenate([[tokenizer.eod_id], tokenizer.encode(prime)]).astype(np.int32)
    # read the prime once, for one stream, then copy its state to every stream
    logits, state = model.logits(params, context[:, None], model.init_state(1))  # (len, V)
    state = {k: np.repeat(v, num_samples, axis=0) for k, v in state.items()}  # (M, H) each
    logits = np.repeat(logits[-1:], num_samples, axis=0)  # (M, V)
    for _ in range(length):
        probs = next_token_probs(logits, temperature, top_k, top_p, banned=[tokenizer.unk_id])
        ids = draw(probs, rng)  # (M,)
        yield ids
        logits, state = model.step(params, ids, state)
