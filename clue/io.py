"""Small I/O helpers shared by every module: atomic writes, hashing, JSON lines.

Files and folders the kit creates get the mode a normal tool gives them: 0666 / 0777 less the
umask (0644 / 0755 under umask 022, 0600 / 0700 under 077), temporaries included, so whatever a
container writes into a mounted folder can be read by the host user the umask allows.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from clue.errors import InputError


def sha256_file(path: str | os.PathLike, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def os_error_message(path: str | os.PathLike, exc: OSError, expected: str = "a file") -> str:
    """One line naming ``path`` and what was expected, for an OSError met while opening it."""
    if isinstance(exc, FileNotFoundError):
        if os.path.islink(path):
            return f"{path}: a symbolic link to {os.readlink(path)}, which does not exist (expected {expected})"
        return f"{path}: file not found (expected {expected})"
    if isinstance(exc, IsADirectoryError):
        return f"{path}: is a folder, expected {expected}"
    if isinstance(exc, NotADirectoryError):
        return f"{path}: a part of this path is a file, not a folder (expected {expected})"
    if exc.errno == errno.ELOOP:
        return f"{path}: symbolic link loop (the link points back at itself); expected {expected}"
    if isinstance(exc, PermissionError):
        return f"{path}: permission denied (expected {expected} readable by this user)"
    return f"{path}: cannot be read ({exc.strerror or exc}); expected {expected}"


def unicode_error_message(path: str | os.PathLike, data: bytes, exc: UnicodeDecodeError, what: str = "UTF-8 text") -> str:
    """One line naming the line and byte of the first byte of ``data`` that is not UTF-8."""
    line = data.count(b"\n", 0, exc.start) + 1
    return f"{path}: line {line}: not {what} (byte 0x{data[exc.start]:02x} at offset {exc.start}: {exc.reason})"


def read_text(path: str | os.PathLike, expected: str = "a UTF-8 text file") -> str:
    """The text of a small UTF-8 file; every failure is an InputError naming the file (and line)."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(os_error_message(path, exc, expected)) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(unicode_error_message(path, data, exc)) from None


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Write to a temporary file beside ``path`` and rename it into place only on success.

    An exception (KeyboardInterrupt included) removes the temporary file and leaves any
    previous ``path`` untouched.
    """
    path = Path(path)
    make_folder(path.parent)
    if path.is_dir():
        raise InputError(f"{path}: is a folder, expected a file the kit can write (move the folder away)")
    fd, tmp = create_temp_file(path.parent, prefix=f".{path.name}.")
    if "b" in mode:
        encoding = None
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def create_temp_file(folder: str | os.PathLike, prefix: str, suffix: str = ".tmp") -> tuple[int, Path]:
    """``(fd, path)`` of a new file in ``folder`` opened for writing, created with mode 0666 so that the
    umask sets its permissions (``tempfile.mkstemp`` would give 0600 whatever the umask)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = Path(folder) / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary file name", str(Path(folder) / prefix))


def create_temp_folder(folder: str | os.PathLike, prefix: str) -> Path:
    """A new empty folder in ``folder``, created with mode 0777 less the umask (``tempfile.mkdtemp``
    would give 0700), to be filled and then renamed into place."""
    for _ in range(100):
        path = Path(folder) / f"{prefix}{secrets.token_hex(4)}"
        try:
            path.mkdir(mode=0o777)
            return path
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary folder name", str(Path(folder) / prefix))


def current_umask() -> int:
    """The process's umask, read from /proc/self/status on Linux (``os.umask`` can only read it by
    changing it, which another thread could see)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def apply_umask(folder: str | os.PathLike) -> None:
    """Give ``folder`` and everything in it the mode a normal tool gives (0666 / 0777 less the umask):
    for what a library wrote with a private mode (safetensors' ``save_file`` writes 0600)."""
    allowed = ~current_umask()
    for path in [Path(folder), *Path(folder).rglob("*")]:
        if path.is_symlink():
            continue
        executable = path.is_dir() or path.stat().st_mode & 0o111
        os.chmod(path, (0o777 if executable else 0o666) & allowed)


def make_folder(folder: str | os.PathLike) -> Path:
    """``mkdir -p``; a file standing where a folder is needed is an InputError naming it."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        blocking = next((p for p in (folder, *folder.parents) if p.exists() and not p.is_dir()), folder)
        raise InputError(f"{blocking}: is a file, expected a folder (needed for {folder}); move the file away") from None
    return folder


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_write(path) as handle:
        json.dump(obj, handle, indent=2, sort_keys=False, ensure_ascii=False)
        handle.write("\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(read_text(path, "a JSON file"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON at line {exc.lineno}: {exc.msg}") from None


def dumps_jsonl(record: dict) -> str:
    """The one canonical JSON-lines encoding used for every file whose bytes are fingerprinted."""
    return json.dumps(record, ensure_ascii=False, sort_keys=False, separators=(",", ":"))


def write_jsonl(path: str | os.PathLike, records: Iterable[dict]) -> int:
    count = 0
    with atomic_write(path) as handle:
        for record in records:
            handle.write(dumps_jsonl(record))
            handle.write("\n")
            count += 1
    return count


def parse_jsonl(path: str | os.PathLike, lines: Iterable[str]) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line of ``path``; a bad line is an InputError naming it."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: line {number}: invalid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(record, dict):
            raise InputError(f"{path}: line {number}: expected a JSON object, found {type(record).__name__}")
        yield number, record


def read_jsonl_numbered(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each record of a JSON-lines file."""
    path = Path(path)
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise InputError(os_error_message(path, exc, "a JSON-lines file")) from None
    with handle:
        yield from parse_jsonl(path, _utf8_lines(path, handle))


def _utf8_lines(path: Path, handle) -> Iterator[str]:
    """The lines of a binary handle decoded as UTF-8; a bad byte is an InputError naming its line."""
    for number, raw in enumerate(handle, start=1):
        try:
            yield raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: line {number}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at column "
                             f"{exc.start + 1}: {exc.reason})") from None


def read_jsonl(path: str | os.PathLike) -> Iterator[dict]:
    for _, record in read_jsonl_numbered(path):
        yield record
