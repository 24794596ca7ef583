"""Beam search: the most likely continuations, found breadth-first, width B.

Shapes: B live hypotheses (beams), V vocabulary size, H hidden size.

Each step extends every live hypothesis by every token (B x V candidates), scores each by its
summed log-probability, and walks the candidates from best to worst: a candidate that a stop
rule ends (``is_final``) is set aside as finished, the others become the next live beams
until B are found. After ``length`` steps the live beams are finished too. Finished
hypotheses are ranked by the length-normalised score

    score = sum of log p(token) / len ** length_penalty

(0 = no normalisation, which favours short hypotheses; 1 = mean log-probability). With
B = 1 this is greedy decoding; with B at least the number of all sequences it is exhaustive.
Beam search draws no random numbers, so it ignores temperature, top-k and top-p; the
repetition penalty and the no-repeat n-gram ban apply to the scores.

One ``Stepper`` for B = width streams reads the chosen tokens for the whole search (its
layer-0 table is made once). When fewer than B beams live (the first step; beams that
finished), the rows are padded with copies of the first beam and their logits are dropped.
Each step gathers the live beams' states (a copy) before the stepper writes new ones.
"""

from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence

import numpy as np

from .sampling import log_softmax, penalize, read_context


@dataclass
class Hypothesis:
    ids: List[int]  # the generated tokens
    logprobs: List[float]  # their log-probabilities under the model (nats)
    score: float  # length-normalised, see the module docstring


def normalized(total: float, n: int, length_penalty: float) -> float:
    return total / max(1, n) ** length_penalty


def beam_search(model, params, context: np.ndarray, *, width: int, length: int, length_penalty: float = 1.0,
                banned: Sequence[int] = (), is_final: Optional[Callable[[List[int]], bool]] = None,
                repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0,
                state: Optional[dict] = None, num_results: int = 1) -> List[Hypothesis]:
    """The ``num_results`` best hypotheses of at most ``length`` tokens after ``context`` (t,)."""
    context = np.asarray(context, np.int32)
    logits, state = read_context(model, params, context, state)  # (1, V)
    live = [([], [], 0.0)]  # (ids, model log-probs, summed search log-probs) per beam
    finished = []
    stepper = model.stepper(params, width)
    for step in range(length):
        history = np.array([np.concatenate([context, ids]) for ids, _, _ in live], np.int32)  # (B, t)
        model_logp = log_softmax(logits)  # (B, V)
        search_logp = log_softmax(penalize(logits, history, repetition_penalty, no_repeat_ngram_size))
        search_logp[:, list(banned)] = -np.inf
        totals = np.array([total for _, _, total in live])[:, None] + search_logp  # (B, V)
        order = np.argsort(-totals, axis=None, kind="stable")  # best candidate first
        keep = []  # flat indices of the next live beams
        for flat in order:
            if len(keep) == width or not np.isfinite(totals.flat[flat]):
                break
            b, v = divmod(int(flat), totals.shape[1])
            ids = live[b][0] + [v]
            logprobs = live[b][1] + [float(model_logp[b, v])]
            if is_final is not None and is_final(ids):
                finished.append(Hypothesis(ids, logprobs, normalized(totals[b, v], len(ids), length_penalty)))
            else:
                keep.append(flat)
        if not keep:  # every extension is final or banned; a beam with no allowed extension ends here
            live = [beam for b, beam in enumerate(live) if not np.isfinite(totals[b]).any()]
            break
        rows = np.array([k // totals.shape[1] for k in keep])
        tokens = np.array([k % totals.shape[1] for k in keep], np.int32)
        live = [(live[b][0] + [int(v)], live[b][1] + [float(model_logp[b, v])], float(totals[b, v]))
                for b, v in zip(rows, tokens)]
        if step + 1 < length:  # read the chosen tokens: state (width, H), the new beams' rows first
            rows = np.pad(rows, (0, width - len(rows)))  # padding rows copy beam 0
            state = {k: s[rows] for k, s in state.items()}
            logits, state = stepper(np.pad(tokens, (0, width - len(tokens))), state)
            logits = logits[:len(keep)]  # (B, V) of the live beams
    for ids, logprobs, total in live:
        finished.append(Hypothesis(ids, logprobs, normalized(total, len(ids), length_penalty)))
    finished.sort(key=lambda h: -h.score)  # stable: ties keep the order they were found in
    return finished[:num_results]
