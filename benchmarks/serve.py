"""How ``lstmgen serve`` holds up under concurrent clients on loopback.

    python benchmarks/serve.py [RUN_DIR] [--clients 1 8 32] [--requests 20] [--tokens 200]

For each number of clients N, N threads each send ``--requests`` completions of ``--tokens``
tokens one after the other (``POST /v1/completions``, no stream, seed = request number) to a
server started here (``python -m lstmgen serve``, default workers and queue unless given).
It prints one markdown row per N: p50 and p99 latency, generated tokens per second over the
wall time, errors (anything but 200 with ``--tokens`` tokens; must be 0), and the server's
resident memory (VmRSS) after one warm-up request and after the level.

Without RUN_DIR it trains a model of the default configuration's size (configs/default.yaml:
2 x 256 LSTM, char vocabulary of the built-in corpus) for ``--train-steps`` steps only: the
speed of serving depends on the size, not on how well it was trained. Every level is bounded
by ``--time-limit`` seconds (clients stop sending when it is reached; the row says so).
"""

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path)
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=20, help="Requests per client.")
    parser.add_argument("--tokens", type=int, default=200, help="max_tokens of each request.")
    parser.add_argument("--workers", type=int, default=None, help="lstmgen serve --workers (default: its own).")
    parser.add_argument("--queue", type=int, default=None, help="lstmgen serve --queue (default: its own).")
    parser.add_argument("--train-steps", type=int, default=50, help="Steps of the default-size model, without RUN_DIR.")
    parser.add_argument("--time-limit", type=float, default=300, help="Seconds per level at most.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir or default_size_run(Path(tmp), args.train_steps)
        port = free_port()
        command = [sys.executable, "-m", "lstmgen", "serve", str(run_dir), "--port", str(port), "--model-name", "bench"]
        for flag, value in (("--workers", args.workers), ("--queue", args.queue)):
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
            print(f"run: {run_dir}; {args.requests} requests of {args.tokens} tokens per client; "
                  f"server pid {server.pid}")
            print("| clients | requests | p50 latency | p99 latency | tokens/s | errors | server RSS before -> after |")
            print("|---:|---:|---:|---:|---:|---:|---|")
            for n in args.clients:
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
        finally:
            server.terminate()
            server.wait(10)


if __name__ == "__main__":
    main()
