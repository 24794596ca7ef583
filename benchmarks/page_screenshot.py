"""Drive the page of ``lstmgen serve`` in headless Chromium and save a screenshot of it.

    python benchmarks/page_screenshot.py [RUN_DIR] [-o page.png]

Without RUN_DIR it trains a tiny model on generated text first (seconds). The page is opened
with ``?prime=...&autostart=1&probs=1``: it streams a completion, then lists the next-token
probabilities. Chromium (Debian: ``apt-get install chromium``) runs headless and is driven over
the DevTools protocol on a pipe (``--remote-debugging-pipe``: JSON messages ending in NUL on
file descriptors 3 and 4; no package needed): the script watches the text grow while it
streams, waits for the end and the probability table, then saves a PNG and prints what it saw.
"""

import argparse
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--remote-debugging-pipe"]
WIDTH, HEIGHT = 1100, 900


def tiny_run(folder: Path) -> Path:
    import lstmgen
    from tests.conftest import write_corpus

    config = {"data": {"corpus": str(write_corpus(folder / "corpus.txt"))},
              "model": {"embed_dim": 16, "hidden_size": 64, "num_layers": 1, "dropout": 0.0},
              "train": {"batch_size": 16, "seq_len": 32, "max_steps": 150, "eval_interval": 50,
                        "learning_rate": 0.01}}
    lstmgen.train(config, out=folder / "run")
    return folder / "run"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe."""

    def __init__(self, profile: str):
        binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
        if binary is None:
            sys.exit("no Chromium found: apt-get install chromium")
        to_browser, self._commands = os.pipe()  # the browser reads fd 3
        self._events, from_browser = os.pipe()  # and writes fd 4

        def fds():  # in the child: the pipe ends become fds 3 and 4 (copied first: they may be 3 or 4)
            read, write = os.dup(to_browser), os.dup(from_browser)
            os.dup2(read, 3)
            os.dup2(write, 4)

        self.proc = subprocess.Popen([binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                     preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self.next_id, self.buffer, self.session = 0, b"", None

    def send(self, method: str, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while True:  # skip events until the answer
            while b"\0" not in self.buffer:
                chunk = os.read(self._events, 1 << 16)
                if not chunk:
                    raise RuntimeError("Chromium closed the pipe")
                self.buffer += chunk
            raw, self.buffer = self.buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def open(self, url: str):
        target = self.send("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
        self.send("Page.navigate", url=url)

    def js(self, expression: str):
        return self.send("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def screenshot(self, path: Path):
        path.write_bytes(base64.b64decode(self.send("Page.captureScreenshot", format="png")["data"]))

    def close(self):
        try:
            self.send("Browser.close")
        except (RuntimeError, OSError):
            pass
        self.proc.wait(10)


def watch(page: str, output: Path) -> dict:
    """Open the page, follow the stream to its end, save the screenshot: what was seen."""
    seen = {"text lengths while streaming": [], "status": "", "probability rows": 0}
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(profile)
        try:
            browser.open(page)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                status = browser.js("document.getElementById('status') && document.getElementById('status').textContent") or ""
                rows = browser.js("document.querySelectorAll('#probtable tr').length") or 0
                if status == "generating\u2026":
                    seen["text lengths while streaming"].append(browser.js("document.getElementById('text').textContent.length"))
                if status.startswith(("done", "error")) and (rows or status.startswith("error")):
                    seen["status"], seen["probability rows"] = status, rows
                    break
                time.sleep(0.01)
            seen["text"] = browser.js("document.getElementById('text').textContent")
            browser.screenshot(output)
        finally:
            browser.close()
    return seen


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?", type=Path)
    parser.add_argument("-o", "--output", type=Path, default=Path("page.png"))
    parser.add_argument("--prime", default="The cat ")
    parser.add_argument("--length", type=int, default=400, help="Tokens to generate.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir or tiny_run(Path(tmp))
        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen([sys.executable, "-m", "lstmgen", "serve", str(run_dir), "--port", str(port)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    urllib.request.urlopen(f"{base}/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            query = urllib.parse.urlencode({"prime": args.prime, "length": args.length, "temperature": 0.7,
                                            "seed": 1, "autostart": 1, "probs": 1})
            seen = watch(f"{base}/?{query}", args.output)
        finally:
            server.terminate()
            server.wait(10)
    growing = sorted(set(seen["text lengths while streaming"]))
    print(f"status: {seen['status']!r}; probability rows: {seen['probability rows']}")
    print(f"text lengths seen while streaming: {growing[:5]}{' ...' if len(growing) > 5 else ''} ({len(growing)} distinct)")
    print(f"text: {seen['text'][:160]!r}")
    print(f"screenshot: {args.output} ({args.output.stat().st_size:,} bytes)")
    ok = seen["status"].startswith("done") and seen["probability rows"] > 0 and len(growing) >= 2
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
