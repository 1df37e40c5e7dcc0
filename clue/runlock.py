"""One process at a time per run folder: an advisory lock (``fcntl.flock``) on ``results/<run>/.run.lock``.

``clue evaluate`` and ``clue score`` hold it from before the model is loaded until the manifest's
last write, so two processes never generate the same completions twice and never write
``manifest.json`` over each other: the second one stops at once, naming the process that holds the
run. The kernel drops a flock when its process ends, however it ends (SIGKILL included), so a
stale lock file never blocks anyone; the file only tells who holds the lock while it is held.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import sys
import time
from pathlib import Path

from clue.errors import ClueError
from clue.io import make_folder

LOCK_NAME = ".run.lock"


class RunInUse(ClueError):
    """Another process holds the run folder (exit status 75, EX_TEMPFAIL: try again later)."""

    exit_code = 75


class RunLock:
    """``hold(run_dir, command)`` takes the lock (or raises RunInUse); ``release()`` gives it back."""

    def __init__(self, name: str = LOCK_NAME) -> None:
        self.name = name          # another name gives an independent lock (``clue sweep`` holds .sweep.lock)
        self.fd: int | None = None
        self.path: Path | None = None
        self.created = False

    def hold(self, run_dir: str | os.PathLike, command: str) -> None:
        if self.fd is not None:
            return
        folder = Path(run_dir)
        created = not folder.exists()
        make_folder(folder)
        path = folder / self.name
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise RunInUse(f"{folder}: the run is in use by {holder}; wait for it to finish and run the command "
                           "again (only what is missing is generated), or choose another --run") from None
        except BaseException:
            os.close(fd)
            raise
        note = {"pid": os.getpid(), "command": command,
                "since": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "argv": [os.path.basename(sys.argv[0])] if sys.argv else []}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(note) + "\n").encode("utf-8"), 0)
        self.fd, self.path, self.created = fd, path, created

    def release(self) -> None:
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            os.ftruncate(fd, 0)          # the file stays: removing it could race with another opener
            if self.created and [p.name for p in self.path.parent.iterdir()] == [self.name]:
                # a run that failed before writing anything leaves no folder behind
                self.path.unlink(missing_ok=True)
                self.path.parent.rmdir()
        except OSError:
            pass
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _holder(fd: int, wait: float = 1.0) -> str:
    """Who holds the lock. A holder that has just taken it writes its note a moment later: wait for it."""
    deadline = time.monotonic() + wait
    while True:
        try:
            note = json.loads(os.pread(fd, 4096, 0).decode("utf-8") or "{}")
        except (OSError, ValueError):
            note = {}
        if isinstance(note, dict) and "pid" in note:
            return f"PID {note['pid']} ({note.get('command', 'clue')} since {note.get('since', '?')})"
        if time.monotonic() >= deadline:
            return "another process (it is starting)"
        time.sleep(0.02)
