"""Prompt protocols: the upstream prompt text (fetched, pinned) plus the behaviour table of each protocol.

``load_protocol(name)`` reads ``protocol/<name>.json`` (written by ``clue protocol fetch``) and joins
it with ``clue.protocol.settings`` into one :class:`Protocol` that task modules consult.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from clue.errors import InputError, NotReadyError
from clue.io import read_json
from clue.paths import protocol_dir as default_protocol_dir
from clue.protocol.settings import ProtocolSettings, settings_for
from clue.taskinfo import TASK_IDS, task_info

DEFAULT_PROTOCOL = "paper"


@dataclass(frozen=True)
class Protocol:
    name: str
    settings: ProtocolSettings
    prompts: dict            # task_id -> {"sys_prompt", "user_prompt_template", ...} as extracted upstream
    provenance: dict         # name, commit, date, source, files {path: sha256}, fetched_at, pins_overridden
    path: Path | None = None

    def task_prompts(self, task_id: str) -> dict:
        return self.prompts[task_id]

    check: dict | None = None  # {"status": "unmodified" | "modified", "reason"}: see check_prompts

    @property
    def modified(self) -> bool:
        return bool(self.check) and self.check.get("status") != UNMODIFIED

    def prompts_sha256(self, task_id: str) -> str:
        """sha256 of the canonical JSON of the prompt constants this protocol gives ``task_id``."""
        from clue.protocol.fetch import prompts_digest

        return prompts_digest(self.prompts[task_id])

    def identity(self) -> dict:
        """What a run manifest records about the protocol."""
        keys = ("name", "commit", "date", "source", "files", "pins_overridden", "fetched_at")
        return ({k: self.provenance.get(k) for k in keys} | {"notes": list(self.settings.notes)}
                | {"prompts_check": self.check, "prompts_sha256": {t: self.prompts_sha256(t) for t in self.prompts}})


def load_protocol(name: str = DEFAULT_PROTOCOL, protocol_dir: str | os.PathLike | None = None) -> Protocol:
    settings = settings_for(name)
    path = Path(protocol_dir or default_protocol_dir()) / f"{name}.json"
    if not path.exists():
        raise NotReadyError(f"{path}: protocol {name!r} is not fetched; run `clue protocol fetch --protocol {name}`")
    document = read_json(path)
    tasks = document.get("tasks") if isinstance(document, dict) else None
    if not isinstance(tasks, dict):
        raise InputError(f"{path}: expected an object with a 'tasks' field; re-run `clue protocol fetch --protocol {name}`")
    if document.get("name") != name:
        raise InputError(f"{path}: holds protocol {document.get('name')!r}, expected {name!r}")
    for task_id in TASK_IDS:
        if task_id not in tasks:
            raise InputError(f"{path}: task {task_id!r} missing; re-run `clue protocol fetch --protocol {name}`")
    for task_id in TASK_IDS:
        _check_fields(path, name, task_id, tasks[task_id])
    provenance = {k: v for k, v in document.items() if k != "tasks"}
    return Protocol(name=name, settings=settings, prompts=tasks, provenance=provenance, path=path,
                    check=check_prompts(path, document))


UNMODIFIED = "unmodified"
MODIFIED = "modified"


def _check_fields(path: Path, name: str, task_id: str, entry) -> None:
    """The prompt constants a task reads are there and are text (max_new_tokens a number)."""
    if not isinstance(entry, dict):
        raise InputError(f"{path}: task {task_id!r}: expected an object of prompt constants, "
                         f"found {type(entry).__name__}; re-run `clue protocol fetch --protocol {name}`")
    for field in task_info(task_id).prompt_fields:
        if not isinstance(entry.get(field), str):
            found = "missing" if field not in entry else f"of type {type(entry[field]).__name__}"
            raise InputError(f"{path}: task {task_id!r}: field {field!r} is {found}, expected text; "
                             f"re-run `clue protocol fetch --protocol {name}`")
    limit = entry.get("max_new_tokens")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise InputError(f"{path}: task {task_id!r}: max_new_tokens {limit!r}, expected a positive whole number")


def check_prompts(path: Path, document: dict) -> dict:
    """Do the prompts in ``document`` equal those read again from the upstream files they came from?

    ``clue protocol fetch`` keeps the checked upstream files beside the JSON (``<name>.upstream/``).
    Each is hashed again and compared with the kit's pin (``pins.json``, part of the kit, not of the
    JSON; only a fetch with overridden pins is compared with the hashes the JSON records), and its
    constants are extracted again and compared with the JSON's task entry, field by field. Editing a
    prompt, the recorded hashes or the copies therefore cannot go unnoticed.
    """
    from clue.protocol.fetch import load_pins, pinned, task_constants

    name = document.get("name")
    try:
        expected = dict(document.get("files") or {}) if document.get("pins_overridden") else pinned(name)["files"]
    except InputError:
        expected = dict(document.get("files") or {})
    copy = path.parent / str(document.get("upstream_copy") or f"{name}.upstream")
    problems = []
    for task_id, relpath in load_pins()["task_files"].items():
        upstream = copy / relpath
        try:
            data = upstream.read_bytes()
        except OSError:
            problems.append(f"no copy of the upstream file {upstream} to compare with (protocols fetched "
                            f"by an older kit lack it: run `clue protocol fetch --protocol {name}` again)")
            break
        if hashlib.sha256(data).hexdigest() != expected.get(relpath):
            problems.append(f"{upstream} differs from the pinned sha256")
            continue
        try:
            fresh = {"file": relpath, **task_constants(task_id, data, str(upstream))}
        except InputError as exc:
            problems.append(str(exc))
            continue
        entry = document["tasks"].get(task_id, {})
        changed = sorted(k for k in set(fresh) | set(entry) if fresh.get(k) != entry.get(k))
        if changed:
            problems.append(f"task {task_id}: {', '.join(changed)} differ from {relpath}")
    if problems:
        return {"status": MODIFIED, "reason": "; ".join(problems)}
    return {"status": UNMODIFIED, "reason": f"every prompt equals the one read again from {copy}"}
