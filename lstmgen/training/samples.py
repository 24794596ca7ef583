"""Short samples during training (``train.sample_interval``), so users watch the model learn.

Every ``sample_interval`` steps the loop draws ``SAMPLE_LENGTH`` tokens from ``<eod>`` at
temperature 1 (ending early at the next ``<eod>``), shows them through the reporter and
appends ``{"step": S, "text": ...}`` to ``samples.jsonl`` in the run directory. The sample's
random numbers come from its own generator, seeded by ``train.seed`` and the step: the
training numbers are the same with sampling on or off, and a resumed run writes the same
samples as one that never stopped.
"""

import json
from pathlib import Path

import numpy as np

from ..runs.checkpoint import truncate_jsonl
from ..generation.sampling import Completion, Settings, StopRules, sample_steps

SAMPLE_LENGTH = 160  # tokens
SAMPLES_FILE = "samples.jsonl"


def training_sample(model, params, tokenizer, seed: int, step: int) -> str:
    completion = Completion(tokenizer, StopRules(stop_at_eod=True))
    for s in sample_steps(model, params, np.array([tokenizer.eod_id], np.int32), settings=Settings(),
                          num_samples=1, rng=np.random.default_rng([seed, step]), banned=[tokenizer.unk_id],
                          length=SAMPLE_LENGTH):
        completion.add(int(s.ids[0]), float(s.logprobs[0]))
        if completion.done:
            break
    return completion.text


def write_sample(run_dir, step: int, text: str) -> None:
    with open(Path(run_dir) / SAMPLES_FILE, "a", encoding="utf-8") as f:
        f.write(json.dumps({"step": step, "text": text}, ensure_ascii=False) + "\n")


def truncate_samples(run_dir, step: int) -> None:
    """Drop samples after ``step`` (written after the checkpoint a run resumes from)."""
    truncate_jsonl(Path(run_dir) / SAMPLES_FILE, step)
