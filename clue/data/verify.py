"""``clue data verify`` and ``clue data status``.

``verify`` recomputes the sha256 of every built ``data/<task>/test.jsonl`` and compares it with
``data_recipes/fingerprints.lock``: the expected hash and row count of each published test set. A
hash reveals nothing of the data, so the lock file can be public. It holds an entry only where a
maintainer could compute it honestly (see the file's ``_comment``); other tasks show "no published
fingerprint".

``status`` says which raw sources are present and whether they match their expected sha256, and
which test sets are built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from clue.data.build import cached_sha256, expected_sha256
from clue.data.recipes import recipe
from clue.data.sources import load_registry
from clue.errors import ClueError, InputError
from clue.io import os_error_message, read_json, sha256_file
from clue.paths import data_dir, raw_dir as default_raw_dir, recipes_dir
from clue.taskinfo import TASK_IDS

MATCHES = "matches"
DIFFERS = "differs"
NO_FINGERPRINT = "no published fingerprint"
NOT_BUILT = "not built"
MODIFIED = "modified since build"


def load_lock(path: Path | None = None) -> dict[str, dict]:
    """task -> {"sha256", "rows", "recipe_version"} from ``fingerprints.lock`` (missing file: empty)."""
    path = Path(path) if path is not None else recipes_dir() / "fingerprints.lock"
    if not path.exists():
        return {}
    lock = read_json(path)
    entries = lock.get("fingerprints") if isinstance(lock, dict) else None
    if not isinstance(entries, dict):
        raise InputError(f"{path}: expected an object with a 'fingerprints' object (task -> sha256, rows)")
    for task, entry in entries.items():
        if task not in TASK_IDS or not isinstance(entry, dict) or len(str(entry.get("sha256", ""))) != 64:
            raise InputError(f"{path}: fingerprint {task!r}: expected a task id with a 64-hex 'sha256' and 'rows'")
    return entries


@dataclass
class VerifyRow:
    task: str
    rows: int | None
    fingerprint: str | None
    status: str
    expected: str | None = None

    @property
    def failed(self) -> bool:
        return self.status in (DIFFERS, MODIFIED)


def _count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for line in handle if line.strip())


def verify(out_dir: Path | None = None, lock_path: Path | None = None, tasks=None) -> list[VerifyRow]:
    """One row per task: recomputed fingerprint and its status against the lock file."""
    out_dir = Path(out_dir) if out_dir is not None else data_dir()
    lock = load_lock(lock_path)
    rows = []
    for task in tasks or TASK_IDS:
        test = out_dir / task / "test.jsonl"
        if not test.exists():
            rows.append(VerifyRow(task, None, None, NOT_BUILT))
            continue
        digest = sha256_file(test)
        count = _count_lines(test)
        manifest_path = out_dir / task / "manifest.json"
        manifest = read_json(manifest_path) if manifest_path.exists() else {}
        expected = lock.get(task)
        if manifest.get("sha256") not in (None, digest):
            status = MODIFIED
        elif expected is None:
            status = NO_FINGERPRINT
        elif expected["sha256"] == digest and expected.get("rows", count) == count:
            status = MATCHES
        else:
            status = DIFFERS
        rows.append(VerifyRow(task, count, digest, status, expected["sha256"] if expected else None))
    return rows


@dataclass
class SourceStatus:
    name: str
    tasks: tuple[str, ...]
    path: str
    state: str   # "verified", "sha256 differs", "present, unverified (<why>)", "missing"
    provider: str


@dataclass
class SetStatus:
    task: str
    rows: int | None
    built_at: str | None
    fingerprint: str | None
    recipe_version: str | None
    current: bool  # built with the current recipe version


def status(raw_dir: Path | None = None, out_dir: Path | None = None) -> tuple[list[SourceStatus], list[SetStatus]]:
    raw_dir = Path(raw_dir) if raw_dir is not None else default_raw_dir()
    out_dir = Path(out_dir) if out_dir is not None else data_dir()
    sources = []
    for source in load_registry().values():
        provider = (f"PhysioNet {source.project} {source.version} (credentialed): {source.url}"
                    if source.credentialed else source.url)
        found = source.locate(raw_dir)
        if found is None:
            sources.append(SourceStatus(source.name, source.tasks, source.path, "missing", provider))
            continue
        files = [found]
        if found.is_dir() and source.is_folder:
            from clue.data.recipes.medisumqa import release_files

            files = release_files(found)
        states = []
        for path in files:
            try:
                expected, origin = expected_sha256(source, path)
                if expected is None:
                    states.append(f"present, unverified ({origin})")
                else:
                    same = cached_sha256(path, raw_dir) == expected
                    states.append("verified" if same else f"sha256 differs from {origin}")
            except OSError as exc:
                states.append(f"unreadable: {os_error_message(path, exc, f'the {source.name} file')}")
            except ClueError as exc:
                states.append(f"unusable: {exc}")
        state = states[0] if len(set(states)) == 1 else "; ".join(states) if states else "present, empty folder"
        sources.append(SourceStatus(source.name, source.tasks, str(found), state, provider))
    sets = []
    for task in TASK_IDS:
        manifest_path = out_dir / task / "manifest.json"
        if not manifest_path.exists():
            sets.append(SetStatus(task, None, None, None, None, False))
            continue
        manifest = read_json(manifest_path)
        version = manifest.get("recipe_version")
        sets.append(SetStatus(task, manifest.get("rows"), manifest.get("built_at"), manifest.get("sha256"),
                              version, version == recipe(task).VERSION))
    return sources, sets
