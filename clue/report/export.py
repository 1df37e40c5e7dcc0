"""`clue export RUN --shareable OUT`: everything needed to recompute a run's tables, without a byte of
credentialed text.

The export mirrors the run's layout, so ``clue tables`` (and ``--ci``, ``compare-pairs``) read it as a
run, and ``clue verify --export`` checks its arithmetic:

```
OUT/export.json                     what this is, the licence of each task, the sha256 of every file
OUT/manifest.json                   the run's manifest (provenance: kit, protocol, model, settings, hardware)
OUT/fingerprints.json               per task: the test set's sha256 and rows, and its status against the lock
OUT/<model_dir>/<task>/scores.json  as the run wrote it (credentialed tasks: ``details`` without text values)
OUT/<model_dir>/<task>/predictions.jsonl
                                    per item: id, prompt_hash, completion_sha256, output_sha256, scores
                                    (+ subtask, truncated_tokens); for public tasks also completion, output
```

Items of PhysioNet-credentialed tasks (``clue.taskinfo``: licence ``physionet``) keep only their id,
hashes and scores: no completion (a model's completion may quote the note), no reference, no prompt.
The store (``store.sqlite``, which holds the rendered prompts) is never exported.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from clue import __version__
from clue.errors import InputError
from clue.io import create_temp_folder, read_json, sha256_file, sha256_text, write_json, write_jsonl
from clue.records import manifest_document
from clue.report.runs import model_dirs, read_predictions, resolve_run_dir
from clue.taskinfo import TASKS

EXPORT_FORMAT = "clue-shareable-export"
EXPORT_VERSION = 1
# Per-item fields copied as they are (no text): everything else is dropped or replaced by a hash.
ITEM_FIELDS = ("id", "prompt_hash", "scores", "subtask", "truncated_tokens")
HASHED_TEXT = ("completion", "output")        # -> <field>_sha256 for every task; the text itself for public ones
PUBLIC_TEXT = ("completion", "output")


def _item(line: dict, public: bool) -> dict:
    out = {key: line[key] for key in ITEM_FIELDS if key in line}
    for key in HASHED_TEXT:
        if isinstance(line.get(key), str):
            out[f"{key}_sha256"] = sha256_text(line[key])
    if public:
        out.update({key: line[key] for key in PUBLIC_TEXT if isinstance(line.get(key), str)})
    return out


def _numbers_only(value):
    """``details`` of a credentialed task's scores.json without any text value (numbers, booleans and
    the keys are kept): whatever a task may note there, no string of it leaves."""
    if isinstance(value, dict):
        kept = {k: _numbers_only(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v is not None}
    if isinstance(value, list):
        kept = [_numbers_only(v) for v in value]
        return [v for v in kept if v is not None]
    if isinstance(value, (bool, int, float)):
        return value
    return None


def fingerprints(manifest: dict) -> dict[str, dict]:
    """Per task, the dataset fingerprint each model of the run used and its status against the lock."""
    from clue.data.verify import DIFFERS, MATCHES, NO_FINGERPRINT, load_lock

    lock = load_lock()
    found: dict[str, dict] = {}
    for model_dir, entry in sorted((manifest.get("models") or {}).items()):
        for task, dataset in sorted((entry.get("datasets") or {}).items()):
            digest = dataset.get("sha256")
            expected = (lock.get(task) or {}).get("sha256")
            status = NO_FINGERPRINT if not expected else (MATCHES if expected == digest else DIFFERS)
            record = {"sha256": digest, "rows": dataset.get("rows"), "recipe_version": dataset.get("recipe_version"),
                      "lock": status, "expected": expected}
            previous = found.setdefault(task, record)
            if previous["sha256"] != digest:
                previous.setdefault("other_sha256", {})[model_dir] = digest
    return found


def export_run(run: str | Path, out: str | Path) -> Path:
    """Write the shareable export of ``run`` to the new folder ``out`` (refused if it exists)."""
    run_dir = resolve_run_dir(run)
    out = Path(out)
    if out.exists():
        raise InputError(f"{out}: already exists; the export is written to a new folder")
    directories = model_dirs(run_dir)
    if not directories:
        raise InputError(f"{run_dir}: no <model>/<task>/scores.json found; is this a run folder?")
    manifest_path = run_dir / "manifest.json"
    manifest = manifest_document(manifest_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = create_temp_folder(out.parent, prefix=f".{out.name}.")
    try:
        counts: dict[str, dict[str, int]] = {}
        for directory in directories:
            for task in TASKS:
                source = directory / task.id
                if not (source / "scores.json").is_file():
                    continue
                target = staging / directory.name / task.id
                target.mkdir(parents=True, exist_ok=True)
                if task.licence == "public":
                    shutil.copyfile(source / "scores.json", target / "scores.json")
                else:
                    scores = read_json(source / "scores.json")
                    if isinstance(scores, dict) and "details" in scores:
                        scores["details"] = _numbers_only(scores["details"]) or {}
                    write_json(target / "scores.json", scores)
                predictions = source / "predictions.jsonl"
                if predictions.is_file():
                    items = [_item(line, task.licence == "public") for line in read_predictions(predictions)]
                    write_jsonl(target / "predictions.jsonl", items)
                    counts.setdefault(directory.name, {})[task.id] = len(items)
        if manifest:
            write_json(staging / "manifest.json", manifest)
        write_json(staging / "fingerprints.json", fingerprints(manifest))
        files = {path.relative_to(staging).as_posix(): sha256_file(path)
                 for path in sorted(staging.rglob("*")) if path.is_file()}
        write_json(staging / "export.json", {
            "format": EXPORT_FORMAT, "version": EXPORT_VERSION, "run": run_dir.name,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "kit_version": __version__,
            "licences": {t.id: t.licence for t in TASKS},
            "text_included": {t.id: list(PUBLIC_TEXT) if t.licence == "public" else [] for t in TASKS},
            "items": counts, "files": files})
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out


def is_export(path: Path) -> bool:
    return (Path(path) / "export.json").is_file()


def check_export(export_dir: Path) -> tuple[int, list[str]]:
    """The export's own integrity: every listed file present with its sha256, no file unlisted, and
    each public completion/output equal to its hash. Returns (checks made, problems)."""
    export_dir = Path(export_dir)
    meta = read_json(export_dir / "export.json")
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT:
        raise InputError(f"{export_dir / 'export.json'}: expected field 'format' = {EXPORT_FORMAT!r}")
    listed = meta.get("files")
    if not isinstance(listed, dict):
        raise InputError(f"{export_dir / 'export.json'}: field 'files' is missing or not an object")
    checked, problems = 0, []
    present = {p.relative_to(export_dir).as_posix() for p in export_dir.rglob("*") if p.is_file()} - {"export.json"}
    for name in sorted(set(listed) | present):
        checked += 1
        if name not in present:
            problems.append(f"{name}: listed in export.json but absent")
        elif name not in listed:
            problems.append(f"{name}: present but not listed in export.json")
        elif sha256_file(export_dir / name) != listed[name]:
            problems.append(f"{name}: sha256 differs from export.json")
    for name in sorted(present):
        if not name.endswith("predictions.jsonl"):
            continue
        for line in read_predictions(export_dir / name):
            for key in PUBLIC_TEXT:
                if key in line:
                    checked += 1
                    if sha256_text(line[key]) != line.get(f"{key}_sha256"):
                        problems.append(f"{name}: item {line['id']}: {key} does not match {key}_sha256")
    return checked, problems


def verify_export(export_dir: str | Path, tables: Path | None = None):
    """`clue verify --export`: the export's integrity (:func:`check_export`), then the arithmetic from
    its per-item scores to every scores.json (and, with ``tables``, to CSV tables), as ``clue verify``
    does for a run; re-scoring needs the completions and test sets, so it is not attempted."""
    from clue.report.verify import Difference, verify_run

    export_dir = resolve_run_dir(export_dir)
    if not is_export(export_dir):
        raise InputError(f"{export_dir}: no export.json; --export expects a folder written by clue export --shareable")
    checked, problems = check_export(export_dir)
    report = verify_run(export_dir, rescore=False, tables=tables)
    report.skipped = [s for s in report.skipped if not s.startswith("re-scoring")]
    report.skipped.append("re-scoring: an export holds no test sets and no credentialed completions")
    report.checked += checked
    report.differences += [Difference(str(export_dir / "export.json"), problem, "listed", "found") for problem in problems]
    return report
