"""A generation engine the kit starts as a separate process, and always stops again.

The engine (``vllm serve``, or any command that serves the OpenAI-compatible API) lives in its own
environment — its own virtualenv or container — so the kit's Python never has to hold it. The kit:

1. picks a free port on 127.0.0.1 and starts the command in a new process group, its output
   appended to a log file in the run folder (the log is kept);
2. waits for ``GET /health`` to answer 200, with a time-out; an engine that exits or never gets
   healthy stops the run with a one-line error that quotes the last line of its log;
3. stops the whole process group (SIGTERM, then SIGKILL after a grace period) when the run ends —
   on success, on an error, on Ctrl-C and on SIGTERM. On Linux the engine is also told to exit
   if the kit itself is killed (``PR_SET_PDEATHSIG``).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from clue.errors import ClueError, InputError


class EngineError(ClueError):
    """The engine could not be started, did not get healthy, or died."""


ENGINE_VARIABLE = "CLUE_VLLM"


def engine_command(option: str | None = None) -> list[str]:
    """The vLLM engine's command as argv: ``--engine-command``, else ``$CLUE_VLLM``, else ``vllm``."""
    argv = shlex.split(option or os.environ.get(ENGINE_VARIABLE) or "vllm")
    if not argv:
        raise InputError("--engine-command is empty; expected the vLLM executable, e.g. /opt/vllm/bin/vllm")
    return argv


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent() -> None:   # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG


def _last_line(path: Path) -> str:
    with contextlib.suppress(OSError):
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        if lines:
            return lines[-1][:200]
    return "(empty log)"


class ManagedEngine:
    """One engine process; use as a context manager or call ``start`` and ``stop``."""

    def __init__(self, argv: list[str], *, port: int, log_path: str | os.PathLike, health_path: str = "/health",
                 timeout: float = 1800.0, grace: float = 30.0, poll: float = 0.5, env: dict | None = None):
        self.argv = list(argv)
        self.port = port
        self.log_path = Path(log_path)
        self.health_url = f"http://127.0.0.1:{port}{health_path}"
        self.timeout = timeout
        self.grace = grace
        self.poll = poll
        self.env = env
        self.process: subprocess.Popen | None = None
        self.start_seconds = 0.0
        self._previous_sigterm = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ManagedEngine:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        with open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"\n# clue: starting engine on 127.0.0.1:{self.port}: {' '.join(self.argv)}\n")
            log.flush()
            try:
                self.process = subprocess.Popen(
                    self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True, env=self.env,
                    preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)
            except OSError as exc:
                raise EngineError(f"engine command {self.argv[0]!r} could not be started ({exc.strerror or exc}); "
                                  "set --engine-command or CLUE_VLLM to the engine's executable") from None
        self._catch_sigterm()
        try:
            self._wait_healthy()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.perf_counter() - started
        return self

    def _catch_sigterm(self) -> None:
        """SIGTERM to the kit becomes KeyboardInterrupt, so that ``finally`` blocks stop the engine."""
        if threading.current_thread() is not threading.main_thread():
            return

        def interrupt(signum, frame):
            raise KeyboardInterrupt

        self._previous_sigterm = signal.signal(signal.SIGTERM, interrupt)

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            code = self.process.poll()
            if code is not None:
                raise EngineError(f"the engine exited with code {code} before it was ready; last line of "
                                  f"{self.log_path}: {_last_line(self.log_path)}")
            try:
                with urllib.request.urlopen(self.health_url, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise EngineError(f"the engine was not healthy at {self.health_url} within {self.timeout:.0f} s "
                                  f"(--engine-timeout); last line of {self.log_path}: {_last_line(self.log_path)}")
            time.sleep(self.poll)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Stop the engine's whole process group; idempotent."""
        process, self.process = self.process, None
        if process is not None:
            for sig, wait in ((signal.SIGTERM, self.grace), (signal.SIGKILL, 10.0)):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(process.pid, sig)
                try:
                    process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
            with contextlib.suppress(OSError), open(self.log_path, "a", encoding="utf-8") as log:
                log.write(f"# clue: engine stopped (exit code {process.returncode})\n")
        if self._previous_sigterm is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None

    def __enter__(self) -> ManagedEngine:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
