"""How ``lstmgen serve`` holds up under concurrent clients on loopback.

    python benchmarks/serve.py [RUN_DIR] [--clients 1 8 32] [--requests 20] [--tokens 200]

For each number of clients N, N threads each send ``--requests`` completions of ``--tokens``
tokens one after the other (``POST /v1/completions``, no stream, seed = request number) to a
server started here (``python -m lstmgen serve``, default workers and queue unless given).
It prints one markdown row per N: p50 and p99 latency, generated tokens per second over the
wall time, errors (anything but 200 with ``--tokens`` tokens; must be 0), and the server's
resident memory (VmRSS) after one warm-up request and after the level.

Then runs of ``--attack-seconds`` each, in which a prober sends a normal request (5 tokens)
every 0.2 s and ``GET /health`` every 0.05 s, and prints their p50, p99 and errors:

    quiet      nothing else: the prober alone, for comparison
    stalled    2 clients (4 KiB receive buffers) each stream 16 x 1024 tokens with logprobs
               and never read; when the server cuts one off (--write-timeout) it starts again
    abandoned  bursts of 40 non-streamed requests of 16 x 1024 tokens whose clients close at
               once, one burst a second
    large      2 clients ask for non-streamed replies of 16 x 1024 tokens with logprobs
               (megabytes of JSON) one after the other, and read them

The row's "attack" column counts the stalled streams the server cut off, the abandoned
requests sent, or the bytes of large replies read. The goal (issue 24): every normal request
answered, and ``/health`` p99 under 50 ms.

Without RUN_DIR it trains a model of the default configuration's size (configs/default.yaml:
2 x 256 LSTM, char vocabulary of the built-in corpus) for ``--train-steps`` steps only: the
speed of serving depends on the size, not on how well it was trained. Every level is bounded
by ``--time-limit`` seconds (clients stop sending when it is reached; the row says so).
"""

import argparse
import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import threading
import time
from functools import partial
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def default_size_run(folder: Path, steps: int) -> Path:
    out = folder / "default-size"
    subprocess.run([sys.executable, "-m", "lstmgen", "train", "--out", str(out), "--set", f"train.max_steps={steps}",
                    "--set", f"train.eval_interval={steps}"], check=True, cwd=ROOT, env=_env(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def level(base: str, model: str, clients: int, requests: int, tokens: int, time_limit: float) -> dict:
    """N clients x ``requests`` completions: latencies (s), tokens, errors, wall time."""
    latencies, errors, generated = [], [], [0]
    lock = threading.Lock()
    deadline = time.monotonic() + time_limit

    def client(c):
        with httpx.Client(timeout=300) as http:
            for r in range(requests):
                if time.monotonic() > deadline:
                    return
                body = {"model": model, "prompt": "The ", "max_tokens": tokens, "seed": c * requests + r}
                start = time.perf_counter()
                try:
                    reply = http.post(f"{base}/v1/completions", json=body)
                    ok = reply.status_code == 200 and reply.json()["usage"]["completion_tokens"] == tokens
                    problem = None if ok else f"{reply.status_code} {reply.text[:100]}"
                except httpx.HTTPError as e:
                    problem = repr(e)
                took = time.perf_counter() - start
                with lock:
                    if problem:
                        errors.append(problem)
                    else:
                        latencies.append(took)
                        generated[0] += tokens

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {"latencies": latencies, "errors": errors, "tokens": generated[0], "wall": wall,
            "cut": time.monotonic() > deadline}


BIG = {"prompt": "The ", "max_tokens": 1024, "n": 16, "logprobs": 5}


def raw_post(port: int, body: dict, rcvbuf=None) -> socket.socket:
    """A socket that has sent ``POST /v1/completions`` with ``body`` (and read nothing)."""
    s = socket.socket()
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    data = json.dumps(body).encode()
    s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % (port, len(data)) + data)
    return s


def quiet(stop: threading.Event) -> int:
    """No attack: the prober alone, for comparison."""
    stop.wait()
    return 0


def stalled(port: int, model: str, stop: threading.Event) -> int:
    """Keep two streams that are never read open; count the ones the server cut off."""
    cut, body = 0, {"model": model, **BIG, "stream": True}
    sockets = [raw_post(port, body, rcvbuf=4096) for _ in range(2)]
    poller = select.poll()
    for s in sockets:
        poller.register(s, select.POLLERR | select.POLLHUP | select.POLLRDHUP)
    while not stop.is_set():
        for fd, _ in poller.poll(100):
            old = next(s for s in sockets if s.fileno() == fd)
            poller.unregister(old)
            old.close()
            sockets.remove(old)
            cut += 1
            new = raw_post(port, body, rcvbuf=4096)
            sockets.append(new)
            poller.register(new, select.POLLERR | select.POLLHUP | select.POLLRDHUP)
    for s in sockets:
        s.close()
    return cut


def abandoned(port: int, model: str, stop: threading.Event) -> int:
    """Bursts of 40 big non-streamed requests whose clients leave at once; count them."""
    sent = 0
    while not stop.is_set():
        for _ in range(40):
            with contextlib.suppress(OSError):
                raw_post(port, {"model": model, **BIG}).close()
                sent += 1
        stop.wait(1.0)
    return sent


def large(base: str, model: str, stop: threading.Event) -> int:
    """Two clients reading big non-streamed replies one after the other; count the bytes."""
    got = [0]

    def client():
        with httpx.Client(timeout=300) as http:
            while not stop.is_set():
                got[0] += len(http.post(f"{base}/v1/completions", json={"model": model, **BIG}).content)

    threads = [threading.Thread(target=client) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return got[0]


def probe(base: str, model: str, seconds: float, attack) -> dict:
    """Run ``attack(stop)`` for ``seconds`` while normal requests and /health are timed."""
    stop = threading.Event()
    normal, health, errors, attacked = [], [], [], []

    def normal_client():
        with httpx.Client(timeout=120) as http:
            while not stop.is_set():
                start = time.perf_counter()
                try:
                    r = http.post(f"{base}/v1/completions", json={"model": model, "prompt": "The ", "max_tokens": 5})
                    if r.status_code == 200:
                        normal.append(time.perf_counter() - start)
                    else:
                        errors.append(f"{r.status_code} {r.text[:100]}")
                except httpx.HTTPError as e:
                    errors.append(repr(e))
                stop.wait(0.2)

    def health_client():
        with httpx.Client(timeout=30) as http:
            while not stop.is_set():
                start = time.perf_counter()
                try:
                    if http.get(f"{base}/health").status_code == 200:
                        health.append(time.perf_counter() - start)
                except httpx.HTTPError as e:
                    errors.append(f"health: {e!r}")
                stop.wait(0.05)

    threads = [threading.Thread(target=f) for f in (normal_client, health_client)]
    threads.append(threading.Thread(target=lambda: attacked.append(attack(stop))))
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return {"normal": normal, "health": health, "errors": errors, "attacked": attacked[0] if attacked else None}


def percentiles(seconds) -> str:
    if not seconds:
        return "-, -"
    ms = np.array(seconds) * 1000
    return f"{np.percentile(ms, 50):,.0f} ms, {np.percentile(ms, 99):,.0f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=20, help="Requests per client.")
    parser.add_argument("--tokens", type=int, default=200, help="max_tokens of each request.")
    parser.add_argument("--workers", type=int, default=None, help="lstmgen serve --workers (default: its own).")
    parser.add_argument("--queue", type=int, default=None, help="lstmgen serve --queue (default: its own).")
    parser.add_argument("--write-timeout", type=float, default=None,
                        help="lstmgen serve --write-timeout (default: its own).")
    parser.add_argument("--train-steps", type=int, default=50, help="Steps of the default-size model, without RUN_DIR.")
    parser.add_argument("--time-limit", type=float, default=300, help="Seconds per level at most.")
    parser.add_argument("--runs", nargs="+", default=["levels", "quiet", "stalled", "abandoned", "large"],
                        choices=["levels", "quiet", "stalled", "abandoned", "large"], help="Which runs.")
    parser.add_argument("--attack-seconds", type=float, default=20, help="Seconds of each stalled/abandoned/large run.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir or default_size_run(Path(tmp), args.train_steps)
        port = free_port()
        command = [sys.executable, "-m", "lstmgen", "serve", str(run_dir), "--port", str(port), "--model-name", "bench"]
        for flag, value in (("--workers", args.workers), ("--queue", args.queue),
                            ("--write-timeout", args.write_timeout)):
            if value is not None:
                command += [flag, str(value)]
        server = subprocess.Popen(command, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    httpx.get(f"{base}/health", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            httpx.post(f"{base}/v1/completions", json={"model": "bench", "prompt": "The ", "max_tokens": args.tokens},
                       timeout=60)  # warm-up
            print(f"run: {run_dir}; server pid {server.pid}")
            if "levels" in args.runs:
                print(f"{args.requests} requests of {args.tokens} tokens per client")
                print("| clients | requests | p50 latency | p99 latency | tokens/s | errors | server RSS before -> after |")
                print("|---:|---:|---:|---:|---:|---:|---|")
            for n in args.clients if "levels" in args.runs else []:
                before = rss_mb(server.pid)
                r = level(base, "bench", n, args.requests, args.tokens, args.time_limit)
                after = rss_mb(server.pid)
                lat = np.array(r["latencies"]) * 1000
                p50, p99 = (np.percentile(lat, 50), np.percentile(lat, 99)) if len(lat) else (float("nan"),) * 2
                cut = " (time limit)" if r["cut"] else ""
                print(f"| {n} | {len(lat) + len(r['errors'])}{cut} | {p50:,.0f} ms | {p99:,.0f} ms | "
                      f"{r['tokens'] / r['wall']:,.0f} | {len(r['errors'])} | {before:,.0f} MB -> {after:,.0f} MB |",
                      flush=True)
                for e in r["errors"][:3]:
                    print(f"    error: {e}")
            attacks = {"quiet": quiet, "stalled": partial(stalled, port, "bench"), "abandoned": partial(abandoned, port, "bench"),
                       "large": partial(large, base, "bench")}
            runs = [name for name in attacks if name in args.runs]
            if runs:
                print(f"\n{args.attack_seconds:g} s each; a 5-token request every 0.2 s, /health every 0.05 s")
                print("| run | attack | 5-token requests | p50, p99 | /health requests | p50, p99 | errors | "
                      "server RSS before -> after |")
                print("|---|---:|---:|---:|---:|---:|---:|---|")
            for name in runs:
                before = rss_mb(server.pid)
                r = probe(base, "bench", args.attack_seconds, attacks[name])
                after = rss_mb(server.pid)
                print(f"| {name} | {r['attacked']:,} | {len(r['normal'])} | {percentiles(r['normal'])} | "
                      f"{len(r['health'])} | {percentiles(r['health'])} | {len(r['errors'])} | "
                      f"{before:,.0f} MB -> {after:,.0f} MB |", flush=True)
                for e in r["errors"][:3]:
                    print(f"    error: {e}")
                for _ in range(600):  # let the server drain before the next run
                    if httpx.get(f"{base}/health", timeout=10).json()["waiting"] == 0:
                        break
                    time.sleep(0.1)
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
