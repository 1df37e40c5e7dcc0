"""Run records: the files of a run folder as versioned dataclasses, written and read here only.

``results/<run>/manifest.json`` is a :class:`RunManifest` (one :class:`ModelEntry` per model folder),
``<model_dir>/<task>/scores.json`` a :class:`TaskScores`, each line of ``predictions.jsonl`` a
:class:`PredictionRow` (shapes: docs/INTERNALS.md, "Runs"). Writers give the bytes earlier kits
wrote (same keys, same order, same JSON layout); readers accept files of earlier kits (a key they
lack takes its default) and refuse a newer schema than this kit knows with a one-line error.

Keys a record holds only at some stages (a running entry has no ``tasks`` yet, a chat-API run's
scores add ``prompt_path``) are :data:`UNSET` until set and are then left out of the file; keys this
kit does not know are kept in ``extra`` and written back after the known ones.

Also here: :func:`summarise`, the one rule for task, level and overall scores, and
:func:`resolve_run_dir`, the one way a command finds a run folder from what the user typed.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from clue.errors import InputError
from clue.io import dumps_jsonl, read_json, read_jsonl_numbered, write_json, write_jsonl
from clue.paths import results_dir
from clue.taskinfo import TASKS

MANIFEST_VERSION = 1    # manifest.json's ``manifest_version``
SCORES_VERSION = 1      # scores.json and predictions.jsonl: implied (no field); a newer file says ``schema_version``


class _Unset:
    """Marks a key the file does not hold (``None`` is a value: it is written as ``null``)."""

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


def _known(cls) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name != "extra")


def _from_dict(cls, doc: dict, where: str):
    if not isinstance(doc, dict):
        raise InputError(f"{where}: expected a JSON object")
    names = _known(cls)
    return cls(**{k: v for k, v in doc.items() if k in names},
               extra={k: v for k, v in doc.items() if k not in names})


def _to_dict(record) -> dict:
    out = {name: getattr(record, name) for name in _known(type(record))}
    out = {k: v for k, v in out.items() if v is not UNSET}
    return {**out, **record.extra}


def _versioned(cls, doc: Any, where: str):
    """A scores.json or predictions.jsonl record (their version is implied; a newer file says ``schema_version``)."""
    if isinstance(doc, dict):
        _check_version(doc.get("schema_version", UNSET), SCORES_VERSION, where, "schema_version")
    return _from_dict(cls, doc, where)


def _check_version(value: Any, known: int, where: str, key: str) -> None:
    if value is UNSET or value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(f"{where}: {key} {value!r}: expected a whole number (this kit reads up to {known})")
    if value > known:
        raise InputError(f"{where}: {key} {value!r} is newer than this kit reads ({known}); update the kit")


# ------------------------------------------------------------------------- manifest.json

@dataclass
class ModelEntry:
    """One model of a run (``manifest.json`` ``models.<model_dir>``), in the order the runner writes it."""

    options: dict = field(default_factory=dict)          # EvalOptions as recorded (paths resolved, no progress)
    identity: dict = field(default_factory=dict)         # the backend's identity: the store key's model part
    backend_settings: Any = UNSET
    model_info: Any = UNSET
    layout: Any = UNSET
    model_family: Any = UNSET                            # {"option", "resolved", "rule"}
    overlong: Any = UNSET                                # {"rule", "meaning"}
    seed: Any = UNSET
    greedy: Any = UNSET
    task_ids: list = field(default_factory=list)
    datasets: dict = field(default_factory=dict)         # task -> dataset fingerprint (sha256, recipe, rows …)
    prompts_sha256: dict = field(default_factory=dict)   # task -> sha256 of the prompt constants used
    protocol_modified: Any = UNSET
    started_at: Any = UNSET
    endpoint: Any = UNSET                                # served models: {"scope", "allow_remote_endpoint"}
    tasks: Any = UNSET                                   # task -> {decoding, n_requests, generated, …}
    status: Any = UNSET                                  # "running" | "complete"
    timings: Any = UNSET
    finished_at: Any = UNSET
    metrics: Any = UNSET                                 # MetricResources.describe(), or null
    sweep: Any = UNSET                                   # added when `clue sweep` merges a worker's run
    rescored_at: Any = UNSET                             # added by `clue score`
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, doc: dict, where: str = "manifest.json entry") -> ModelEntry:
        return _from_dict(cls, doc, where)

    def to_dict(self) -> dict:
        return _to_dict(self)

    def with_status(self, status: str) -> ModelEntry:
        """A copy with ``status`` set (the runner's "running" write keeps the entry itself without it)."""
        return replace(self, status=status)


@dataclass
class RunManifest:
    """``results/<run>/manifest.json``: run-wide provenance and one entry per model folder."""

    manifest_version: int = MANIFEST_VERSION
    models: dict[str, ModelEntry] = field(default_factory=dict)
    kit: Any = UNSET
    packages: Any = UNSET
    hardware: Any = UNSET
    protocol: Any = UNSET
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, doc: Any, where: str = "manifest.json") -> RunManifest:
        if not isinstance(doc, dict) or not isinstance(doc.get("models", {}), (dict, type(None))):
            raise InputError(f"{where}: expected an object with a 'models' object (written by `clue evaluate`)")
        _check_version(doc.get("manifest_version", UNSET), MANIFEST_VERSION, where, "manifest_version")
        manifest = _from_dict(cls, {**doc, "models": {}}, where)
        manifest.models = {key: ModelEntry.from_dict(entry, f"{where}: models.{key}")
                           for key, entry in (doc.get("models") or {}).items()}
        return manifest

    def to_dict(self) -> dict:
        out = _to_dict(self)
        out["models"] = {key: entry.to_dict() for key, entry in self.models.items()}
        return out

    def update_common(self, common: dict) -> None:
        """Set run-wide keys (kit, packages, hardware, protocol, or others kept in ``extra``)."""
        for key, value in common.items():
            if key in _known(RunManifest):
                setattr(self, key, value)
            else:
                self.extra[key] = value


def read_manifest(path: str | os.PathLike) -> RunManifest:
    """A run's manifest.json (InputError naming the file when it is not one)."""
    return RunManifest.from_dict(read_json(path), str(path))


def manifest_document(path: str | os.PathLike) -> dict:
    """A run's manifest as plain data for reports (read and checked here); ``{}`` when the file is absent."""
    return read_manifest(path).to_dict() if Path(path).is_file() else {}


def write_manifest(path: str | os.PathLike, manifest: RunManifest) -> None:
    """Write atomically, credential values scrubbed (``clue.manifest.scrub``), as ``clue.io.write_json`` lays out."""
    from clue.manifest import scrub

    text = scrub(json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False))
    write_json(path, json.loads(text))


def record_model(run_dir: Path, model_key: str, entry: ModelEntry, common: dict) -> None:
    """Put one model's entry (and run-wide keys) into ``run_dir/manifest.json``, creating it when absent."""
    path = run_dir / "manifest.json"
    if path.exists():
        try:
            manifest = read_manifest(path)
        except InputError as error:
            raise InputError(f"{error}; move it away to start the run's record afresh") from None
    else:
        manifest = RunManifest()
    manifest.update_common(common)
    manifest.models[model_key] = entry
    write_manifest(path, manifest)


# ------------------------------------------------------------------------- scores.json

@dataclass
class TaskScores:
    """``<model_dir>/<task>/scores.json``: the header of the run, then the task's numbers."""

    model: Any = None
    revision: Any = None
    protocol: Any = None
    layout: Any = None
    overlong: Any = UNSET                 # the --overlong rule (kits before it wrote none)
    prompt_path: Any = UNSET              # only when prompts were not the kit's rendered strings (--api chat)
    task: Any = None
    n_items: Any = None
    metrics: Any = None                              # percent, the protocol's aggregate
    metrics_plain: Any = None                        # percent, the plain mean
    averaging: Any = None
    missing_metrics: list = field(default_factory=list)
    n_items_by_metric: dict = field(default_factory=dict)
    truncated_prompts: int = 0
    empty_outputs: int = 0
    details: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, doc: Any, where: str = "scores.json") -> TaskScores:
        return _versioned(cls, doc, where)

    def to_dict(self) -> dict:
        return _to_dict(self)


def read_scores(path: str | os.PathLike) -> TaskScores:
    return TaskScores.from_dict(read_json(path), str(path))


def write_scores(path: str | os.PathLike, scores: TaskScores) -> None:
    write_json(path, scores.to_dict())


# ------------------------------------------------------------------------- predictions.jsonl

@dataclass
class PredictionRow:
    """One scored prompt: what was asked (hash), answered and scored; the task's item fields in ``extra``
    (``reference``, ``scores``, LongHealth's ``subtask`` …, in the order the task's scorer gave them)."""

    id: Any = None
    prompt_hash: Any = UNSET
    completion: Any = UNSET
    output: Any = UNSET
    extra: dict = field(default_factory=dict)
    truncated_tokens: Any = UNSET         # prompts cut from the left only

    @classmethod
    def from_dict(cls, doc: Any, where: str = "predictions.jsonl") -> PredictionRow:
        return _versioned(cls, doc, where)

    def to_dict(self) -> dict:
        head = {k: getattr(self, k) for k in ("id", "prompt_hash", "completion", "output")}
        out = {**{k: v for k, v in head.items() if v is not UNSET}, **self.extra}
        if self.truncated_tokens is not UNSET:
            out["truncated_tokens"] = self.truncated_tokens
        return out

    @property
    def scores(self) -> dict:
        return self.extra.get("scores") or {}


def read_predictions(path: str | os.PathLike) -> list[PredictionRow]:
    """Every line of a predictions.jsonl, each with an ``id`` and a ``scores`` object."""
    rows = []
    for number, record in read_jsonl_numbered(path):
        if "id" not in record or not isinstance(record.get("scores"), dict):
            raise InputError(f"{path}: line {number}: expected fields 'id' and 'scores' (an object)")
        rows.append(PredictionRow.from_dict(record, f"{path}: line {number}"))
    return rows


def write_predictions(path: str | os.PathLike, rows: list[PredictionRow]) -> int:
    return write_jsonl(path, (row.to_dict() for row in rows))


def prediction_line(row: PredictionRow) -> str:
    """The line ``write_predictions`` writes for ``row`` (without the newline)."""
    return dumps_jsonl(row.to_dict())


# ------------------------------------------------------------------------- scores and run folders

def _mean_or_none(values: list[Any]) -> Any:
    if not values or any(v is None for v in values):
        return None
    return sum(values) / len(values)


def summarise(metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Task scores (keyed by task id), ``level1``, ``level2`` and ``overall`` from reported metric cells.

    ``metrics``: task id -> metric -> value (float, numpy array of bootstrap replicates, or None). A task
    score is the unweighted mean of the task's reported metrics; a level the mean of its tasks' scores;
    overall the mean of the two levels; any missing part leaves the result ``None``.
    """
    out: dict[str, Any] = {}
    for task in TASKS:
        cells = metrics.get(task.id)
        out[task.id] = None if cells is None else _mean_or_none([cells.get(m) for m in task.metrics])
    for level in (1, 2):
        out[f"level{level}"] = _mean_or_none([out[t.id] for t in TASKS if t.level == level])
    out["overall"] = _mean_or_none([out["level1"], out["level2"]])
    return out


def resolve_run_dir(run: str | os.PathLike) -> Path:
    """A run folder given as a path or as a name under the results folder (``CLUE_RESULTS``).

    Of the two places, one holding a manifest.json wins; else the first that is a folder (exports and
    copies of model folders are read without a manifest; commands that need one say so themselves).
    """
    path = Path(run)
    candidates = [path, results_dir() / str(run)]
    for candidate in candidates:
        if (candidate / "manifest.json").is_file():
            return candidate
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise InputError(f"{run}: no such run folder (looked at {path} and {candidates[1]})")


__all__ = ["MANIFEST_VERSION", "SCORES_VERSION", "UNSET", "ModelEntry", "RunManifest", "TaskScores",
           "PredictionRow", "read_manifest", "manifest_document", "write_manifest", "record_model", "read_scores", "write_scores",
           "read_predictions", "write_predictions", "prediction_line", "summarise", "resolve_run_dir"]
