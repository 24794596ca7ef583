"""The Python API (lstmgen.load, lstmgen.train, Model): what it returns is what the CLI prints.

Every comparison is against the command line (``lstmgen sample``, ``lstmgen score``) or
against another path through the model (scoring the generated text), never a stored output.
"""

import json
import subprocess
import sys
import threading

import numpy as np
import pytest

import lstmgen
from lstmgen.api import SampleOptions
from lstmgen.errors import CheckpointError, ConfigError, DataError
from tests.helpers import ROOT, run, write_corpus

# configs/tiny.yaml at learning rate 0.01 as a dict: the settings of the session's char_run
TINY_SETTINGS = {"model": {"embed_dim": 16, "hidden_size": 32, "num_layers": 1, "dropout": 0.0},
                 "train": {"batch_size": 8, "seq_len": 32, "max_steps": 40, "eval_interval": 20, "learning_rate": 0.01}}


def tiny_config(corpus, **train):
    return {"data": {"corpus": str(corpus)}, "model": TINY_SETTINGS["model"],
            "train": {**TINY_SETTINGS["train"], **train}}


@pytest.fixture(scope="module")
def model(char_run):
    return lstmgen.load(char_run)


CASES = [
    {},
    {"temperature": 0.7, "top_k": 5, "top_p": 0.9},
    {"repetition_penalty": 1.3, "no_repeat_ngram_size": 3},
    {"stop": ["."], "length": 300},
    {"stop_at_eod": True, "max_chars": 50, "length": 300},
    {"temperature": 0},
    {"beam_width": 3, "length_penalty": 0.5},
]


def cli_args(options):
    args = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            args.append(flag)
        elif isinstance(value, list):
            args += sum(([flag, v] for v in value), [])
        else:
            args += [flag, value]
    return args


@pytest.mark.parametrize("options", CASES)
def test_generate_is_what_sample_prints(char_run, model, options):
    options = {"length": 60, **options}
    printed = run("sample", char_run, "--prime", "The ", "--seed", "3", *cli_args(options))
    assert printed.exit_code == 0, printed.output
    assert model.generate("The ", seed=3, **options) + "\n" == printed.output


def test_many_samples_are_what_sample_prints(char_run, model):
    printed = run("sample", char_run, "--prime", "A", "--seed", "5", "--length", "40", "--num-samples", "3").output
    texts = model.generate("A", seed=5, length=40, num_samples=3)
    assert isinstance(texts, list) and len(texts) == 3
    assert printed == "".join(f"----- sample {i + 1} -----\n{t}\n" for i, t in enumerate(texts))


def test_samples_are_what_sample_prints_as_json(char_run, model):
    printed = run("sample", char_run, "--seed", "2", "--length", "30", "--num-samples", "2", "--format", "json",
                  "--stop", " a").output
    records = [json.loads(line) for line in printed.splitlines()]
    samples = model.samples("", seed=2, length=30, num_samples=2, stop=" a")
    assert [r["text"] for r in records] == [s.text for s in samples]
    assert [r["tokens"] for r in records] == [s.tokens for s in samples]
    assert [r["stopped_by"] for r in records] == [s.stopped_by for s in samples]
    for r, s in zip(records, samples):
        np.testing.assert_allclose(r["logprobs"], s.logprobs, atol=1e-6)


def test_options_have_sample_command_names_and_defaults():
    from lstmgen.cli import sample

    cli_defaults = sample.make_context("sample", ["RUN_DIR"]).params  # every option at its default
    cli_defaults["stop"] = tuple(cli_defaults.pop("stops"))
    for f in SampleOptions.__dataclass_fields__.values():
        assert f.name in cli_defaults, f.name
        assert cli_defaults[f.name] == f.default, f.name


@pytest.mark.parametrize("options", [{"length": 50}, {"stop": ["at"], "length": 200}, {"beam_width": 2, "length": 50}])
def test_stream_joins_to_generate(model, options):
    pieces = list(model.stream("The ", seed=7, **options))
    assert pieces and all(pieces)
    assert "The " + "".join(pieces) == model.generate("The ", seed=7, **options)


def test_stream_samples_end_each_sample_once(model):
    pieces = list(model.stream_samples("", seed=1, length=40, num_samples=3, stop=["."]))
    ends = [p.index for p in pieces if p.stopped_by]
    assert sorted(ends) == [0, 1, 2]
    texts = ["".join(p.text for p in pieces if p.index == i) for i in range(3)]
    assert texts == [s.text for s in model.samples("", seed=1, length=40, num_samples=3, stop=["."])]


def test_generated_logprobs_are_the_scores_of_the_text(model):
    [s] = model.samples("The ", seed=4, length=40, top_logprobs=3)
    scored = model.score("The " + s.text)  # the same tokens read in one pass, from <eod>
    np.testing.assert_allclose(scored.logprobs[4:4 + len(s.logprobs)], s.logprobs, atol=1e-4)
    for token, logprob, top in zip(s.tokens, s.logprobs, s.top_logprobs):
        values = list(top.values())
        assert len(top) == 3 and values == sorted(values, reverse=True)
        assert logprob <= values[0] + 1e-9
        if token in top:
            assert top[token] == pytest.approx(logprob)


def test_next_token_probs_are_the_first_top_logprobs(model):
    top = model.next_token_probs("The c", k=5)
    [s] = model.samples("The c", seed=0, length=1, top_logprobs=5)
    assert [t for t, _ in top] == list(s.top_logprobs[0])
    np.testing.assert_allclose([p for _, p in top], np.exp(list(s.top_logprobs[0].values())), rtol=1e-6)
    assert sum(p for _, p in top) <= 1 + 1e-9


def test_score_is_what_score_prints(char_run, model):
    printed = json.loads(run("score", char_run, "The cat sat on a mat.", "--top", "2", "--json").output)
    scored = model.score("The cat sat on a mat.", top=2)
    assert printed["tokens"] == scored.tokens
    for key in ("bits_per_char", "loss", "total_bits", "num_tokens", "characters"):
        assert printed[key] == getattr(scored, key), key


def test_models_are_safe_from_several_threads(model):
    def work(seed):
        return model.generate("The ", seed=seed, length=80), model.score(f"The cat {seed}.").loss

    expected = [work(seed) for seed in range(6)]
    found = [None] * 6

    def worker(i):
        for _ in range(3):
            found[i] = work(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert found == expected


@pytest.mark.parametrize("options, needle", [
    ({"temperature": -1}, "temperature must be a number >= 0"),
    ({"top_p": 0}, "top_p must be a number > 0 and <= 1"),
    ({"top_k": 1.5}, "top_k must be an integer"),
    ({"length": True}, "length must be an integer"),
    ({"seed": -1}, "seed must be an integer >= 0"),
    ({"stop": [""]}, "stop must be a non-empty string"),
    ({"stop_at_eod": "yes"}, "stop_at_eod must be true or false"),
    ({"beam_width": 2, "num_samples": 3}, "num_samples 3 is more than beam_width 2"),
    ({"temprature": 0.5}, "did you mean 'temperature'"),
])
def test_bad_options_are_config_errors(model, options, needle):
    with pytest.raises(ConfigError, match=needle):
        model.generate("The ", **options)
    with pytest.raises(ConfigError, match=needle):
        model.stream_samples("The ", **options)  # checked at the call, not at the first piece


def test_other_errors_are_typed(tmp_path, char_run, model):
    with pytest.raises(CheckpointError):
        lstmgen.load(tmp_path / "nothing")
    with pytest.raises(CheckpointError, match="unknown checkpoint"):
        lstmgen.load(char_run, checkpoint="first")
    with pytest.raises(DataError, match="empty"):
        model.score("")
    with pytest.raises(ConfigError, match="num_samples > 1"):
        model.stream("", num_samples=2)


@pytest.mark.parametrize("option, value, valid", [
    ("temperature", -1, False), ("temperature", 0, True), ("top_p", 0, False), ("top_p", 1.5, False),
    ("top_p", 1, True), ("top_k", -1, False), ("top_k", 0, True), ("length", -1, False), ("length", 0, True),
    ("num_samples", 0, False), ("num_samples", 2, True), ("repetition_penalty", 0, False),
    ("repetition_penalty", 0.5, True), ("no_repeat_ngram_size", -1, False), ("seed", -1, False), ("seed", 0, True),
    ("stop", "", False), ("stop", "a", True)])
def test_sampling_options_are_refused_alike_by_the_cli_the_api_and_the_server(char_run, model, option, value, valid):
    from lstmgen.serve import Limits
    from lstmgen.serve.request import RequestError, parse_completion

    options = {"length": 5, option: value}
    cli = run("sample", char_run, *[a for k, v in options.items() for a in (f"--{k.replace('_', '-')}", v)])
    assert cli.exit_code == (0 if valid else 2), cli.output
    field = {"length": "max_tokens", "num_samples": "n"}.get(option, option)
    body = {"model": "m", "prompt": "", "max_tokens": 5, field: value}
    if valid:
        model.generate("", **options)
        parse_completion(body, "m", Limits())
        return
    assert f"--{option.replace('_', '-')}" in cli.output  # the CLI names its option, the server its field
    with pytest.raises(ConfigError, match=option):
        model.generate("", **options)
    with pytest.raises(RequestError, match=field) as refused:
        parse_completion(body, "m", Limits())
    assert refused.value.param == field and refused.value.status == 400


def test_the_server_limit_bounds_what_a_request_asks_not_its_default():
    from lstmgen.serve import Limits
    from lstmgen.serve.request import RequestError, parse_completion

    assert parse_completion({"model": "m", "prompt": ""}, "m", Limits(max_tokens=5)).options.length == 16
    with pytest.raises(RequestError, match="max_tokens must be an integer >= 0 and <= 5, got 6"):
        parse_completion({"model": "m", "prompt": "", "max_tokens": 6}, "m", Limits(max_tokens=5))


def test_train_checks_its_config_as_the_cli_does(tmp_path, run_copy):
    corpus = write_corpus(tmp_path / "corpus.txt")
    with pytest.raises(ConfigError, match="hidden_size"):
        lstmgen.train({"model": {"hiden_size": 8}}, out=tmp_path / "a")
    with pytest.raises(ConfigError, match="learning_rate"):
        lstmgen.train(tiny_config(corpus, learning_rate=-1), out=tmp_path / "a")
    with pytest.raises(ConfigError, match="already holds a training run"):
        lstmgen.train(tiny_config(corpus), out=run_copy)
    with pytest.raises(ConfigError, match="config must be"):
        lstmgen.train(42, out=tmp_path / "a")
    assert not (tmp_path / "a" / "checkpoints").exists()


def test_train_from_a_file_and_resume(tmp_path):
    corpus = write_corpus(tmp_path / "corpus.txt")
    config = tmp_path / "small.yaml"
    config.write_text(json.dumps(tiny_config(corpus, max_steps=8, eval_interval=4)))  # JSON is YAML
    assert lstmgen.train(config, out=tmp_path / "run").step == 8
    resumed = lstmgen.train({"train": {"max_steps": 12}}, out=tmp_path / "run", resume=True)
    assert resumed.step == 12
    assert lstmgen.load(tmp_path / "run", checkpoint="last").step == 12
    # nothing to resume (no such folder): a new run, configured as without resume=True
    assert lstmgen.train(tiny_config(corpus, max_steps=4, eval_interval=4), out=tmp_path / "new", resume=True).step == 4


def _sets(config):
    """A ``{section: {key: value}}`` dict as ``--set`` options."""
    return [a for section, values in config.items() for k, v in values.items() for a in ("--set", f"{section}.{k}={v}")]


def _weights_and_metrics(run_dir):
    """The last checkpoint's weights, and the metrics less the clock's readings."""
    last = json.loads((run_dir / "checkpoints" / "last.json").read_text())["checkpoint"]
    with np.load(run_dir / "checkpoints" / last / "model.npz", allow_pickle=False) as z:
        weights = {k: z[k] for k in z.files}
    clock = ("tokens_per_s", "elapsed_s", "wall_s", "threads")
    metrics = [{k: v for k, v in json.loads(line).items() if k not in clock}
               for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return weights, metrics


def assert_same_run(a, b):
    (weights_a, metrics_a), (weights_b, metrics_b) = _weights_and_metrics(a), _weights_and_metrics(b)
    assert weights_a.keys() == weights_b.keys()
    for key in weights_a:
        np.testing.assert_array_equal(weights_a[key], weights_b[key], err_msg=key)
    assert metrics_a == metrics_b and metrics_a


def test_the_cli_and_the_api_train_the_same_run_fine_tuning_included(tmp_path):
    """One function resolves a run for both (runs.resolve): the same settings, bitwise the same run."""
    first, second = write_corpus(tmp_path / "first.txt"), write_corpus(tmp_path / "second.txt", capitalize=False)
    config = {"model": TINY_SETTINGS["model"], "train": {**TINY_SETTINGS["train"], "max_steps": 6, "eval_interval": 3}}
    assert run("train", first, "--out", tmp_path / "cli", *_sets(config)).exit_code == 0
    lstmgen.train({"data": {"corpus": str(first)}, **config}, out=tmp_path / "api")
    assert_same_run(tmp_path / "cli", tmp_path / "api")
    # fine-tuning: the parent's model and tokenizer, whatever the defaults say (not set here)
    tune = {"train": {"batch_size": 8, "seq_len": 32, "max_steps": 4, "eval_interval": 2}}
    done = run("train", second, "--init-from", tmp_path / "cli", "--out", tmp_path / "cli-tuned", *_sets(tune))
    assert done.exit_code == 0, done.output
    result = lstmgen.train({"data": {"corpus": str(second)},
                            "train": {**tune["train"], "init_from": str(tmp_path / "api")}}, out=tmp_path / "api-tuned")
    assert result.step == 4 and lstmgen.load(tmp_path / "api-tuned").config.model == lstmgen.load(tmp_path / "api").config.model
    assert_same_run(tmp_path / "cli-tuned", tmp_path / "api-tuned")


def test_fine_tuning_from_the_api_refuses_a_conflicting_architecture(tmp_path, char_run):
    corpus = write_corpus(tmp_path / "corpus.txt")
    with pytest.raises(ConfigError, match=r"model.hidden_size is 64, but train.init_from .* has 32: a fine-tuned run"):
        lstmgen.train({"data": {"corpus": str(corpus)}, "model": {"hidden_size": 64},
                       "train": {"init_from": str(char_run)}}, out=tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_import_is_cheap_and_train_stays_the_function():
    code = ("import sys, lstmgen; assert 'lstmgen.api' not in sys.modules and 'numpy' not in sys.modules; "
            "import lstmgen.training.trainer; from lstmgen.training.trainer import Reporter; assert callable(lstmgen.train); "
            "assert lstmgen.train is lstmgen.api.train and lstmgen.load is lstmgen.api.load; "
            "assert 'starlette' not in sys.modules and 'uvicorn' not in sys.modules; print('ok')")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.stdout.strip() == "ok", proc.stderr
