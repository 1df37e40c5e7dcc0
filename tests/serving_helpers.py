"""Real OpenAI-compatible servers on 127.0.0.1 for the backend tests: `transformers serve` running a tiny
model, and a fault-injecting proxy in front of it. Nothing here talks to any other address."""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

FAKE_ENGINE = Path(__file__).resolve().parent / "fixtures" / "fake_vllm.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen | None = None, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} not healthy within {timeout} s")


class Server:
    """`transformers serve MODEL` on 127.0.0.1:port, one torch thread, its log in ``log``."""

    def __init__(self, model: Path, log: Path, port: int | None = None):
        self.model, self.log, self.port = model, log, port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> Server:
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
        with open(self.log, "a") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "transformers.cli.transformers", "serve", str(self.model), "--host",
                 "127.0.0.1", "--port", str(self.port), "--device", "cpu"],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        wait_healthy(f"http://127.0.0.1:{self.port}/health", self.process)
        return self

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)


class FaultProxy:
    """A loopback HTTP proxy that answers the first requests with scripted faults, then forwards.

    Faults: an HTTP status (429, 503, ...), ``"reset"`` (close the connection without answering),
    ``"slow"`` (answer after ``slow_seconds``), ``"malformed"`` (200 with a body that is not JSON).
    ``always`` repeats one fault for every request. ``seen`` counts requests per path.
    """

    def __init__(self, target: str, faults=(), always=None, slow_seconds: float = 3.0, pass_first: int = 0):
        self.target = target.rstrip("/")
        self.pass_first = pass_first
        self.faults = list(faults)
        self.always = always
        self.slow_seconds = slow_seconds
        self.seen: list[str] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self._handle(None)

            def do_POST(self):
                self._handle(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

            def _handle(self, body):
                with proxy.lock:
                    proxy.seen.append(self.path)
                    if len(proxy.seen) <= proxy.pass_first:
                        fault = None
                    elif proxy.always is not None:
                        fault = proxy.always
                    else:
                        fault = proxy.faults.pop(0) if proxy.faults else None
                if fault == "reset":
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.connection.close()
                    self.close_connection = True
                    return
                if fault == "slow":
                    time.sleep(proxy.slow_seconds)
                if isinstance(fault, int):
                    self._answer(fault, b'{"error": "injected"}', {"Retry-After": "0"} if fault == 429 else {})
                    return
                if fault == "malformed":
                    self._answer(200, b'{"choices": [ this is not json')
                    return
                request = urllib.request.Request(proxy.target + self.path.removeprefix("/v1"), data=body,
                                                 method=self.command, headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(request, timeout=300) as response:
                        self._answer(response.status, response.read())
                except urllib.error.HTTPError as exc:
                    self._answer(exc.code, exc.read())

            def _answer(self, status, payload, headers=None):
                try:
                    self.send_response(status)
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass   # the client gave up (time-out test)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def completions(self) -> int:
        return sum(1 for path in self.seen if path.endswith("/completions"))

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def completions_by_item(run_model_dir: Path, task: str) -> dict[str, str]:
    lines = (run_model_dir / task / "predictions.jsonl").read_text(encoding="utf-8").splitlines()
    return {row["id"]: row["completion"] for row in map(json.loads, lines)}
