"""``clue data build``: run the recipes and write ``data/<task>/test.jsonl`` + ``manifest.json``.

Inputs are checked against their expected sha256 before a recipe reads them: the registry's pinned
hash (MeQSum), the project's ``SHA256SUMS.txt`` beside the PhysioNet files, or for LongHealth the
hash ``clue data fetch`` recorded on first download (``<file>.sha256``). Without an expected hash, or
on a mismatch, the build stops unless ``allow_unverified``; the manifest then says ``verified: false``.
Outputs are written to temporary names and renamed into place, so an interrupted build leaves the
previous outputs as they were.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from clue import __version__
from clue.data.recipes import recipe
from clue.data.sources import Source, load_registry
from clue.errors import ChecksumError, ClueError, InputError, NotReadyError
from clue.io import atomic_write, dumps_jsonl, os_error_message, read_json, read_text, sha256_file, write_json
from clue.paths import data_dir, raw_dir as default_raw_dir
from clue.taskinfo import TASK_IDS, task_info

HASH_CACHE = ".clue-hashes.json"
SUMS_FILE = "SHA256SUMS.txt"


# ------------------------------------------------------------------------------------------
# hashes: a build always reads the file; raw_dir/.clue-hashes.json only spares `clue data status`
# ------------------------------------------------------------------------------------------
#
# The cache is keyed on (size, mtime_ns, ctime_ns, inode, device). mtime can be set back by anyone
# (`touch -r`, os.utime), but any write or utime moves ctime to "now", which user space cannot set;
# a copy or an atomic replace changes the inode. A hash is cached only when the stat before and
# after hashing agree and ctime is older than RACY_S (a write within the same clock tick as the
# hashing could otherwise keep every key field). A build does not trust even that: it re-hashes
# every input it reads (about 1.3-1.7 s per GB here), so a built manifest's sha256 and "verified"
# are always of the bytes on disk at build time.

RACY_S = 2.0


def _stat_key(stat) -> dict:
    return {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "ctime_ns": stat.st_ctime_ns,
            "inode": stat.st_ino, "device": stat.st_dev}


def _read_hash_cache(cache_path: Path) -> dict:
    """The cache's entries; a corrupt cache is rebuilt (with a warning) rather than blocking anything."""
    if not (cache_path.exists() or cache_path.is_symlink()):
        return {}
    problem = None
    try:
        cache = read_json(cache_path)
    except InputError as exc:
        cache, problem = {}, str(exc)
    if not problem and not (isinstance(cache, dict) and all(isinstance(v, dict) for v in cache.values())):
        cache, problem = {}, f"{cache_path}: expected an object {{path: {{size, mtime_ns, …, sha256}}}}"
    if problem:
        print(f"warning: {problem}; the kit's hash cache is ignored and rebuilt", file=sys.stderr, flush=True)
        return {}
    return cache


def cached_sha256(path: Path, raw_dir: Path, reuse: bool = True) -> str:
    """sha256 of ``path``; with ``reuse``, the cached value while no stat field an edit changes has changed.

    The hash is recorded in ``raw_dir/.clue-hashes.json`` either way. OSError (a folder, a symlink
    loop, no permission) is left to the caller, which knows what the file was expected to be.
    """
    path = Path(path)
    before = path.stat()
    cache_path = Path(raw_dir) / HASH_CACHE
    key = str(path.resolve())
    cache = _read_hash_cache(cache_path)
    entry = cache.get(key)
    if reuse and isinstance(entry, dict) and isinstance(entry.get("sha256"), str) \
            and {k: entry.get(k) for k in _stat_key(before)} == _stat_key(before):
        return entry["sha256"]
    digest = sha256_file(path)
    after = path.stat()
    if _stat_key(before) == _stat_key(after) and time.time() - after.st_ctime > RACY_S:
        cache[key] = {**_stat_key(after), "sha256": digest}
        with contextlib.suppress(OSError, ClueError):
            write_json(cache_path, cache)
    return digest


def _project_root(source: Source, path: Path) -> Path | None:
    """``<…>/<slug>/<version>`` above a credentialed file, where PhysioNet puts SHA256SUMS.txt."""
    for parent in [path, *path.parents]:
        if parent.name == source.version and parent.parent.name == source.project:
            return parent
    return None


def read_sums(sums: Path) -> dict[str, str]:
    """``SHA256SUMS.txt`` lines ``<hex> <path>`` (``*path`` and ``./path`` accepted) -> {path: hex}."""
    found = {}
    for number, line in enumerate(read_text(sums, f"a {SUMS_FILE} file").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or len(parts[0]) != 64:
            raise InputError(f"{sums}: line {number}: expected '<sha256> <path>', found {line[:60]!r}")
        name = parts[1].strip().lstrip("*")
        found[name[2:] if name.startswith("./") else name] = parts[0].lower()
    return found


def expected_sha256(source: Source, path: Path) -> tuple[str | None, str]:
    """(expected hash or None, where it came from or why there is none)."""
    if source.sha256:
        return source.sha256, "the source registry"
    if source.trust_on_first_use:
        record = Path(str(path) + ".sha256")
        if record.exists() or record.is_symlink():
            text = read_text(record, "the sha256 recorded at first download").split()
            if text and len(text[0]) == 64:
                return text[0].lower(), f"{record.name} (recorded at first download)"
        return None, f"no {record.name} (written by `clue data fetch` at first download)"
    root = _project_root(source, path)
    if root is None:
        return None, f"the file is not under a {source.project}/{source.version}/ folder, so no {SUMS_FILE} applies"
    sums = root / SUMS_FILE
    if not (sums.exists() or sums.is_symlink()):
        return None, f"no {sums} (download it from {source.checksums})"
    relative = path.relative_to(root).as_posix()
    listed = read_sums(sums)
    if relative not in listed:
        return None, f"{sums} does not list {relative} (it lists {', '.join(sorted(listed)[:4])})"
    return listed[relative], str(sums)


# ------------------------------------------------------------------------------------------
# the inputs a recipe reads
# ------------------------------------------------------------------------------------------

@dataclass
class Inputs:
    """Locates and verifies a recipe's raw files; remembers what was read for the manifest."""

    raw_dir: Path
    registry: dict[str, Source]
    allow_unverified: bool = False
    used: dict[str, dict] = field(default_factory=dict)

    def source(self, name: str) -> Source:
        return self.registry[name]

    def locate(self, name: str) -> Path:
        return self.source(name).require(self.raw_dir)

    def file(self, name: str) -> Path:
        return self.verified(name, self.locate(name))

    def verified(self, name: str, path: Path) -> Path:
        """Check ``path`` (a file of source ``name``) against its expected sha256."""
        source = self.source(name)
        try:
            actual = cached_sha256(path, self.raw_dir, reuse=False)   # a build reads what it verifies
        except OSError as exc:
            raise InputError(os_error_message(path, exc, f"the {name} file ({source.path})")) from None
        expected, origin = expected_sha256(source, path)
        entry = {"path": _display(path, self.raw_dir), "sha256": actual, "verified": expected == actual}
        if expected is None:
            if not self.allow_unverified:
                raise ChecksumError(f"{path}: no expected sha256 to check it against: {origin}; "
                                    "pass --allow-unverified to build from it anyway")
            entry["unverified_reason"] = origin
        elif expected != actual:
            if not self.allow_unverified:
                raise ChecksumError(f"{path}: sha256 mismatch: expected {expected} (from {origin}), got {actual}; "
                                    "download it again, or pass --allow-unverified")
            entry["expected_sha256"] = expected
            entry["unverified_reason"] = f"sha256 differs from {origin}"
        self.used[name] = entry
        return path


def _display(path: Path, raw_dir: Path) -> str:
    try:
        return Path(path).resolve().relative_to(Path(raw_dir).resolve()).as_posix()
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------------------
# building
# ------------------------------------------------------------------------------------------

@dataclass
class BuildResult:
    task: str
    rows: int | None
    sha256: str | None
    status: str            # "built" or "skipped: <why>"
    path: Path | None = None


def render_jsonl(records: list[dict]) -> bytes:
    return "".join(dumps_jsonl(r) + "\n" for r in records).encode("utf-8")


def write_outputs(task: str, module, records: list[dict], inputs: Inputs, out_dir: Path,
                  params: dict | None = None) -> BuildResult:
    """Write test.jsonl and manifest.json of one task; both appear together or not at all."""
    if not records:
        read = [str(Path(e["path"]) if Path(e["path"]).is_absolute() else inputs.raw_dir / e["path"])
                for e in inputs.used.values()]
        raise InputError(f"{', '.join(read) or task}: no {task} records found in it (expected a non-empty test file)")
    ids = [r["id"] for r in records]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"{task}: record id {duplicate!r} appears more than once")
    payload = render_jsonl(records)
    digest = hashlib.sha256(payload).hexdigest()
    folder = Path(out_dir) / task
    for stale in folder.glob(".*.tmp"):  # temporary files of a build killed with SIGKILL
        stale.unlink(missing_ok=True)
    manifest = {
        "task": task,
        "recipe": module.__name__,
        "recipe_version": module.VERSION,
        "inputs": inputs.used,
        "rows": len(records),
        "sha256": digest,
        "built_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "kit_version": __version__,
    }
    if params:
        manifest["params"] = params  # non-default recipe parameters: not the published test set
    with atomic_write(folder / "manifest.json") as manifest_out, atomic_write(folder / "test.jsonl", "wb") as data_out:
        data_out.write(payload)
        json.dump(manifest, manifest_out, indent=2, ensure_ascii=False)
        manifest_out.write("\n")
    return BuildResult(task, len(records), digest, "built", folder / "test.jsonl")


@contextlib.contextmanager
def _terminate_as_interrupt():
    """Turn SIGTERM into KeyboardInterrupt while building, so temporary files are removed."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _task_ids(tasks) -> list[str]:
    if tasks is None:
        return list(TASK_IDS)
    if isinstance(tasks, str):
        tasks = [tasks]
    ids: list[str] = []
    for item in tasks:
        for part in str(item).split(","):
            if part.strip() and part.strip().lower() != "all":
                ids.append(task_info(part).id)
            elif part.strip().lower() == "all":
                ids.extend(TASK_IDS)
    return list(dict.fromkeys(ids)) or list(TASK_IDS)


def build(
    tasks=None,
    raw_dir: Path | None = None,
    out_dir: Path | None = None,
    allow_unverified: bool = False,
    skip_missing: bool = False,
    progress: bool = False,
    registry: dict[str, Source] | None = None,
    params: dict[str, dict] | None = None,
) -> list[BuildResult]:
    """Build the test sets of ``tasks`` (ids, comma lists or None for every registered task).

    ``params`` passes non-default recipe parameters (``{"medisumcode": {"n": 50}}``, for tests and
    demos); they are recorded in the manifest.
    """
    raw_dir = Path(raw_dir) if raw_dir is not None else default_raw_dir()
    out_dir = Path(out_dir) if out_dir is not None else data_dir()
    registry = registry or load_registry()
    task_ids = _task_ids(tasks)

    plan, results = [], []
    for task in task_ids:
        module = recipe(task)
        missing = [registry[name] for name in module.SOURCES if registry[name].locate(raw_dir) is None]
        if missing and not skip_missing:
            more = f" (also missing: {', '.join(s.path for s in missing[1:])})" if len(missing) > 1 else ""
            raise NotReadyError(f"{task}: {missing[0].missing_message(raw_dir)}{more}; or use --skip-missing")
        if missing:
            results.append(BuildResult(task, None, None, f"skipped: {missing[0].path} missing"))
        else:
            plan.append((task, module))

    with _terminate_as_interrupt():
        for task, module in plan:
            inputs = Inputs(raw_dir, registry, allow_unverified)
            task_params = (params or {}).get(task) or {}
            records = module.build(inputs, progress=progress, **task_params)
            results.append(write_outputs(task, module, records, inputs, out_dir, task_params))
    order = {t: i for i, t in enumerate(task_ids)}
    return sorted(results, key=lambda r: order[r.task])
