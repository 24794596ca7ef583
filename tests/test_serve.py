"""``lstmgen serve`` on a loopback port, driven by the official OpenAI client and by raw HTTP.

What the server returns is compared with what ``lstmgen sample`` prints for the same seed and
options. Bad requests must get an OpenAI-style error object and leave the server serving.
"""

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time

import pytest

pytest.importorskip("starlette")
uvicorn = pytest.importorskip("uvicorn")
openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")

import lstmgen  # noqa: E402
from lstmgen.serve import Access, Limits, Timeouts  # noqa: E402
from lstmgen.serve.app import create_app  # noqa: E402
from lstmgen.serve.connections import make_server  # noqa: E402
from tests.helpers import ROOT, run, wait_for  # noqa: E402

NAME = "tiny"
JSON = {"content-type": "application/json"}


@contextlib.contextmanager
def serving(model, timeouts=Timeouts(), access=Access(), **limits):
    """A server for ``model`` on a free loopback port, in a thread: yields its base URL."""
    limits = Limits(**limits)
    app = create_app(model, name=NAME, limits=limits, timeouts=timeouts, access=access)
    server = make_server(app, host="127.0.0.1", port=0, limits=limits, timeouts=timeouts, log_level="error")
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for(lambda: server.started, "the server's start", interval=0.02, alive=thread.is_alive)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def model(char_run):
    return lstmgen.load(char_run)


@pytest.fixture(scope="module")
def url(model):
    with serving(model) as base:
        yield base


@pytest.fixture(scope="module")
def client(url):
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def sample(run_dir, prime, *args):
    """The texts ``lstmgen sample`` prints (continuations only)."""
    out = run("sample", run_dir, "--prime", prime, "--format", "json", *args)
    assert out.exit_code == 0, out.output
    return [json.loads(line)["text"] for line in out.output.splitlines()]


def test_a_completion_is_what_sample_prints(client, char_run):
    r = client.completions.create(model=NAME, prompt="The ", max_tokens=40, temperature=0.8, top_p=0.9, seed=11,
                                  extra_body={"top_k": 6, "repetition_penalty": 1.2})
    [choice] = r.choices
    assert choice.text == sample(char_run, "The ", "--length", "40", "--temperature", "0.8", "--top-p", "0.9",
                                 "--seed", "11", "--top-k", "6", "--repetition-penalty", "1.2")[0]
    assert choice.finish_reason == "length" and choice.index == 0 and r.model == NAME
    assert r.object == "text_completion" and r.id.startswith("cmpl-") and r.created > 0
    assert r.usage.prompt_tokens == 4 and r.usage.completion_tokens == 40 and r.usage.total_tokens == 44


def test_n_choices_are_the_samples_of_one_batch(client, char_run):
    r = client.completions.create(model=NAME, prompt="A", max_tokens=30, n=3, seed=5)
    assert [c.index for c in r.choices] == [0, 1, 2]
    assert [c.text for c in r.choices] == sample(char_run, "A", "--length", "30", "--num-samples", "3", "--seed", "5")


def test_a_list_of_prompts(client, char_run):
    r = client.completions.create(model=NAME, prompt=["The ", "A dog"], max_tokens=20, n=2, seed=3)
    assert [c.index for c in r.choices] == [0, 1, 2, 3]
    expected = [*sample(char_run, "The ", "--length", "20", "--num-samples", "2", "--seed", "3"),
                *sample(char_run, "A dog", "--length", "20", "--num-samples", "2", "--seed", "3")]
    assert [c.text for c in r.choices] == expected


def test_stop_ends_the_text_after_the_stop_string(client, char_run):
    r = client.completions.create(model=NAME, prompt="The ", max_tokens=300, stop=[".", "dog"], seed=2, n=2)
    texts = sample(char_run, "The ", "--length", "300", "--stop", ".", "--stop", "dog", "--seed", "2",
                   "--num-samples", "2")
    assert [c.text for c in r.choices] == texts
    for c in r.choices:
        assert c.finish_reason == "stop" and c.text.endswith((".", "dog"))


def test_a_seed_repeats_and_another_seed_differs(client):
    def text(seed):
        return client.completions.create(model=NAME, prompt="", max_tokens=60, seed=seed).choices[0].text

    assert text(1) == text(1)
    assert text(1) != text(2)


def test_stream_sends_the_same_text_piece_by_piece(client):
    kwargs = dict(model=NAME, prompt=["The ", "A"], max_tokens=50, n=2, seed=9, stop=["at"])
    whole = client.completions.create(**kwargs)
    texts, finish, chunks = [""] * 4, [None] * 4, 0
    for chunk in client.completions.create(stream=True, **kwargs):
        for c in chunk.choices:
            texts[c.index] += c.text
            finish[c.index] = c.finish_reason or finish[c.index]
        chunks += 1
    assert texts == [c.text for c in whole.choices]
    assert finish == [c.finish_reason for c in whole.choices]
    assert chunks >= sum(len(t) for t in texts) // 2  # pieces, not one block


def test_stream_ends_with_done_and_can_send_usage(url):
    body = {"model": NAME, "prompt": "The ", "max_tokens": 10, "stream": True, "stream_options": {"include_usage": True}}
    with httpx.stream("POST", f"{url}/v1/completions", json=body) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        events = [line[len("data: "):] for line in r.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    usage = json.loads(events[-2])
    assert usage["choices"] == [] and usage["usage"]["completion_tokens"] == 10


def test_logprobs_are_the_models(client, model):
    r = client.completions.create(model=NAME, prompt="The ", max_tokens=25, seed=4, logprobs=3)
    lp = r.choices[0].logprobs
    [s] = model.samples("The ", length=25, seed=4, top_logprobs=3)
    assert lp.tokens == s.tokens and "".join(lp.tokens) == r.choices[0].text
    assert lp.token_logprobs == pytest.approx(s.logprobs) and lp.top_logprobs == s.top_logprobs
    assert all(len(top) == 3 for top in lp.top_logprobs)
    assert lp.text_offset == list(range(4, 4 + 25))  # after the prompt, one character per token
    streamed = [c.choices[0].logprobs for c in client.completions.create(
        model=NAME, prompt="The ", max_tokens=25, seed=4, logprobs=3, stream=True) if c.choices[0].logprobs]
    assert sum((x.tokens for x in streamed), []) == lp.tokens


def test_models_health_and_page(client, url):
    assert [m.id for m in client.models.list().data] == [NAME]
    assert client.models.retrieve(NAME).id == NAME
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    page = httpx.get(f"{url}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script src="/page.js">' in page.text and "http" not in page.text.replace("http-equiv", "")
    script = httpx.get(f"{url}/page.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    for needle in ("/v1/completions", "/v1/lstmgen/next_token_probs", "stream: true", "autostart"):
        assert needle in script.text


def test_next_token_probs(url, model):
    r = httpx.post(f"{url}/v1/lstmgen/next_token_probs", json={"model": NAME, "prompt": "The c", "k": 4})
    assert r.status_code == 200
    assert [(t["token"], t["prob"]) for t in r.json()["tokens"]] == model.next_token_probs("The c", k=4)


BAD = [
    ({"prompt": "x"}, "model"),
    ({"model": "gpt-4", "prompt": "x"}, "model"),
    ({"model": 3, "prompt": "x"}, "model"),
    ({"model": NAME, "prompt": 5}, "prompt"),
    ({"model": NAME, "prompt": []}, "prompt"),
    ({"model": NAME, "prompt": [1, 2, 3]}, "prompt"),
    ({"model": NAME, "prompt": "x" * 5000}, "prompt"),
    ({"model": NAME, "max_tokens": -1}, "max_tokens"),
    ({"model": NAME, "max_tokens": 100000}, "max_tokens"),
    ({"model": NAME, "max_tokens": "10"}, "max_tokens"),
    ({"model": NAME, "max_tokens": 1.5}, "max_tokens"),
    ({"model": NAME, "temperature": -0.5}, "temperature"),
    ({"model": NAME, "temperature": "hot"}, "temperature"),
    ({"model": NAME, "top_p": 0}, "top_p"),
    ({"model": NAME, "top_p": 1.5}, "top_p"),
    ({"model": NAME, "n": 0}, "n"),
    ({"model": NAME, "n": 17}, "n"),
    ({"model": NAME, "n": True}, "n"),
    ({"model": NAME, "prompt": ["a"] * 9, "n": 2}, "n"),
    ({"model": NAME, "stop": ""}, "stop"),
    ({"model": NAME, "stop": [1]}, "stop"),
    ({"model": NAME, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"model": NAME, "seed": -3}, "seed"),
    ({"model": NAME, "seed": "x"}, "seed"),
    ({"model": NAME, "logprobs": 6}, "logprobs"),
    ({"model": NAME, "stream": "yes"}, "stream"),
    ({"model": NAME, "top_k": -1}, "top_k"),
    ({"model": NAME, "repetition_penalty": 0}, "repetition_penalty"),
    ({"model": NAME, "echo": True}, "echo"),
    ({"model": NAME, "presence_penalty": 0.5}, "presence_penalty"),
    ({"model": NAME, "max_token": 5}, "max_token"),
]


@pytest.mark.parametrize("body, param", BAD)
def test_bad_requests_get_an_error_object(url, body, param):
    r = httpx.post(f"{url}/v1/completions", json=body)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param
    assert error["type"] == "invalid_request_error" and "Traceback" not in r.text


@pytest.mark.parametrize("content, status", [
    (b'{"model": "tiny", "prompt": ', 400),
    (b"[1, 2]", 400),
    (b"\xff\xfe", 400),
    (b"[" * 200_000 + b"]" * 200_000, 413),
    (json.dumps({"model": NAME, "prompt": "a" * 300_000}).encode(), 413),
])
def test_bad_bodies_get_an_error_object(url, content, status):
    r = httpx.post(f"{url}/v1/completions", content=content, headers={"content-type": "application/json"})
    assert r.status_code == status and set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_nesting_unknown_paths_and_methods(url):
    deep = b"[" * 10000 + b"]" * 10000  # under the size limit, over the JSON decoder's recursion
    assert httpx.post(f"{url}/v1/completions", content=deep, headers=JSON).status_code == 400
    assert httpx.get(f"{url}/v1/nothing").json()["error"]["code"] == "not_found"
    wrong = httpx.get(f"{url}/v1/completions")
    assert wrong.json()["error"]["code"] == "method_not_allowed" and wrong.headers["allow"] == "POST"
    assert httpx.get(f"{url}/v1/models/other").status_code == 404
    assert httpx.get(f"{url}/health").json()["status"] == "ok"  # still serving


class Slow:
    """A model whose samples come slowly, counting the pieces it makes."""

    def __init__(self, model, delay=0.02):
        self.model, self.delay, self.made = model, delay, 0
        self.tokenizer = model.tokenizer

    def stream_samples(self, *args, **kwargs):
        for piece in self.model.stream_samples(*args, **kwargs):
            if self.delay:
                time.sleep(self.delay)
            self.made += 1
            yield piece

    def next_token_probs(self, *args, **kwargs):
        return self.model.next_token_probs(*args, **kwargs)


def test_a_client_that_disconnects_stops_its_generation(model):
    slow = Slow(model)
    with serving(slow) as base:
        body = {"model": NAME, "prompt": "The ", "max_tokens": 1000, "stream": True}
        with httpx.stream("POST", f"{base}/v1/completions", json=body) as r:
            lines = r.iter_lines()
            assert sum(1 for line, _ in zip(lines, range(6)) if line.startswith("data: ")) >= 3
        # the event: the worker is free again (at 0.02 s a token, 1000 tokens would take 20 s)
        wait_for(lambda: httpx.get(f"{base}/health").json()["running"] == 0,
                 "the generation's end after the client left")
        made = slow.made
        assert made < 100  # stopped, long before 1000 tokens
        assert httpx.get(f"{base}/health").json() == {"status": "ok", "model": NAME, "running": 0, "waiting": 0}
        assert slow.made == made  # and nothing goes on making pieces


def test_workers_run_at_once_then_queue_then_503(model):
    slow = Slow(model, delay=0.25)  # 10 s a stream: the three are still there when health is asked
    with serving(slow, workers=2, queue=1) as base:
        body = {"model": NAME, "prompt": "", "max_tokens": 40, "stream": True}
        with contextlib.ExitStack() as streams:
            for _ in range(3):
                r = streams.enter_context(httpx.stream("POST", f"{base}/v1/completions", json=body))
                assert r.status_code == 200
            health = lambda: httpx.get(f"{base}/health", timeout=5).json()  # noqa: E731  (the event loop is free)
            wait_for(lambda: (health()["running"], health()["waiting"]) == (2, 1),
                     "two requests running and one waiting")
            busy = httpx.post(f"{base}/v1/completions", json={**body, "stream": False})
            assert busy.status_code == 503 and busy.json()["error"]["code"] == "server_busy"
            assert busy.headers["retry-after"] == "1"
        wait_for(lambda: httpx.get(f"{base}/health").json()["running"] == 0, "the streams' end once their clients left")
        ok = httpx.post(f"{base}/v1/completions", json={**body, "stream": False, "max_tokens": 3})
        assert ok.status_code == 200


def test_serve_without_its_packages_names_the_install_command(char_run):
    code = ("import sys; sys.modules['uvicorn'] = None; from lstmgen.cli import main; "
            f"sys.argv = ['lstmgen', 'serve', {str(char_run)!r}]; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == ["Error: lstmgen serve needs uvicorn: pip install 'lstmgen[serve]'"]


def test_serve_command_defaults():
    from lstmgen.cli import serve

    params = serve.make_context("serve", ["RUN_DIR"]).params
    assert params["host"] == "127.0.0.1" and params["port"] == 8000
    for name, default in {**Limits().__dict__, **Timeouts().__dict__}.items():
        assert params[name] == default, name
    assert params["api_key"] is None and params["allowed_hosts"] == () and params["cors_origins"] == ()


def test_the_serve_command_serves(char_run, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "lstmgen", "serve", str(char_run), "--port", str(port),
                             "--model-name", "cli", "--max-tokens", "5"], cwd=ROOT, stdout=log, stderr=log)
    try:
        def answer():
            try:
                return httpx.get(f"http://127.0.0.1:{port}/health").json()
            except httpx.HTTPError:
                return None

        try:
            health = wait_for(answer, "the server's answer on /health", interval=0.1, alive=lambda: proc.poll() is None)
        except AssertionError as e:
            raise AssertionError(f"{e}; its log: {(tmp_path / 'server.log').read_text()}") from None
        assert health["model"] == "cli"
        r = httpx.post(f"http://127.0.0.1:{port}/v1/completions", json={"model": "cli", "max_tokens": 6})
        assert r.status_code == 400 and "<= 5" in r.json()["error"]["message"]
    finally:
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop
        code = proc.wait(60)
        log.close()
    assert code == 0, (tmp_path / "server.log").read_text()
