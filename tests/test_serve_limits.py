"""``lstmgen serve`` against clients that stall, leave, dawdle or come from elsewhere (issue 24).

One test per way the server was once stalled or misused: a reader that stops reading (4 KiB
receive buffer), requests abandoned while running or queued, past their deadline, lone
surrogates, slow and idle connections and too many of them, a text/plain POST, a foreign Host
or Origin, a missing or wrong key (with the official OpenAI client), SIGTERM mid-stream. Every
server listens on loopback with short time limits; every wait has a deadline.
"""

import contextlib
import json
import logging
import select
import signal
import socket
import subprocess
import sys
import time

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
openai = pytest.importorskip("openai")
httpx = pytest.importorskip("httpx")

import lstmgen  # noqa: E402
from lstmgen.serve import Access, Timeouts  # noqa: E402
from lstmgen.serve.work import render  # noqa: E402
from tests.helpers import ROOT, run  # noqa: E402
from tests.test_serve import JSON, NAME, Slow, model, serving, url  # noqa: E402,F401 (fixtures)

BIG = {"model": NAME, "prompt": "The ", "max_tokens": 1024, "n": 16, "logprobs": 5}  # 16,400 pieces


def port_of(base: str) -> int:
    return int(base.rsplit(":", 1)[1])


def request_bytes(port: int, body, path="/v1/completions", headers=b"") -> bytes:
    data = json.dumps(body).encode() if isinstance(body, dict) else body
    return (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n%s\r\n" % (path.encode(), port, len(data), headers)) + data


def connect(port: int, rcvbuf=None) -> socket.socket:
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)  # before connecting: the window it offers
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def read_to_end(s: socket.socket) -> bytes:
    """All the server sends until it closes (10 s at most per read)."""
    data = b""
    while chunk := s.recv(65536):
        data += chunk
    return data


def wait_for(condition, what: str, seconds: float = 15):
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        assert time.monotonic() < deadline, f"waited {seconds} s for {what}"
        time.sleep(0.02)
    return value


def health(base: str) -> tuple:
    h = httpx.get(f"{base}/health", timeout=5).json()
    return h["running"], h["waiting"]


@contextlib.contextmanager
def warnings_logged():
    """The warnings the server logs meanwhile (uvicorn's logger, where the server writes)."""
    records = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append
    logger = logging.getLogger("uvicorn.error")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


# 1. a client that stops reading -------------------------------------------------------------------
def test_a_reader_that_stops_reading_stalls_nothing_and_is_cut_off(model):
    counting = Slow(model, delay=0.0002)  # 16,400 pieces take seconds; the buffers fill in a fraction
    with serving(counting, timeouts=Timeouts(write_timeout=0.5)) as base:
        port = port_of(base)
        stalled = connect(port, rcvbuf=4096)
        stalled.sendall(request_bytes(port, {**BIG, "stream": True}))  # and never read
        wait_for(lambda: counting.made > 0, "the stalled stream to start")
        quick = httpx.post(f"{base}/v1/completions", json={"model": NAME, "prompt": "The ", "max_tokens": 5},
                           timeout=20)
        assert quick.status_code == 200 and quick.json()["usage"]["completion_tokens"] == 5
        poller = select.poll()
        poller.register(stalled, select.POLLERR | select.POLLHUP | select.POLLRDHUP)
        assert poller.poll(20_000), "the server never closed the stalled connection"
        stalled.close()
        assert wait_for(lambda: health(base) == (0, 0), "the worker to be free")
        assert counting.made < 16 * 1024  # its generation was cancelled


# 2. clients that leave ----------------------------------------------------------------------------
def test_abandoned_requests_are_dropped_running_or_queued(model):
    slow = Slow(model, delay=0.005)
    with serving(slow, workers=1, queue=8) as base:
        port = port_of(base)
        body = {"model": NAME, "prompt": "The ", "max_tokens": 1000}
        sockets = [connect(port) for _ in range(4)]
        for s, stream in zip(sockets, (False, False, True, False)):  # one runs, three wait (one streamed)
            s.sendall(request_bytes(port, {**body, "stream": stream}))
        wait_for(lambda: health(base) == (1, 3), "one running, three waiting")
        for s in sockets:
            s.close()
        wait_for(lambda: health(base) == (0, 0), "the abandoned requests to be dropped", seconds=5)
        assert slow.made < 1000  # the running one stopped early, the queued ones never started


def test_past_the_request_timeout_an_error_object_or_event(model):
    with serving(Slow(model, delay=0.01), timeouts=Timeouts(request_timeout=0.5)) as base:
        body = {"model": NAME, "prompt": "The ", "max_tokens": 1000}
        r = httpx.post(f"{base}/v1/completions", json=body, timeout=20)
        assert r.status_code == 504 and r.json()["error"]["code"] == "request_timeout"
        with httpx.stream("POST", f"{base}/v1/completions", json={**body, "stream": True}, timeout=20) as r:
            events = [line[6:] for line in r.iter_lines() if line.startswith("data: ")]
        assert len(events) > 3 and events[-1] == "[DONE]"
        assert json.loads(events[-2])["error"]["code"] == "request_timeout"
        assert wait_for(lambda: health(base) == (0, 0), "the worker to be free")


# 3. text that is not text -------------------------------------------------------------------------
@pytest.mark.parametrize("path, content", [
    ("/v1/completions", b'{"model": "\\ud800"}'),
    ("/v1/completions", b'{"model": "tiny", "\\ud800": 1}'),
    ("/v1/lstmgen/next_token_probs", b'{"prompt": "ab\\ud800"}'),
    ("/v1/completions", b'{"model": "tiny", "prompt": "\\udc00\\ud800"}'),
    ("/v1/completions", b'{"model": "tiny", "prompt": "\xc3\x28"}'),
])
def test_lone_surrogates_and_bytes_that_are_not_utf8_are_400(url, path, content):
    r = httpx.post(f"{url}{path}", content=content, headers=JSON)
    assert r.status_code == 400 and r.json()["error"]["code"] in ("invalid_text", "invalid_json"), r.text
    ok = httpx.post(f"{url}/v1/completions", content=b'{"model": "tiny", "prompt": "\\ud83d\\ude00", "max_tokens": 1}',
                    headers=JSON)  # a pair is a character
    assert ok.status_code == 200


def test_a_request_that_is_not_http_gets_an_error_object(url):
    s = connect(port_of(url))
    s.sendall(b"GET /\xff HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head, _, body = read_to_end(s).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400") and json.loads(body)["error"]["code"] == "invalid_http"


# 4. slow, idle and too many connections -----------------------------------------------------------
def test_slow_and_idle_connections_are_closed_and_noted_once(model):
    timeouts = Timeouts(header_timeout=0.3, body_timeout=0.3, keep_alive_timeout=0.3)
    with serving(model, timeouts=timeouts) as base, warnings_logged() as warnings:
        port = port_of(base)
        idle = connect(port)
        assert read_to_end(idle) == b""  # nothing sent: closed quietly
        slow_headers = [connect(port) for _ in range(3)]
        for s in slow_headers:
            s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        slow_body = connect(port)
        slow_body.sendall(request_bytes(port, b'{"model": "tiny"}' + b" " * 100)[:-50])
        for s in (*slow_headers, slow_body):
            head, _, body = read_to_end(s).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408") and json.loads(body)["error"]["code"] == "request_too_slow"
        kept = connect(port)  # a keep-alive connection, idle after its reply, is closed
        kept.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert b'"status":"ok"' in read_to_end(kept)
        notes = [r.getMessage() for r in warnings]
        assert sum("--header-timeout" in n for n in notes) == 1 and sum("--body-timeout" in n for n in notes) == 1


def test_past_max_connections_new_ones_get_503_and_the_server_recovers(model):
    with serving(model, max_connections=4, timeouts=Timeouts(header_timeout=30)) as base, \
            warnings_logged() as warnings:
        port = port_of(base)
        held = [connect(port) for _ in range(4)]
        for _ in range(3):
            s = connect(port)
            head, _, body = read_to_end(s).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503") and json.loads(body)["error"]["code"] == "too_many_connections"
        for s in held:
            s.close()
        wait_for(lambda: httpx.get(f"{base}/health", timeout=5).status_code == 200, "a free connection")
        assert sum("--max-connections" in r.getMessage() for r in warnings) == 1


# 5. requests from elsewhere -----------------------------------------------------------------------
def test_only_json_posts_from_this_server_or_allowed_origins(model):
    counting = Slow(model, delay=0)
    access = Access(allowed_hosts=("lstmgen.internal",), cors_origins=("https://app.example",))
    with serving(counting, access=access) as base:
        body = json.dumps({"model": NAME, "max_tokens": 3})
        plain = httpx.post(f"{base}/v1/completions", content=body, headers={"content-type": "text/plain"})
        assert plain.status_code == 415 and plain.json()["error"]["code"] == "unsupported_media_type"
        form = httpx.post(f"{base}/v1/completions", data={"model": NAME})
        assert form.status_code == 415 and counting.made == 0
        for host in ("attacker.example:%d" % port_of(base), "127.0.0.1:1", "attacker.example"):
            r = httpx.get(f"{base}/health/", headers={"host": host})
            assert r.status_code == 400 and r.json()["error"]["code"] == "host_not_allowed"
        assert httpx.get(f"{base}/health/").status_code == 404  # no redirect, whatever the Host
        assert httpx.get(f"{base}/health", headers={"host": "lstmgen.internal"}).status_code == 200
        assert httpx.get(f"{base}/health", headers={"host": f"[::1]:{port_of(base)}"}).status_code == 200
        foreign = httpx.post(f"{base}/v1/completions", json={"model": NAME}, headers={"origin": "https://evil.example"})
        assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers
        own = httpx.post(f"{base}/v1/completions", json={"model": NAME, "max_tokens": 2}, headers={"origin": base})
        assert own.status_code == 200 and "access-control-allow-origin" not in own.headers
        preflight = httpx.options(f"{base}/v1/completions", headers={
            "origin": "https://app.example", "access-control-request-method": "POST",
            "access-control-request-headers": "content-type, authorization"})
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
        allowed = httpx.post(f"{base}/v1/completions", json={"model": NAME, "max_tokens": 2},
                             headers={"origin": "https://app.example"})
        assert allowed.status_code == 200 and allowed.headers["access-control-allow-origin"] == "https://app.example"


def test_without_cors_origins_no_page_elsewhere_may_ask(url):
    preflight = httpx.options(f"{url}/v1/completions", headers={
        "origin": "https://app.example", "access-control-request-method": "POST"})
    assert preflight.status_code == 403 and "access-control-allow-origin" not in preflight.headers


def test_an_api_key_is_required_of_the_openai_client(model):
    with serving(model, access=Access(api_key="s3cret")) as base:
        for key in ("unused", "s3cre"):  # the client always sends one (it refuses to start without): wrong ones
            client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
            with pytest.raises(openai.AuthenticationError) as e:
                client.completions.create(model=NAME, prompt="The ", max_tokens=3)
            assert e.value.status_code == 401 and e.value.code == "invalid_api_key"
        no_header = httpx.get(f"{base}/v1/models")  # missing: another client
        assert no_header.status_code == 401 and no_header.headers["www-authenticate"] == "Bearer"
        assert "needs an API key" in no_header.json()["error"]["message"]
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="s3cret", max_retries=0)
        assert len(client.completions.create(model=NAME, prompt="The ", max_tokens=3, seed=1).choices[0].text) == 3
        assert httpx.get(f"{base}/health").status_code == 200  # a load balancer's check needs no key


def test_serve_warns_on_an_open_host_without_a_key(char_run, monkeypatch):
    import lstmgen.serve

    served = []
    monkeypatch.setattr(lstmgen.serve, "missing", lambda: [])
    monkeypatch.setattr(lstmgen.serve, "listen_socket", lambda host, port: socket.socket())  # binds nothing
    monkeypatch.setattr(lstmgen.serve, "serve", lambda model, **kw: served.append(kw))
    monkeypatch.delenv("LSTMGEN_API_KEY", raising=False)
    result = run("serve", char_run, "--host", "0.0.0.0", "--allowed-host", "box.lan", "--write-timeout", "2.5")
    assert result.exit_code == 0 and "no --api-key: anyone who reaches it can use it" in result.output
    assert served[-1]["access"].allowed_hosts == ("box.lan",) and served[-1]["timeouts"].write_timeout == 2.5
    monkeypatch.setenv("LSTMGEN_API_KEY", "k1")
    result = run("serve", char_run, "--host", "0.0.0.0")
    assert result.exit_code == 0 and "warning" not in result.output and served[-1]["access"].api_key == "k1"


# 6. shutdown, large replies -----------------------------------------------------------------------
SERVE_SLOWLY = """
import sys, time, lstmgen
from lstmgen.serve import listen_socket, serve

class Slow:
    def __init__(self, model):
        self.model, self.tokenizer = model, model.tokenizer
    def stream_samples(self, *args, **kwargs):
        for piece in self.model.stream_samples(*args, **kwargs):
            time.sleep(0.01)
            yield piece

sock = listen_socket("127.0.0.1", 0)
print(sock.getsockname()[1], flush=True)
serve(Slow(lstmgen.load(sys.argv[1])), name="tiny", sock=sock)
"""


def test_sigterm_mid_stream_ends_it_with_an_error_event_and_exits_0(char_run, tmp_path):
    log = open(tmp_path / "server.log", "w")
    proc = subprocess.Popen([sys.executable, "-c", SERVE_SLOWLY, str(char_run)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=log, text=True)
    try:
        base = f"http://127.0.0.1:{int(proc.stdout.readline())}"
        wait_for(lambda: _up(base), "the server to start", seconds=60)
        body = {"model": NAME, "prompt": "The ", "max_tokens": 1000, "stream": True}
        with httpx.stream("POST", f"{base}/v1/completions", json=body, timeout=20) as r:
            lines = r.iter_lines()
            assert next(line for line in lines if line.startswith("data: "))
            proc.send_signal(signal.SIGTERM)
            events = [line[6:] for line in lines if line.startswith("data: ")]
        assert events[-1] == "[DONE]" and json.loads(events[-2])["error"]["code"] == "server_shutting_down"
        code = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    text = (tmp_path / "server.log").read_text()
    assert code == 0 and "Traceback" not in text, text


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_replies_are_rendered_as_json_would_be():
    reply = {"id": "cmpl-1", "object": "text_completion", "model": "m", "usage": {"total_tokens": 3},
             "choices": [{"text": "é\n\"", "index": i, "logprobs": {"token_logprobs": [-0.5]}} for i in range(3)]}
    assert json.loads(render(reply)) == reply
    assert json.loads(render({**reply, "choices": []})) == {**reply, "choices": []}
