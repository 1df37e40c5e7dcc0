"""Prompt protocols: the upstream prompt text (fetched, pinned) plus the behaviour table of each protocol.

``load_protocol(name)`` reads ``protocol/<name>.json`` (written by ``clue protocol fetch``) and joins
it with ``clue.protocol.settings`` into one :class:`Protocol` that task modules consult.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from clue.errors import InputError, NotReadyError
from clue.io import read_json
from clue.paths import protocol_dir as default_protocol_dir
from clue.protocol.settings import ProtocolSettings, settings_for
from clue.taskinfo import TASK_IDS

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

    def identity(self) -> dict:
        """What a run manifest records about the protocol."""
        keys = ("name", "commit", "date", "source", "files", "pins_overridden", "fetched_at")
        return {k: self.provenance.get(k) for k in keys} | {"notes": list(self.settings.notes)}


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
    provenance = {k: v for k, v in document.items() if k != "tasks"}
    return Protocol(name=name, settings=settings, prompts=tasks, provenance=provenance, path=path)
