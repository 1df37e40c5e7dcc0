"""Helpers for the report tests: write small runs in the layout of docs/INTERNALS.md ("Runs").

A run is written from per-item scores (``write_task``) exactly as the runner stores it:
predictions.jsonl with one line per scored prompt and scores.json with the protocol aggregate
(first item counted twice except LongHealth, as in the ``paper`` protocol) and the plain mean.
``write_scores`` writes a scores.json with hand-picked numbers for cell-by-cell table checks.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from clue.taskinfo import TASKS, task_info

PAPER_AVERAGING = {t.id: ("plain" if t.id == "longhealth" else "first-item-twice") for t in TASKS}


def _mean(values: list[float], averaging: str) -> float:
    if averaging == "first-item-twice":
        values = [values[0], *values]
    return 100.0 * sum(values) / len(values)


def write_manifest(run_dir: Path, models: list[str]) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "manifest.json").write_text(json.dumps({"kit_version": "test", "protocol": "paper", "models": models}))


def write_task(run_dir: Path, model: str, task_id: str, items: list[dict], missing: tuple[str, ...] = ()) -> dict:
    """Write predictions.jsonl and scores.json of one task from items ``{"id", "scores", ["subtask"]}``."""
    folder = run_dir / model.replace("/", "__") / task_id
    folder.mkdir(parents=True, exist_ok=True)
    averaging = PAPER_AVERAGING[task_id]
    with open(folder / "predictions.jsonl", "w", encoding="utf-8") as handle:
        for item in items:
            line = {"id": item["id"], "prompt_hash": "0" * 8, "completion": "…", "reference": "…", "scores": item["scores"]}
            if "subtask" in item:
                line["subtask"] = item["subtask"]
            handle.write(json.dumps(line) + "\n")
    values: dict[str, list[float]] = {}
    for item in items:
        for metric, value in item["scores"].items():
            values.setdefault(metric, []).append(value)
    scores = {
        "task": task_id, "model": model, "protocol": "paper", "n_items": len(items),
        "metrics": {m: _mean(v, averaging) for m, v in values.items()},
        "metrics_plain": {m: _mean(v, "plain") for m, v in values.items()},
        "averaging": averaging, "missing_metrics": list(missing),
        "n_items_by_metric": {m: len(v) for m, v in values.items()}, "details": {},
    }
    (folder / "scores.json").write_text(json.dumps(scores, indent=2))
    return scores


def write_scores(run_dir: Path, model: str, task_id: str, metrics: dict[str, float],
                 plain: dict[str, float] | None = None, missing: tuple[str, ...] = ()) -> None:
    """A scores.json with the given numbers (percent) and no predictions."""
    folder = run_dir / model.replace("/", "__") / task_id
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"task": task_id, "model": model, "protocol": "paper", "n_items": 10, "metrics": metrics,
           "metrics_plain": plain if plain is not None else metrics, "averaging": PAPER_AVERAGING[task_id],
           "missing_metrics": list(missing), "n_items_by_metric": {}, "details": {}}
    (folder / "scores.json").write_text(json.dumps(doc))


def synth_items(task_id: str, n: int, rng: np.random.Generator, quality: float = 0.5) -> list[dict]:
    """Plausible per-item scores for a task: 0/1 for accuracies, values in [0, 1] otherwise."""
    task = task_info(task_id)
    if task_id == "longhealth":
        return [{"id": f"patient_{i // 5:02d}/q{i % 5}", "subtask": sub,
                 "scores": {f"task{sub}": int(rng.random() < quality)}}
                for sub in (1, 2, 3) for i in range(n)]
    items = []
    for i in range(n):
        scores = {}
        for metric in task.metrics:
            if metric == "accuracy":
                scores[metric] = int(rng.random() < quality)
            else:
                scores[metric] = float(np.clip(rng.normal(quality, 0.15), 0, 1))
        items.append({"id": f"{task_id}-{i:04d}", "scores": scores})
    return items


def write_synthetic_run(run_dir: Path, models: dict[str, float], n: int = 60, seed: int = 0,
                        skip: dict[str, tuple[str, ...]] | None = None) -> None:
    """Every task for each model (``{model: quality}``); ``skip`` leaves tasks out per model."""
    rng = np.random.default_rng(seed)
    write_manifest(run_dir, list(models))
    for model, quality in models.items():
        for task in TASKS:
            if task.id in (skip or {}).get(model, ()):
                continue
            write_task(run_dir, model, task.id, synth_items(task.id, n, rng, quality))
